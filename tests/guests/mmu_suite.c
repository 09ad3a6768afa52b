/* The stage-1 MMU checks shared by mmu4k.c, mmu16k.c and mmu64k.c (included with GSHIFT
 * defined: 12, 14 or 16).
 *
 * TTBR0: 48-bit VA (T0SZ 16), the identity map of the board plus a test region at TVA; the
 * walk starts at level 0 with 4K (9 bits) and 16K (1 bit: VA[47]), at level 1 with 64K.
 * TTBR1: 39-bit (4K and 16K, T1SZ 25: start level 1, 9 or 3 bits) or 42-bit (64K, T1SZ 22:
 * start level 2) VA, a few pages at the bottom of the high range.
 * Blocks: 2M and 1G with 4K, 32M with 16K (level 1 blocks need 52-bit addresses), 512M with
 * 64K.  (A 16K block descriptor at level 1 or 0 should be a translation fault, but QEMU 7.2
 * maps it, so that is not tested.)  Every address printed is a constant of the test, not a
 * link address. */
#include "rt.h"

#if GSHIFT != 12 && GSHIFT != 14 && GSHIFT != 16
#error "GSHIFT must be 12, 14 or 16"
#endif
#define P (1UL << GSHIFT)
#define BS2 (1UL << (GSHIFT + GSHIFT - 3))         /* L2 block: 2M (4K), 32M (16K), 512M (64K) */
#define BS1 (1UL << (GSHIFT + 2 * (GSHIFT - 3)))   /* L1 entry: 1G (4K), 64G (16K), 4T (64K) */
#define T1SZ (GSHIFT == 16 ? 22 : 25)
#define NAME (GSHIFT == 12 ? "mmu4k" : GSHIFT == 14 ? "mmu16k" : "mmu64k")
#define TVA 0x1000000000UL                          /* test pages: 64G */
#define TBLK (TVA + 2 * BS2)                        /* test blocks */
#define AVA 0x100000000000UL                        /* ASID tests: 16T, its own top-level slot */
#define HVA (~0UL << (64 - T1SZ))                   /* bottom of the TTBR1 range */

#define DABT_CUR 0x96000000UL
#define DABT_LOW 0x92000000UL
#define IABT_CUR 0x86000000UL
#define IABT_LOW 0x82000000UL
#define WNR 0x40UL
#define FSC_TRANS(l) (0x04UL + (l))
#define FSC_AF(l) (0x08UL + (l))
#define FSC_PERM(l) (0x0cUL + (l))
#define FSC_ALIGN 0x21UL

static struct mmu mmu;
static u8 tpages[8][65536] __attribute__((aligned(65536)));
#define PA(k) ((u64)tpages[k])
static volatile u64 block_target = 0x0b10c0b10c0b10cUL;

/* a page of code of its own, so aliases of it are at constant addresses */
asm(".section .text.zpage, \"ax\"\n"
    ".balign 65536\n"
    ".global zpage\n"
    "zpage: adr x0, .\n"                         /* returns the address it ran at */
    "    ret\n"
    ".text\n");
extern char zpage[];

static void map_page(u64 va, u64 pa, u64 attrs)
{
    mmu_map(&mmu, va, pa, P, attrs, P);
}

static void set_pte(u64 va, int level, u64 val)
{
    u64 *pte = mmu_pte(&mmu, va, level);
    if (!pte)
        fatal("no pte for %lx at level %d", va, level);
    *pte = val;
    dsb(ishst);
}

static void data_fault(const char *what, u64 (*probe)(u64), u64 va, u64 esr, int el0)
{
    struct exc_record r;
    expect_exception();
    u64 v = el0 ? run_el0(probe, va, 0) : probe(va);
    u64 n = took_exception(&r);
    u64 insn = probe == probe_st64 ? (u64)probe_st64_insn
             : probe == probe_ld8 ? (u64)probe_ld8_insn : (u64)probe_ld64_insn;
    check_exc(what, n, &r, el0 ? VEC_LOW64_SYNC : VEC_CUR_SPX_SYNC, esr, insn, va,
              el0 ? 0 : 0x3c5);
    if (probe != probe_st64 && v != 0xbad)
        check_failed("%s: faulting load returned %lx", what, v);
}

