/* Stage-1 MMU with a 16K granule: see mmu_suite.c.  The Cortex-A57 has no 16K granule, so
 * QEMU runs this guest with -cpu max (build.GUESTS: cpu="max"). */
#define GSHIFT 14
#include "mmu_suite.c"
