/* Exception levels and vectors: the entry state, synchronous exceptions taken at EL1 (from
 * EL1h, EL1t and EL0) with their vector offset, ESR, ELR, FAR and SPSR, ERET restoring SPSR
 * into PSTATE, and the traps an EL0 program meets. */
#include "rt.h"

/* EL1 triggers: each sets NZCV from x0, then the instruction at the *_insn label */
asm(".text\n"
    ".global el1_udf, el1_udf_insn\n"
    "el1_udf: msr nzcv, x0\n"
    "el1_udf_insn: .inst 0x00000000\n"          /* UDF #0 */
    "    ret\n"
    ".global el1_brk, el1_brk_insn\n"
    "el1_brk: msr nzcv, x0\n"
    "el1_brk_insn: brk #0x1234\n"
    "    mrs x0, nzcv\n"                         /* what ERET put back in PSTATE */
    "    ret\n"
    ".global el1_svc, el1_svc_insn\n"
    "el1_svc: msr nzcv, x0\n"
    "el1_svc_insn: svc #0x42\n"
    "    ret\n"
    /* BRK with SPSel = 0: SP_EL0 takes the current SP for the duration */
    ".global el1t_brk, el1t_brk_insn\n"
    "el1t_brk: msr nzcv, x0\n"
    "    mov x9, sp\n"
    "    msr sp_el0, x9\n"
    "    msr spsel, #0\n"
    "el1t_brk_insn: brk #0x77\n"
    "    msr spsel, #1\n"
    "    ret\n"
    ".global el1_ldr, el1_ldr_insn\n"            /* x0 = address */
    "el1_ldr: msr nzcv, xzr\n"
    "el1_ldr_insn: ldr x0, [x0]\n"
    "    ret\n"
    /* EL0 programs (u64 fn(u64)) */
    ".global el0_svc, el0_svc_insn\n"
    "el0_svc: msr nzcv, x0\n"
    "el0_svc_insn: svc #7\n"
    "    ret\n"
    ".global el0_udf, el0_udf_insn\n"
    "el0_udf: msr nzcv, xzr\n"
    "el0_udf_insn: .inst 0x00000000\n"
    "    ret\n"
    ".global el0_brk, el0_brk_insn\n"
    "el0_brk: msr nzcv, xzr\n"
    "el0_brk_insn: brk #0xbeef\n"
    "    ret\n"
    ".global el0_mrs_sctlr, el0_mrs_sctlr_insn\n"
    "el0_mrs_sctlr: msr nzcv, xzr\n"
    "    mov x0, #0x5a\n"
    "el0_mrs_sctlr_insn: mrs x0, sctlr_el1\n"
    "    ret\n"
    ".global el0_mrs_daif, el0_mrs_daif_insn\n"
    "el0_mrs_daif: msr nzcv, xzr\n"
    "    mov x0, #0x5a\n"
    "el0_mrs_daif_insn: mrs x0, daif\n"
    "    ret\n"
    ".global el0_wfi, el0_wfi_insn\n"
    "el0_wfi: msr nzcv, xzr\n"
    "el0_wfi_insn: wfi\n"
    "    ret\n"
    ".global el0_currentel, el0_currentel_insn\n"
    "el0_currentel: msr nzcv, xzr\n"
    "    mov x0, #0x5a\n"
    "el0_currentel_insn: mrs x0, CurrentEL\n"
    "    ret\n"
    ".global el0_nzcv\n"                         /* EL0 may read and write NZCV */
    "el0_nzcv: msr nzcv, x0\n"
    "    mrs x0, nzcv\n"
    "    ret\n"
    ".global pc_misaligned\n"
    "pc_misaligned: .inst 0xd503201f\n"          /* NOP; branched to at +2 */
    "    ret\n");

#define DECL(f) u64 f(u64); extern char f##_insn[]
DECL(el1_udf); DECL(el1_brk); DECL(el1_svc); DECL(el1t_brk); DECL(el1_ldr);
DECL(el0_svc); DECL(el0_udf); DECL(el0_brk); DECL(el0_mrs_sctlr); DECL(el0_mrs_daif);
DECL(el0_wfi); DECL(el0_currentel);
u64 el0_nzcv(u64);
void pc_misaligned(void);