static void fetch_fault(const char *what, u64 va, u64 esr, int el0)
{
    struct exc_record r;
    expect_exception();
    u64 v = el0 ? run_el0((u64 (*)(u64))va, 0, 0) : probe_call(va);
    u64 n = took_exception(&r);
    check_exc(what, n, &r, el0 ? VEC_LOW64_SYNC : VEC_CUR_SPX_SYNC, esr, va, va, ANY);
    if (!el0 && v != 0xbad)
        check_failed("%s: faulting call returned %lx", what, v);
}

static u64 no_fault_ld(const char *what, u64 va)
{
    expect_exception();
    u64 v = probe_ld64(va);
    if (took_exception(NULL))
        check_failed("%s: load at %lx faulted", what, va);
    return v;
}

static u64 par_of(u64 va, int kind)
{
    if (kind == 0)
        asm volatile("at s1e1r, %0" :: "r"(va));
    else if (kind == 1)
        asm volatile("at s1e1w, %0" :: "r"(va));
    else
        asm volatile("at s1e0r, %0" :: "r"(va));
    isb();
    return read_sysreg(par_el1);
}

static void check_par_fault(const char *what, u64 va, int kind, u64 fst)
{
    u64 par = par_of(va, kind);
    print("%s: PAR.F %lx FST 0x%02lx\n", what, par & 1, (par >> 1) & 0x3f);
    if (!(par & 1) || ((par >> 1) & 0x3f) != fst)
        check_failed("%s: PAR %lx, want F=1 FST %lx", what, par, fst);
}

