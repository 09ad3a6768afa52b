/* Synchronous external aborts: with the MMU off, loads, stores and instruction fetches at
 * physical addresses where nothing decodes, from EL1 and EL0; with the MMU on, a page that maps
 * such an address, and a translation table walk that reads from one. */
#include "rt.h"

#define DABT_CUR 0x96000000UL
#define DABT_LOW 0x92000000UL
#define IABT_CUR 0x86000000UL
#define IABT_LOW 0x82000000UL
#define WNR 0x40UL
#define FSC_EXT 0x10UL
#define FSC_EXT_WALK(l) (0x14UL + (l))
#define HOLE_4G 0x100000000UL               /* inside virt's RAM window, beyond -m 256M */

static void data(const char *what, u64 (*probe)(u64), char *insn, u64 pa, u64 esr, int el0)
{
    struct exc_record r;
    expect_exception();
    u64 v = el0 ? run_el0(probe, pa, 0) : probe(pa);
    u64 n = took_exception(&r);
    check_exc(what, n, &r, el0 ? VEC_LOW64_SYNC : VEC_CUR_SPX_SYNC, esr, (u64)insn, pa,
              el0 ? 0 : 0x3c5);
    if (probe != probe_st64)
        CHECK_EQ(v, 0xbad, "the aborted load wrote its register");
}

static void fetch(const char *what, u64 pa, u64 esr, int el0)
{
    struct exc_record r;
    expect_exception();
    if (el0)
        run_el0((u64 (*)(u64))pa, 0, 0);
    else
        probe_call(pa);
    u64 n = took_exception(&r);
    check_exc(what, n, &r, el0 ? VEC_LOW64_SYNC : VEC_CUR_SPX_SYNC, esr, pa, pa, ANY);
}

int main(void)
{
    print("extabort: MMU off\n");
    data("el1 ldr", probe_ld64, probe_ld64_insn, UNMAPPED_PA, DABT_CUR | FSC_EXT, 0);
    data("el1 ldrb", probe_ld8, probe_ld8_insn, UNMAPPED_PA + 0x1233, DABT_CUR | FSC_EXT, 0);
    data("el1 str", probe_st64, probe_st64_insn, UNMAPPED_PA + 0x40, DABT_CUR | WNR | FSC_EXT, 0);
    data("el1 ldr 4G", probe_ld64, probe_ld64_insn, HOLE_4G + 0x8, DABT_CUR | FSC_EXT, 0);
    data("el0 ldr", probe_ld64, probe_ld64_insn, UNMAPPED_PA + 0x10, DABT_LOW | FSC_EXT, 1);
    data("el0 str", probe_st64, probe_st64_insn, UNMAPPED_PA + 0x18, DABT_LOW | WNR | FSC_EXT, 1);
    fetch("el1 fetch", UNMAPPED_PA + 0x100, IABT_CUR | FSC_EXT, 0);
    fetch("el0 fetch", UNMAPPED_PA + 0x200, IABT_LOW | FSC_EXT, 1);
    volatile u64 *last = (volatile u64 *)(RAM_BASE + RAM_SIZE - 8);
    *last = 0x1234;
    CHECK_EQ(*last, 0x1234, "the last word of RAM works");

    /* MMU on: a page mapping the hole, and a walk through a table pointer into the hole */
    static struct mmu m;
    mmu_setup(&m, 12, 16, 0);
    mmu_identity(&m);
    u64 va = 0x1000000000UL;
    mmu_map(&m, va, UNMAPPED_PA, 0x1000, MEM_NORMAL | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN, 0x1000);
    u64 *l2 = mmu_pte(&m, va + 0x200000, 2);
    *l2 = UNMAPPED_PA | PTE_VALID | PTE_TABLE;          /* level 3 table "in" the hole */
    mmu_enable(&m, 0);
    print("extabort: MMU on\n");
    data("mapped hole, ldr", probe_ld64, probe_ld64_insn, va + 0x28, DABT_CUR | FSC_EXT, 0);
    data("mapped hole, str", probe_st64, probe_st64_insn, va + 0x30, DABT_CUR | WNR | FSC_EXT, 0);
    data("walk into hole", probe_ld64, probe_ld64_insn, va + 0x200000 + 0x38,
         DABT_CUR | FSC_EXT_WALK(3), 0);
    /* AT whose walk takes an external abort: a Data Abort exception (ESR.CM = 1, WnR = 1),
     * not a fault recorded in PAR_EL1 */
    struct exc_record r;
    expect_exception();
    asm volatile("msr nzcv, xzr\n at s1e1r, %0\n isb" :: "r"(va + 0x200000) : "memory", "cc");
    u64 n = took_exception(&r);
    check_exc("at s1e1r, walk into hole", n, &r, VEC_CUR_SPX_SYNC,
              DABT_CUR | (1UL << 8) | WNR | FSC_EXT_WALK(3), ANY, va + 0x200000, 0x3c5);
    mmu_disable();
    return 0;
}