#define SPSR_EL1H 0x5UL
#define SPSR_EL1T 0x4UL
#define SPSR_DAIF 0x3c0UL
#define SCTLR_UMA (1UL << 9)
#define SCTLR_NTWI (1UL << 16)

static u64 call_branch(u64 target)
{
    register u64 x0 asm("x0") = target;
    asm volatile("blr x0" : "+r"(x0) : : "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9",
                 "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x30", "memory", "cc");
    return x0;
}

int main(void)
{
    struct exc_record r;
    u64 n;
    const struct entry_state *e = &entry_state[0];

    print("exceptions: entry CurrentEL %lx SPSel %lx DAIF 0x%lx MMU %lx\n", e->currentel >> 2,
          e->spsel, e->daif, e->sctlr & 1);
    CHECK_EQ(e->currentel, 1 << 2, "CurrentEL at entry (EL1)");
    CHECK_EQ(e->spsel, 1, "SPSel at entry (EL1h)");
    CHECK_EQ(e->daif, 0x3c0, "DAIF at entry (all masked)");
    CHECK_EQ(e->sctlr & 1, 0, "SCTLR_EL1.M at entry");
    CHECK_EQ(read_sysreg(vbar_el1), (u64)vectors, "VBAR_EL1 reads back");

    /* EL1h: undefined instruction, BRK, SVC */
    expect_exception();
    el1_udf(0x60000000);
    n = took_exception(&r);
    check_exc("el1 udf", n, &r, VEC_CUR_SPX_SYNC, 0x02000000, (u64)el1_udf_insn, ANY,
              0x60000000 | SPSR_DAIF | SPSR_EL1H);

    expect_exception();
    u64 nzcv = el1_brk(0x20000000);
    n = took_exception(&r);
    check_exc("el1 brk", n, &r, VEC_CUR_SPX_SYNC, 0xf2001234, (u64)el1_brk_insn, ANY,
              0x20000000 | SPSR_DAIF | SPSR_EL1H);
    CHECK_EQ(nzcv, 0x20000000, "NZCV after ERET from BRK");

    expect_exception();
    set_return_nzcv(0x90000000);                /* the handler rewrites SPSR_EL1.NZCV */
    nzcv = el1_brk(0x40000000);
    n = took_exception(&r);
    print("eret: NZCV 0x%08lx from SPSR 0x90000000\n", nzcv);
    CHECK_EQ(n, 1, "brk taken once");
    CHECK_EQ(nzcv, 0x90000000, "ERET restores PSTATE.NZCV from SPSR_EL1");

    expect_exception();
    el1_svc(0x80000000);
    n = took_exception(&r);
    check_exc("el1 svc", n, &r, VEC_CUR_SPX_SYNC, 0x56000042, (u64)el1_svc_insn + 4, ANY,
              0x80000000 | SPSR_DAIF | SPSR_EL1H);

    /* EL1t: current EL with SP0 vector */
    expect_exception();
    el1t_brk(0x10000000);
    n = took_exception(&r);
    check_exc("el1t brk", n, &r, VEC_CUR_SP0_SYNC, 0xf2000077, (u64)el1t_brk_insn, ANY,
              0x10000000 | SPSR_DAIF | SPSR_EL1T);
    CHECK_EQ(read_sysreg(spsel), 1, "SPSel back to 1");

    /* a data abort: a load from a physical address nothing decodes (MMU off) */
    expect_exception();
    el1_ldr(UNMAPPED_PA + 0x18);
    n = took_exception(&r);
    check_exc("el1 load unmapped", n, &r, VEC_CUR_SPX_SYNC, 0x96000010, (u64)el1_ldr_insn,
              UNMAPPED_PA + 0x18, SPSR_DAIF | SPSR_EL1H);

    /* PC alignment fault: a branch to a target that is not a multiple of 4 */
    expect_exception();
    call_branch((u64)pc_misaligned + 2);
    n = took_exception(&r);
    check_exc("pc alignment", n, &r, VEC_CUR_SPX_SYNC, 0x8a000000, (u64)pc_misaligned + 2,
              (u64)pc_misaligned + 2, ANY);

    /* EL0 through ERET, back through SVC */
    u64 v = run_el0(el0_nzcv, 0xa0000000, 0);
    print("el0: round trip, NZCV 0x%08lx\n", v);
    CHECK_EQ(v, 0xa0000000, "EL0 program result");
    CHECK_EQ(read_sysreg(CurrentEL), 1 << 2, "back at EL1");
    CHECK_EQ(read_sysreg(spsel), 1, "back on SP_EL1");

    expect_exception();
    run_el0(el0_svc, 0x50000000, 0);
    n = took_exception(&r);
    check_exc("el0 svc", n, &r, VEC_LOW64_SYNC, 0x56000007, (u64)el0_svc_insn + 4, ANY,
              0x50000000);

    expect_exception();
    run_el0(el0_udf, 0, 0);
    n = took_exception(&r);
    check_exc("el0 udf", n, &r, VEC_LOW64_SYNC, 0x02000000, (u64)el0_udf_insn, ANY, 0);

    expect_exception();
    run_el0(el0_brk, 0, 0);
    n = took_exception(&r);
    check_exc("el0 brk", n, &r, VEC_LOW64_SYNC, 0xf200beef, (u64)el0_brk_insn, ANY, 0);

    /* EL1-only registers are UNDEFINED at EL0 */
    expect_exception();
    v = run_el0(el0_mrs_sctlr, 0, 0);
    n = took_exception(&r);
    check_exc("el0 mrs sctlr_el1", n, &r, VEC_LOW64_SYNC, 0x02000000,
              (u64)el0_mrs_sctlr_insn, ANY, 0);
    CHECK_EQ(v, 0x5a, "destination untouched by the trapped MRS");

    expect_exception();
    v = run_el0(el0_currentel, 0, 0);
    n = took_exception(&r);
    check_exc("el0 mrs currentel", n, &r, VEC_LOW64_SYNC, 0x02000000,
              (u64)el0_currentel_insn, ANY, 0);

    /* DAIF at EL0: trapped (EC 0x18) unless SCTLR_EL1.UMA */
    u64 sctlr = read_sysreg(sctlr_el1);
    write_sysreg(sctlr & ~SCTLR_UMA, sctlr_el1);
    isb();
    expect_exception();
    v = run_el0(el0_mrs_daif, 0, SPSR_DAIF);
    n = took_exception(&r);
    check_exc("el0 mrs daif, UMA=0", n, &r, VEC_LOW64_SYNC, 0x6232d005,
              (u64)el0_mrs_daif_insn, ANY, SPSR_DAIF);
    write_sysreg(sctlr | SCTLR_UMA, sctlr_el1);
    isb();
    expect_exception();
    v = run_el0(el0_mrs_daif, 0, SPSR_DAIF);
    n = took_exception(NULL);
    print("el0 mrs daif, UMA=1: 0x%lx, %lu exceptions\n", v, n);
    CHECK_EQ(n, 0, "EL0 DAIF read with UMA=1 does not trap");
    CHECK_EQ(v, SPSR_DAIF, "EL0 reads its own DAIF");

    /* WFI at EL0 traps (EC 0x01) when SCTLR_EL1.nTWI is 0 */
    write_sysreg(sctlr & ~SCTLR_NTWI, sctlr_el1);
    isb();
    expect_exception();
    run_el0(el0_wfi, 0, 0);
    n = took_exception(&r);
    check_exc("el0 wfi, nTWI=0", n, &r, VEC_LOW64_SYNC, 0x07e00000, (u64)el0_wfi_insn, ANY, 0);
    write_sysreg(sctlr, sctlr_el1);
    isb();
    return 0;
}