static void test_pages(void)
{
    /* TVA+0: RW page; +P: AF clear; +2P: read-only EL1; +3P: EL1 only; +4P: invalid;
     * +5P: EL0 read/write alias of page 0 */
    for (int k = 0; k < 8; k++) {
        memset(tpages[k], 0, P);
        *(volatile u64 *)PA(k) = 0x1111000000000000UL + k;
    }
    map_page(TVA, PA(0), MEM_NORMAL | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN);
    map_page(TVA + P, PA(1), (MEM_NORMAL & ~PTE_AF) | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN);
    map_page(TVA + 2 * P, PA(2), MEM_NORMAL | PTE_AP_RO_EL1 | PTE_UXN | PTE_PXN);
    map_page(TVA + 3 * P, PA(3), MEM_NORMAL | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN);
    set_pte(TVA + 4 * P, 3, 0);
    map_page(TVA + 5 * P, PA(0), MEM_NORMAL | PTE_AP_RW_ALL | PTE_UXN | PTE_PXN);
    tlb_flush_all();

    u64 v = no_fault_ld("page", TVA);
    print("page: TVA+0 reads 0x%lx\n", v);
    CHECK_EQ(v, 0x1111000000000000UL, "TVA+0 maps page 0");
    probe_st64(TVA + 0x18);
    CHECK_EQ(*(volatile u64 *)(PA(0) + 0x18), STORE_MARK, "store through TVA+0 lands in page 0");
    v = no_fault_ld("page offset", TVA + P - 8);
    CHECK_EQ(v, *(volatile u64 *)(PA(0) + P - 8), "last word of the page");

    data_fault("af clear, load", probe_ld64, TVA + P + 0x40, DABT_CUR | FSC_AF(3), 0);
    data_fault("af clear, store", probe_st64, TVA + P + 0x48, DABT_CUR | WNR | FSC_AF(3), 0);
    v = no_fault_ld("read-only, load", TVA + 2 * P);
    CHECK_EQ(v, 0x1111000000000002UL, "read-only page reads");
    data_fault("read-only, store", probe_st64, TVA + 2 * P + 0x123 * 8 % P,
               DABT_CUR | WNR | FSC_PERM(3), 0);
    CHECK_EQ(*(volatile u64 *)(PA(2) + 0x123 * 8 % P), 0, "faulting store left memory alone");
    data_fault("unmapped page", probe_ld64, TVA + 4 * P + 0x10, DABT_CUR | FSC_TRANS(3), 0);
    data_fault("unmapped page, byte", probe_ld8, TVA + 4 * P + 0x7, DABT_CUR | FSC_TRANS(3), 0);

    /* EL0 */
    data_fault("el0 load, EL1-only page", probe_ld64, TVA + 3 * P + 8, DABT_LOW | FSC_PERM(3), 1);
    data_fault("el0 store, read-only EL1 page", probe_st64, TVA + 2 * P,
               DABT_LOW | WNR | FSC_PERM(3), 1);
    data_fault("el0 load, unmapped page", probe_ld64, TVA + 4 * P, DABT_LOW | FSC_TRANS(3), 1);
    expect_exception();
    v = run_el0(probe_ld64, TVA + 5 * P, 0);
    u64 n = took_exception(NULL);
    print("el0 load, EL0 page: 0x%lx, %lu exceptions\n", v, n);
    CHECK(n == 0 && v == 0x1111000000000000UL, "EL0 load of an EL0 page: %lx, %lu faults", v, n);
    expect_exception();
    run_el0(probe_st64, TVA + 5 * P + 0x20, 0);
    CHECK_EQ(took_exception(NULL), 0, "EL0 store to an EL0 RW page");
    CHECK_EQ(*(volatile u64 *)(PA(0) + 0x20), STORE_MARK, "EL0 store lands");

    /* AT: address translation into PAR_EL1 */
    u64 par = par_of(TVA + 0x10, 0);
    print("at s1e1r page: PAR.F %lx PA ok %d\n", par & 1,
          (par & 0xfffffffff000UL) == PA(0));
    CHECK(!(par & 1) && (par & 0xfffffffff000UL) == PA(0), "AT S1E1R TVA: PAR %lx", par);
    par = par_of(TVA + 2 * P, 0);
    CHECK(!(par & 1) && (par & 0xfffffffff000UL) == PA(2), "AT S1E1R read-only: PAR %lx", par);
    check_par_fault("at s1e1w read-only", TVA + 2 * P, 1, FSC_PERM(3));
    check_par_fault("at s1e0r EL1-only", TVA + 3 * P, 2, FSC_PERM(3));
    check_par_fault("at s1e1r unmapped", TVA + 4 * P, 0, FSC_TRANS(3));
    check_par_fault("at s1e1r af clear", TVA + P, 0, FSC_AF(3));

    /* instruction fetch through aliases of zpage */
    map_page(TVA + 6 * P, (u64)zpage, MEM_NORMAL | PTE_AP_RO_ALL);             /* executable */
    map_page(TVA + 7 * P, (u64)zpage, MEM_NORMAL | PTE_AP_RO_ALL | PTE_PXN);   /* EL0 only */
    map_page(TVA + 8 * P, (u64)zpage, MEM_NORMAL | PTE_AP_RO_ALL | PTE_UXN);   /* EL1 only */
    map_page(TVA + 9 * P, (u64)zpage, MEM_NORMAL | PTE_AP_RW_ALL);  /* EL0-writable: not EL1 */
    tlb_flush_all();
    expect_exception();
    v = probe_call(TVA + 6 * P);
    n = took_exception(NULL);
    print("exec alias: ran at 0x%lx\n", v);
    CHECK(n == 0 && v == TVA + 6 * P, "call through an executable alias: %lx", v);
    v = run_el0((u64 (*)(u64))(TVA + 7 * P), 0, 0);
    CHECK_EQ(v, TVA + 7 * P, "EL0 runs a PXN page");
    fetch_fault("el1 exec, PXN", TVA + 7 * P, IABT_CUR | FSC_PERM(3), 0);
    fetch_fault("el0 exec, UXN", TVA + 8 * P, IABT_LOW | FSC_PERM(3), 1);
    fetch_fault("el1 exec, EL0-writable", TVA + 9 * P, IABT_CUR | FSC_PERM(3), 0);
    fetch_fault("el1 exec, unmapped", TVA + 4 * P, IABT_CUR | FSC_TRANS(3), 0);
    fetch_fault("el1 exec, XN data page", TVA, IABT_CUR | FSC_PERM(3), 0);
}

