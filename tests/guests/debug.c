/* Self-hosted debug as ptrace uses it on EL0: software step (MDSCR_EL1.SS with SPSR.SS), a
 * hardware breakpoint (DBGBVR0/DBGBCR0) and watchpoints (DBGWVR0/DBGWCR0) on loads and
 * stores, each taken to EL1 with its syndrome; and software step of EL1 itself as a kernel
 * debugger uses it (MDSCR_EL1.KDE, PSTATE.D clear). */
#include "rt.h"

asm(".text\n"
    ".global dbg_fn, dbg_a, dbg_b, dbg_c\n"
    "dbg_fn:\n"
    "dbg_a: add x0, x0, #1\n"
    "dbg_b: add x0, x0, #2\n"
    "dbg_c: add x0, x0, #4\n"
    "    ret\n");
u64 dbg_fn(u64);
extern char dbg_a[], dbg_b[], dbg_c[];

/* fn(arg) entered by an ERET to EL1h with SPSR.SS = 1 and PSTATE.D clear (A, I, F masked),
 * so EL1 itself is stepped; D is masked again on the way back */
asm(".text\n"
    ".global el1_step_call\n"
    "el1_step_call:\n"
    "    stp x29, x30, [sp, #-16]!\n"
    "    msr elr_el1, x0\n"
    "    mov x0, x1\n"
    "    mov x2, #0x1c5\n"
    "    orr x2, x2, #0x200000\n"
    "    msr spsr_el1, x2\n"
    "    adr x30, 1f\n"
    "    eret\n"
    "1:  msr daifset, #8\n"
    "    ldp x29, x30, [sp], #16\n"
    "    ret\n");
u64 el1_step_call(u64 (*fn)(u64), u64 arg);

#define MDSCR_SS (1UL << 0)
#define MDSCR_KDE (1UL << 13)
#define MDSCR_MDE (1UL << 15)
#define SPSR_SS (1UL << 21)

static volatile u64 steps, step_elr[4], step_esr[4], step_spsr[4];

/* software step exceptions: record, step once more, then stop stepping */
int sync_hook(struct frame *f)
{
    u64 ec = ESR_EC(f->esr);
    if (ec != 0x32 && ec != 0x33)
        return 0;
    u64 i = steps++;
    if (i < 4) {
        step_elr[i] = f->elr;
        step_esr[i] = f->esr;
        step_spsr[i] = f->spsr;
    }
    if (i == 0) {
        f->spsr |= SPSR_SS;                     /* step the next instruction too */
    } else {
        write_sysreg(read_sysreg(mdscr_el1) & ~MDSCR_SS, mdscr_el1);
        isb();
    }
    return 1;
}

/* dbg_fn stepped from its first instruction: two step exceptions, at insns 2 and 3 */
static void check_steps(const char *what, u64 v, u64 esr)
{
    print("%s: %lu steps, result %lu\n", what, steps, v);
    for (u64 i = 0; i < steps && i < 4; i++)
        print("%s %lu: esr 0x%08lx spsr 0x%08lx at %s\n", what, i, step_esr[i], step_spsr[i],
              step_elr[i] == (u64)dbg_b ? "insn 2" : step_elr[i] == (u64)dbg_c ? "insn 3" : "?");
    CHECK(steps == 2, "%s: %lu software step exceptions, want 2", what, steps);
    CHECK(v == 7, "%s: stepped code result %lu, want 7", what, v);
    CHECK(step_elr[0] == (u64)dbg_b && step_elr[1] == (u64)dbg_c, "%s: ELRs", what);
    CHECK(step_esr[0] == esr && step_esr[1] == esr, "%s: ESR", what);
}

static volatile u64 watched[4] __attribute__((aligned(64)));

