/* Stage-1 MMU with a 64K granule: see mmu_suite.c. */
#define GSHIFT 16
#include "mmu_suite.c"