static void test_blocks_and_levels(void)
{
    u64 pa = (u64)&block_target, base = pa & ~(BS2 - 1);
    mmu_map(&mmu, TBLK, base, BS2, MEM_NORMAL | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN, 0);
    mmu_map(&mmu, TBLK + BS2, base, BS2,
            (MEM_NORMAL & ~PTE_AF) | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN, 0);
    mmu_map(&mmu, TBLK + 2 * BS2, base, BS2, MEM_NORMAL | PTE_AP_RO_EL1 | PTE_UXN | PTE_PXN, 0);
    u64 *blk = mmu_pte(&mmu, TBLK, 2);
    CHECK(blk && (*blk & 3) == 1, "TBLK is a level 2 block descriptor");
    set_pte(TBLK + 3 * BS2, 2, 0);
    tlb_flush_all();

    u64 v = no_fault_ld("block", TBLK + (pa - base));
    print("block: level 2 block reads 0x%lx\n", v);
    CHECK_EQ(v, 0x0b10c0b10c0b10cUL, "read through a level 2 block");
    data_fault("block af clear", probe_ld64, TBLK + BS2 + 0x100, DABT_CUR | FSC_AF(2), 0);
    data_fault("block read-only, store", probe_st64, TBLK + 2 * BS2 + 0x200,
               DABT_CUR | WNR | FSC_PERM(2), 0);
    data_fault("level 2 invalid", probe_ld64, TBLK + 3 * BS2 + 0x300, DABT_CUR | FSC_TRANS(2), 0);
    check_par_fault("at s1e1r level 2 invalid", TBLK + 3 * BS2, 0, FSC_TRANS(2));
    /* level 1 (and 0 with 4K and 16K): entries of the top tables never filled (16K: level 1
     * entries cover 64G, TVA is entry 1; level 0 has two entries, VA[47] = 1 is the second) */
    if (GSHIFT != 16) {
        data_fault("level 1 invalid", probe_ld64, 0x2000000000UL + 0x40, DABT_CUR | FSC_TRANS(1), 0);
        data_fault("level 0 invalid", probe_ld64, 0x800000000000UL + 0x40, DABT_CUR | FSC_TRANS(0), 0);
    } else {
        data_fault("level 1 invalid", probe_ld64, 0x40000000000UL + 0x40, DABT_CUR | FSC_TRANS(1), 0);
    }
    /* outside both ranges: a translation fault reported at level 0 whatever the start level
     * (the ASL's VAIsOutOfRange check in AArch64.S1Translate) */
    data_fault("va above ttbr0 range", probe_ld64, 0x0001000000000000UL,
               DABT_CUR | FSC_TRANS(0), 0);
    data_fault("va below ttbr1 range", probe_ld64, HVA - 0x1000,
               DABT_CUR | FSC_TRANS(0), 0);
}

static void test_ttbr1(void)
{
    map_page(HVA, PA(4), MEM_NORMAL | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN);
    map_page(HVA + P, (u64)zpage, MEM_NORMAL | PTE_AP_RO_EL1);
    tlb_flush_all();
    print("ttbr1: start level %d, ttbr0: start level %d\n", mmu_start_level(&mmu, 1),
          mmu_start_level(&mmu, 0));
    u64 v = no_fault_ld("ttbr1", HVA);
    CHECK_EQ(v, 0x1111000000000004UL, "high VA reads page 4");
    probe_st64(HVA + 0x30);
    CHECK_EQ(*(volatile u64 *)(PA(4) + 0x30), STORE_MARK, "store through the high VA");
    expect_exception();
    v = probe_call(HVA + P);
    CHECK(took_exception(NULL) == 0 && v == HVA + P, "call through TTBR1: ran at %lx", v);
    print("ttbr1: code ran at 0x%lx\n", v);
    data_fault("ttbr1 unmapped page", probe_ld64, HVA + 2 * P + 8, DABT_CUR | FSC_TRANS(3), 0);
    data_fault("ttbr1 el0 load", probe_ld64, HVA, DABT_LOW | FSC_PERM(3), 1);
#if GSHIFT == 14
    /* the 3-bit level 1 table of the 39-bit TTBR1 range: entry 0 holds HVA's level 2 table */
    data_fault("ttbr1 level 2 invalid", probe_ld64, HVA + BS2 + 0x10, DABT_CUR | FSC_TRANS(2), 0);
    data_fault("ttbr1 level 1 invalid", probe_ld64, HVA + 7 * BS1 + 0x18,
               DABT_CUR | FSC_TRANS(1), 0);
    check_par_fault("at s1e1r ttbr1 level 1 invalid", HVA + BS1, 0, FSC_TRANS(1));
#endif
}