int main(void)
{
    u64 dfr0 = read_sysreg(id_aa64dfr0_el1);
    print("debug: DebugVer %lu, %lu breakpoints, %lu watchpoints\n", dfr0 & 15,
          ((dfr0 >> 12) & 15) + 1, ((dfr0 >> 20) & 15) + 1);
    CHECK(((dfr0 >> 12) & 15) >= 1 && ((dfr0 >> 20) & 15) >= 1, "ID_AA64DFR0_EL1 %lx", dfr0);
    write_sysreg(0, oslar_el1);                 /* unlock the OS lock */
    write_sysreg(0, osdlr_el1);
    isb();
    CHECK_EQ(read_sysreg(oslsr_el1) & 2, 0, "OSLSR_EL1.OSLK after OSLAR_EL1 = 0");

    /* software step: ERET with SPSR.SS = 1 runs one instruction, then a step exception */
    write_sysreg(MDSCR_SS | MDSCR_KDE, mdscr_el1);
    isb();
    u64 v = run_el0(dbg_fn, 0, SPSR_SS);
    check_steps("step", v, 0xcb000022);
    CHECK(step_spsr[0] == 0 && step_spsr[1] == 0, "SPSR.SS after a step");
    write_sysreg(0, mdscr_el1);
    isb();

    /* software step of EL1 itself: MDSCR_EL1.KDE with PSTATE.D clear, taken to the current EL */
    steps = 0;
    write_sysreg(MDSCR_SS | MDSCR_KDE, mdscr_el1);
    isb();
    v = el1_step_call(dbg_fn, 0);
    check_steps("el1 step", v, 0xcf000022);
    write_sysreg(0, mdscr_el1);
    isb();

    /* KDE clear: EL1 is not stepped even with PSTATE.D clear and SPSR.SS set */
    steps = 0;
    write_sysreg(MDSCR_SS, mdscr_el1);
    isb();
    v = el1_step_call(dbg_fn, 0);
    print("el1 without KDE: %lu steps, result %lu\n", steps, v);
    CHECK_EQ(steps, 0, "EL1 stepped without MDSCR_EL1.KDE");
    write_sysreg(0, mdscr_el1);
    isb();

    /* hardware breakpoint on dbg_b at EL0 */
    struct exc_record r;
    write_sysreg((u64)dbg_b, dbgbvr0_el1);
    write_sysreg(1 | (2 << 1) | (0xf << 5), dbgbcr0_el1);      /* E, PMC = EL0, BAS */
    write_sysreg(MDSCR_MDE, mdscr_el1);
    isb();
    expect_exception();
    v = run_el0(dbg_fn, 0, 0);
    u64 n = took_exception(&r);
    check_exc("breakpoint", n, &r, VEC_LOW64_SYNC, 0xc2000022, (u64)dbg_b, ANY, 0);
    print("breakpoint: result %lu\n", v);
    CHECK_EQ(v, 5, "result with the breakpointed instruction skipped");
    write_sysreg(1 | (1 << 1) | (0xf << 5), dbgbcr0_el1);      /* PMC = EL1 only */
    isb();
    expect_exception();
    v = run_el0(dbg_fn, 0, 0);
    n = took_exception(NULL);
    print("breakpoint for EL1 only, run at EL0: %lu exceptions, result %lu\n", n, v);
    CHECK(n == 0 && v == 7, "EL1-only breakpoint fired at EL0");
    write_sysreg(0, dbgbcr0_el1);

    /* watchpoints on watched[1] at EL0: load, store, and a load next to it */
    u64 wa = (u64)&watched[1];
    write_sysreg(wa, dbgwvr0_el1);
    write_sysreg(1 | (2 << 1) | (3 << 3) | (0xff << 5), dbgwcr0_el1);  /* E, EL0, ld+st, 8 B */
    isb();
    expect_exception();
    v = run_el0(probe_ld64, wa, 0);
    n = took_exception(&r);
    check_exc("watchpoint load", n, &r, VEC_LOW64_SYNC, 0xd2000022, (u64)probe_ld64_insn, ANY, 0);
    CHECK_EQ(r.far, wa, "watchpoint FAR");
    expect_exception();
    run_el0(probe_st64, wa, 0);
    n = took_exception(&r);
    check_exc("watchpoint store", n, &r, VEC_LOW64_SYNC, 0xd2000062, (u64)probe_st64_insn, ANY, 0);
    CHECK_EQ(watched[1], 0, "a watchpoint-aborted store wrote memory");
    expect_exception();
    run_el0(probe_ld64, wa + 8, 0);
    n = took_exception(NULL);
    print("load next to the watched word: %lu exceptions\n", n);
    CHECK_EQ(n, 0, "watchpoint fired outside its bytes");
    write_sysreg(1 | (2 << 1) | (2 << 3) | (0xff << 5), dbgwcr0_el1);  /* stores only */
    isb();
    expect_exception();
    run_el0(probe_ld64, wa, 0);
    n = took_exception(NULL);
    print("store-only watchpoint, load: %lu exceptions\n", n);
    CHECK_EQ(n, 0, "store-only watchpoint fired on a load");
    write_sysreg(0, dbgwcr0_el1);
    write_sysreg(0, mdscr_el1);
    isb();
    return 0;
}
