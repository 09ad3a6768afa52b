/* System-level behaviour Linux relies on: ID registers, DC ZVA and DCZID_EL0, SP_EL0 and SPSel,
 * DAIF and NZCV, the exclusive monitor (CLREX, exception return), the FP/SIMD trap of
 * CPACR_EL1, TPIDR*_EL0, the EL0 controls of SCTLR_EL1 (UCT, DZE, UCI), and an illegal
 * exception return. */
#include "rt.h"

#define EL0_OP(name, body) \
    asm(".text\n.global " #name ", " #name "_insn\n" #name ": msr nzcv, xzr\n" \
        "    mov x1, x0\n    mov x0, #0x5a\n" #name "_insn: " body "\n    ret\n"); \
    u64 name(u64); extern char name##_insn[]
EL0_OP(el0_ctr, "mrs x0, ctr_el0");
EL0_OP(el0_dczid, "mrs x0, dczid_el0");
EL0_OP(el0_dczva, "dc zva, x1");
EL0_OP(el0_dccvau, "dc cvau, x1");
EL0_OP(el0_fmov, ".inst 0x9e6703e0");          /* fmov d0, xzr */
EL0_OP(el0_tpidrro_w, "msr tpidrro_el0, x1");
EL0_OP(el0_tpidrro_r, "mrs x0, tpidrro_el0");
EL0_OP(el0_tpidr_w, "msr tpidr_el0, x1");
EL0_OP(el0_tpidr_el1, "mrs x0, tpidr_el1");

asm(".text\n"
    ".global el1_fmov, el1_fmov_insn\n"
    "el1_fmov: msr nzcv, xzr\n"
    "el1_fmov_insn: .inst 0x9e6703e0\n"         /* fmov d0, xzr */
    "    ret\n"
    /* x0 = a stack for SP_EL0: read SP and SP_EL0 with SPSel = 0; returns SP seen */
    ".global spsel_probe, spsel_mrs_insn\n"
    "spsel_probe: msr nzcv, xzr\n"
    "    msr sp_el0, x0\n"
    "    mov x2, x0\n"
    "    msr spsel, #0\n"
    "    mov x0, sp\n"
    "spsel_mrs_insn: mrs x2, sp_el0\n"         /* UNDEFINED while SPSel = 0 */
    "    msr spsel, #1\n"
    "    ret\n"
    /* exclusive pairs: x0 = address; returns the STXR status */
    ".global excl_pair, excl_clrex, excl_svc, excl_none\n"
    "excl_pair: ldxr x1, [x0]\n"
    "    add x1, x1, #1\n"
    "    stxr w2, x1, [x0]\n"
    "    mov x0, x2\n"
    "    ret\n"
    "excl_clrex: ldxr x1, [x0]\n"
    "    clrex\n"
    "    stxr w2, x1, [x0]\n"
    "    mov x0, x2\n"
    "    ret\n"
    "excl_svc: ldxr x1, [x0]\n"
    "    svc #0x99\n"                            /* exception entry and ERET */
    "    stxr w2, x1, [x0]\n"
    "    mov x0, x2\n"
    "    ret\n"
    "excl_none: clrex\n"
    "    mov x1, #7\n"
    "    stxr w2, x1, [x0]\n"
    "    mov x0, x2\n"
    "    ret\n"
    /* ERET to EL2, which does not exist: an illegal exception return to EL1 with PSTATE.IL,
     * and the next instruction takes an Illegal Execution state exception */
    ".global illegal_eret, illegal_landing\n"
    "illegal_eret: mrs x9, daif\n"
    "    adr x10, illegal_landing\n"
    "    msr elr_el1, x10\n"
    "    mov x10, #0x3c9\n"
    "    msr spsr_el1, x10\n"
    "    eret\n"
    "illegal_landing: nop\n"
    "    msr daif, x9\n"
    "    ret\n");
u64 el1_fmov(u64);
extern char el1_fmov_insn[];
u64 spsel_probe(u64);
extern char spsel_mrs_insn[];
u64 excl_pair(u64), excl_clrex(u64), excl_svc(u64), excl_none(u64);
void illegal_eret(void);
extern char illegal_landing[];

#define SCTLR_DZE (1UL << 14)
#define SCTLR_UCT (1UL << 15)
#define SCTLR_UCI (1UL << 26)

static u8 zbuf[256] __attribute__((aligned(256)));
static u64 sp0_stack[512] __attribute__((aligned(16)));
static volatile u64 excl_word __attribute__((aligned(64)));

static void el0_trap(const char *what, u64 (*fn)(u64), char *insn, u64 arg, u64 esr)
{
    struct exc_record r;
    expect_exception();
    u64 v = run_el0(fn, arg, 0);
    u64 n = took_exception(&r);
    check_exc(what, n, &r, VEC_LOW64_SYNC, esr, (u64)insn, ANY, 0);
    CHECK_EQ(v, 0x5a, "trapped instruction left x0 alone");
}

static u64 el0_ok(const char *what, u64 (*fn)(u64), u64 arg)
{
    expect_exception();
    u64 v = run_el0(fn, arg, 0);
    u64 n = took_exception(NULL);
    CHECK(n == 0, "%s: trapped", what);
    return v;
}

int main(void)
{
    /* identification */
    u64 midr = read_sysreg(midr_el1), mpidr = read_sysreg(mpidr_el1);
    u64 pfr0 = read_sysreg(id_aa64pfr0_el1), mmfr0 = read_sysreg(id_aa64mmfr0_el1);
    print("sysregs: MIDR_EL1 0x%lx MPIDR_EL1 0x%lx\n", midr, mpidr);
    CHECK_EQ(midr, 0x411fd070, "MIDR_EL1 (Cortex-A57 r1p0)");
    CHECK_EQ(mpidr, 0x80000000, "MPIDR_EL1 of cpu 0");
    print("ID_AA64PFR0_EL1: EL2 %lu EL3 %lu FP %lu AdvSIMD %lu GIC %lu\n", (pfr0 >> 8) & 15,
          (pfr0 >> 12) & 15, (pfr0 >> 16) & 15, (pfr0 >> 20) & 15, (pfr0 >> 24) & 15);
    CHECK(((pfr0 >> 8) & 0xff) == 0, "EL2/EL3 reported: ID_AA64PFR0_EL1 %lx", pfr0);
    CHECK((pfr0 & 15) >= 1 && ((pfr0 >> 4) & 15) >= 1, "EL0/EL1 fields %lx", pfr0);
    CHECK_EQ((pfr0 >> 24) & 15, 1, "ID_AA64PFR0_EL1.GIC (system registers)");
    print("ID_AA64MMFR0_EL1: PARange %lu ASIDBits %lu TGran4 %lu TGran64 %lu\n", mmfr0 & 15,
          (mmfr0 >> 4) & 15, (mmfr0 >> 28) & 15, (mmfr0 >> 24) & 15);
    u64 ctr = read_sysreg(ctr_el0), dczid = read_sysreg(dczid_el0);
    print("CTR_EL0 0x%lx DCZID_EL0 0x%lx\n", ctr, dczid);
    CHECK_EQ(dczid, 4, "DCZID_EL0 (64-byte blocks, permitted)");

    /* NZCV and DAIF */
    write_sysreg(~0UL, nzcv);
    u64 nzcv = read_sysreg(nzcv);
    write_sysreg(0, nzcv);
    asm volatile("msr daifclr, #0xf" ::: "memory");
    u64 d0 = read_sysreg(daif);
    asm volatile("msr daifset, #2" ::: "memory");
    u64 d1 = read_sysreg(daif);
    asm volatile("msr daifset, #0xd" ::: "memory");
    u64 d2 = read_sysreg(daif);
    asm volatile("msr daifclr, #4" ::: "memory");
    u64 d3 = read_sysreg(daif);
    write_sysreg(~0UL, daif);
    u64 d4 = read_sysreg(daif);
    print("NZCV all ones 0x%lx; DAIF clr 0x%lx, set I 0x%lx, set all 0x%lx, clr A 0x%lx, "
          "write ones 0x%lx\n", nzcv, d0, d1, d2, d3, d4);
    CHECK_EQ(nzcv, 0xf0000000, "NZCV writable bits");
    CHECK(d0 == 0 && d1 == 0x80 && d2 == 0x3c0 && d3 == 0x2c0 && d4 == 0x3c0, "DAIF sequence");

    /* SP_EL0 and SPSel */
    u64 top = (u64)&sp0_stack[512];
    struct exc_record r;
    expect_exception();
    u64 seen = spsel_probe(top);
    u64 n = took_exception(&r);
    print("SPSel 0: SP is SP_EL0 %d\n", seen == top);
    CHECK_EQ(seen, top, "SP with SPSel = 0");
    check_exc("mrs sp_el0 with SPSel 0", n, &r, VEC_CUR_SP0_SYNC, 0x02000000,
              (u64)spsel_mrs_insn, ANY, 0x3c4);
    write_sysreg(0x1230, sp_el0);
    CHECK_EQ(read_sysreg(sp_el0), 0x1230, "SP_EL0 from EL1h");
    CHECK_EQ(read_sysreg(spsel), 1, "SPSel");

    /* FP/SIMD trap */
    u64 cpacr = read_sysreg(cpacr_el1);
    write_sysreg(0, cpacr_el1);
    isb();
    expect_exception();
    el1_fmov(0);
    n = took_exception(&r);
    check_exc("el1 fp, FPEN=0", n, &r, VEC_CUR_SPX_SYNC, 0x1fe00000, (u64)el1_fmov_insn, ANY, 0x3c5);
    write_sysreg(1UL << 20, cpacr_el1);                      /* FPEN = 01: EL0 traps */
    isb();
    expect_exception();
    el1_fmov(0);
    CHECK_EQ(took_exception(NULL), 0, "EL1 FP with FPEN = 01");
    el0_trap("el0 fp, FPEN=1", el0_fmov, el0_fmov_insn, 0, 0x1fe00000);
    write_sysreg(3UL << 20, cpacr_el1);
    isb();
    el0_ok("el0 fp, FPEN=3", el0_fmov, 0);
    write_sysreg(cpacr, cpacr_el1);
    isb();

    /* thread ID registers */
    write_sysreg(0x7770, tpidrro_el0);
    write_sysreg(0, tpidr_el0);
    u64 v = el0_ok("el0 read tpidrro_el0", el0_tpidrro_r, 0);
    CHECK_EQ(v, 0x7770, "TPIDRRO_EL0 at EL0");
    el0_trap("el0 write tpidrro_el0", el0_tpidrro_w, el0_tpidrro_w_insn, 1, 0x02000000);
    el0_ok("el0 write tpidr_el0", el0_tpidr_w, 0x4440);
    CHECK_EQ(read_sysreg(tpidr_el0), 0x4440, "TPIDR_EL0 written at EL0");
    CHECK_EQ(read_sysreg(tpidrro_el0), 0x7770, "TPIDRRO_EL0 unchanged");
    el0_trap("el0 read tpidr_el1", el0_tpidr_el1, el0_tpidr_el1_insn, 0, 0x02000000);

    /* illegal exception return */
    expect_exception();
    illegal_eret();
    n = took_exception(&r);
    check_exc("illegal eret to EL2", n, &r, VEC_CUR_SPX_SYNC, 0x38000000 | ESR_IL,
              (u64)illegal_landing, ANY, 0x3c5 | (1UL << 20));

    /* everything below with the MMU on: DC ZVA and exclusives want Normal memory */
    static struct mmu m;
    mmu_setup(&m, 12, 16, 0);
    mmu_identity(&m);
    mmu_enable(&m, 0);

    memset(zbuf, 0xaa, sizeof zbuf);
    asm volatile("dc zva, %0" :: "r"((u64)zbuf + 64 + 13) : "memory");
    int lo = 256, hi = 0;
    for (int i = 0; i < 256; i++)
        if (zbuf[i] == 0) {
            lo = i < lo ? i : lo;
            hi = i + 1;
        } else if (zbuf[i] != 0xaa) {
            check_failed("DC ZVA wrote %x at %d", zbuf[i], i);
        }
    print("dc zva at +77: zeroed [%d, %d)\n", lo, hi);
    CHECK(lo == 64 && hi == 128, "DC ZVA zeroed [%d, %d), want [64, 128)", lo, hi);

    /* SCTLR_EL1 EL0 controls */
    u64 sctlr = read_sysreg(sctlr_el1);
    write_sysreg(sctlr & ~(SCTLR_DZE | SCTLR_UCT | SCTLR_UCI), sctlr_el1);
    isb();
    el0_trap("el0 ctr_el0, UCT=0", el0_ctr, el0_ctr_insn, 0, 0x6232c001);
    el0_trap("el0 dc zva, DZE=0", el0_dczva, el0_dczva_insn, (u64)zbuf, 0x6212dc28);
    el0_trap("el0 dc cvau, UCI=0", el0_dccvau, el0_dccvau_insn, (u64)zbuf, 0x6212dc36);
    v = el0_ok("el0 dczid_el0", el0_dczid, 0);
    print("el0 dczid_el0 with DZE=0: 0x%lx\n", v);
    CHECK_EQ(v, 0x14, "DCZID_EL0.DZP at EL0 with DZE = 0");
    write_sysreg(sctlr | SCTLR_DZE | SCTLR_UCT | SCTLR_UCI, sctlr_el1);
    isb();
    v = el0_ok("el0 ctr_el0", el0_ctr, 0);
    CHECK_EQ(v, ctr, "CTR_EL0 at EL0");
    v = el0_ok("el0 dczid_el0", el0_dczid, 0);
    print("el0 dczid_el0 with DZE=1: 0x%lx\n", v);
    CHECK_EQ(v, 4, "DCZID_EL0 at EL0 with DZE = 1");
    memset(zbuf, 0xaa, sizeof zbuf);
    el0_ok("el0 dc zva", el0_dczva, (u64)zbuf + 128);
    CHECK(zbuf[127] == 0xaa && zbuf[128] == 0 && zbuf[191] == 0 && zbuf[192] == 0xaa,
          "DC ZVA at EL0");
    el0_ok("el0 dc cvau", el0_dccvau, (u64)zbuf);
    write_sysreg(sctlr, sctlr_el1);
    isb();

    /* the exclusive monitor */
    excl_word = 41;
    u64 s1 = excl_pair((u64)&excl_word);
    u64 w1 = excl_word;
    u64 s2 = excl_none((u64)&excl_word);
    u64 s3 = excl_clrex((u64)&excl_word);
    expect_exception();
    u64 s4 = excl_svc((u64)&excl_word);
    took_exception(NULL);
    print("exclusives: ldxr/stxr %lu (value %lu), stxr alone %lu, after clrex %lu, "
          "across svc+eret %lu\n", s1, w1, s2, s3, s4);
    CHECK(s1 == 0 && w1 == 42, "LDXR/STXR pair failed");
    CHECK_EQ(s2, 1, "STXR without LDXR");
    CHECK_EQ(s3, 1, "STXR after CLREX");
    CHECK_EQ(s4, 1, "STXR after an exception return");
    CHECK_EQ(excl_word, 42, "failed STXRs wrote memory");

    mmu_disable();
    return 0;
}