static void test_tlbi(void)
{
    /* change a live mapping: after TLBI the new one is used */
    u64 v = no_fault_ld("tlbi before", TVA);
    CHECK_EQ(v, 0x1111000000000000UL, "TVA before the change");
    set_pte(TVA, 3, PA(5) | MEM_NORMAL | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN | PTE_VALID | PTE_TABLE);
    tlb_flush_va(TVA);
    v = no_fault_ld("tlbi after", TVA);
    print("tlbi vaae1is: TVA now reads 0x%lx\n", v);
    CHECK_EQ(v, 0x1111000000000005UL, "TVA after remap + TLBI VAAE1IS");
    set_pte(TVA, 3, 0);
    tlb_flush_va(TVA);
    data_fault("tlbi unmap", probe_ld64, TVA, DABT_CUR | FSC_TRANS(3), 0);
    set_pte(TVA, 3, PA(0) | MEM_NORMAL | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN | PTE_VALID | PTE_TABLE);
    dsb(ishst);
    asm volatile("tlbi vmalle1" ::: "memory");
    dsb(nsh);
    isb();
    v = no_fault_ld("tlbi vmalle1", TVA);
    CHECK_EQ(v, 0x1111000000000000UL, "TVA after remap + TLBI VMALLE1");
    /* TLBI VAE1 with the current ASID (1) */
    set_pte(TVA, 3, PA(6) | MEM_NORMAL | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN | PTE_VALID | PTE_TABLE);
    dsb(ishst);
    asm volatile("tlbi vae1, %0" :: "r"((1UL << 48) | ((TVA >> 12) & ((1UL << 44) - 1))) : "memory");
    dsb(nsh);
    isb();
    v = no_fault_ld("tlbi vae1", TVA);
    CHECK_EQ(v, 0x1111000000000006UL, "TVA after remap + TLBI VAE1 (ASID 1)");
}

static void test_asid(void)
{
    /* two TTBR0 trees sharing the identity map, with different non-global pages at AVA */
    struct mmu b = mmu;
    b.root0 = mmu_alloc_table(&mmu);
    int start = mmu_start_level(&mmu, 0);
    unsigned entries = 1u << (48 - (GSHIFT + (3 - start) * (GSHIFT - 3)));
    for (unsigned i = 0; i < entries; i++)
        b.root0[i] = mmu.root0[i];
    /* AVA has a top-level entry of its own with 4K and 64K; with 16K level 0 has only two
     * entries, so b gets its own copies of the tables on AVA's path that are shared */
    u64 *t = b.root0;
    for (int l = start; l < 3; l++) {
        u64 *pte = &t[(AVA >> (GSHIFT + (3 - l) * (GSHIFT - 3))) & ((1UL << (GSHIFT - 3)) - 1)];
        if ((*pte & (PTE_VALID | PTE_TABLE)) != (PTE_VALID | PTE_TABLE))
            break;
        t = mmu_alloc_table(&mmu);
        memcpy(t, (void *)(*pte & 0xfffffffff000UL & ~(P - 1)), P);
        *pte = (u64)t | PTE_VALID | PTE_TABLE;
    }
    u64 ng = MEM_NORMAL | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN | PTE_NG;
    mmu_map(&mmu, AVA, PA(1), P, ng, P);
    mmu_map(&b, AVA, PA(2), P, ng, P);
    tlb_flush_all();
    u64 ttbr_a = (u64)mmu.root0 | (1UL << 48), ttbr_b = (u64)b.root0 | (2UL << 48);

    u64 va = no_fault_ld("asid 1", AVA);
    write_sysreg(ttbr_b, ttbr0_el1);
    isb();
    u64 vb = no_fault_ld("asid 2", AVA);
    write_sysreg(ttbr_a, ttbr0_el1);
    isb();
    u64 va2 = no_fault_ld("asid 1 again", AVA);
    print("asid: ASID 1 reads 0x%lx, ASID 2 reads 0x%lx, ASID 1 again 0x%lx\n", va, vb, va2);
    CHECK_EQ(va, 0x1111000000000001UL, "AVA under ASID 1");
    CHECK_EQ(vb, 0x1111000000000002UL, "AVA under ASID 2 (no TLBI between)");
    CHECK_EQ(va2, 0x1111000000000001UL, "AVA under ASID 1 again");

    /* change ASID 2's page, flush ASID 2 only, and look again */
    u64 *pte = mmu_pte(&b, AVA, 3);
    *pte = PA(3) | ng | PTE_VALID | PTE_TABLE;
    dsb(ishst);
    asm volatile("tlbi aside1is, %0" :: "r"(2UL << 48) : "memory");
    dsb(ish);
    write_sysreg(ttbr_b, ttbr0_el1);
    isb();
    vb = no_fault_ld("asid 2 after tlbi aside1", AVA);
    write_sysreg(ttbr_a, ttbr0_el1);
    isb();
    va = no_fault_ld("asid 1 after tlbi aside1", AVA);
    print("asid: after TLBI ASIDE1IS 2: ASID 2 reads 0x%lx, ASID 1 reads 0x%lx\n", vb, va);
    CHECK_EQ(vb, 0x1111000000000003UL, "ASID 2 after TLBI ASIDE1IS");
    CHECK_EQ(va, 0x1111000000000001UL, "ASID 1 after TLBI ASIDE1IS of ASID 2");
}

