/* Stage-1 MMU with a 4K granule: see mmu_suite.c. */
#define GSHIFT 12
#include "mmu_suite.c"