static void test_alignment(void)
{
    /* Normal memory: unaligned accesses work unless SCTLR_EL1.A; aligned Device accesses work.
     * (Unaligned Device accesses are architecturally alignment faults, but QEMU 7.2 does not
     * check them, so they are not tested here.) */
    map_page(TVA + 10 * P, PA(7), PTE_ATTR(MAIR_DEVICE) | PTE_AF | PTE_AP_RW_EL1 | PTE_UXN | PTE_PXN);
    tlb_flush_all();
    u64 v = no_fault_ld("device aligned", TVA + 10 * P);
    CHECK_EQ(v, 0x1111000000000007UL, "aligned load from a Device page");
    v = no_fault_ld("normal unaligned", TVA + 2 * P + 1);
    CHECK_EQ(v, 0x0011110000000000UL, "unaligned load from Normal memory");
    u64 sctlr = read_sysreg(sctlr_el1);
    write_sysreg(sctlr | (1UL << 1), sctlr_el1);
    isb();
    data_fault("sctlr.a unaligned load", probe_ld64, TVA + 2 * P + 4, DABT_CUR | FSC_ALIGN, 0);
    v = no_fault_ld("sctlr.a aligned", TVA + 2 * P);
    write_sysreg(sctlr, sctlr_el1);
    isb();
    CHECK_EQ(v, 0x1111000000000002UL, "aligned load with SCTLR_EL1.A");
}

static void mmu_suite(void)
{
    /* TGran4 [31:28] and TGran64 [27:24]: 0xf = not supported; TGran16 [23:20]: 0 = not
     * supported (1: supported, 2: also with 52-bit addresses, as on QEMU's -cpu max) */
    u64 mmfr0 = read_sysreg(id_aa64mmfr0_el1);
    int tgran = GSHIFT == 12 ? (mmfr0 >> 28) & 0xf
              : GSHIFT == 14 ? (mmfr0 >> 20) & 0xf : (mmfr0 >> 24) & 0xf;
    int supported = GSHIFT == 14 ? tgran != 0 : tgran != 0xf;
    print("%s: granule %luK supported %d\n", NAME, P >> 10, supported);
    if (!supported)          /* a TCR_EL1.TGn it does not support: the walks would be garbage */
        fatal("ID_AA64MMFR0_EL1 says the %luK granule is not supported", P >> 10);

    mmu_setup(&mmu, GSHIFT, 16, T1SZ);
    mmu_identity(&mmu);
    mmu_enable(&mmu, 1);
    print("mmu on: SCTLR.M %lu, running at EL%lu\n", read_sysreg(sctlr_el1) & 1,
          read_sysreg(CurrentEL) >> 2);
    CHECK_EQ(read_sysreg(sctlr_el1) & 1, 1, "SCTLR_EL1.M");

    test_pages();
    test_blocks_and_levels();
    test_ttbr1();
    test_tlbi();
    test_asid();
    test_alignment();

    mmu_disable();
    print("mmu off again\n");
}

int main(void)
{
    mmu_suite();
    return 0;
}
