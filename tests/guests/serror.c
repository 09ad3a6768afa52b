/* SError (dbt-vm only: no device of QEMU's virt raises one without RAS).  Each time the guest
 * prints "waiting for an SError", the host makes one pending on CPU 0 (VCPU.raise_serror).
 *
 * - With PSTATE.A set it stays pending: ISR_EL1.A reads 1, and WFI returns for it.
 * - Unmasking PSTATE.A takes it at once at the current EL's SError vector (0x380), ESR_EL1
 *   EC 0x2F with IL, ELR the instruction after the unmasking MSR, SPSR with A clear.
 * - It is taken once: after the handler ISR_EL1.A is 0.
 * - From EL0 (where PSTATE.A is clear) it goes to the lower-EL SError vector (0x580). */
#include "rt.h"

static volatile u64 serrors, last_slot, last_esr, last_elr, last_spsr;
static volatile u64 el0_spin;

int async_hook(struct frame *f, u64 slot)
{
    if ((slot & 3) != 3)
        return 0;
    serrors++;
    last_slot = slot;
    last_esr = f->esr;
    last_elr = f->elr;
    last_spsr = f->spsr;
    if (slot == VEC_LOW64_SERROR)
        el0_spin = 0;                            /* let the EL0 loop finish */
    return 1;
}

/* spins at EL0 until the SError handler clears el0_spin */
static u64 spin_el0(u64 arg)
{
    (void)arg;
    while (el0_spin)
        ;
    return 42;
}

asm(".text\n"
    ".global unmask_a, after_unmask\n"
    "unmask_a:\n"
    "    msr daifclr, #4\n"
    "after_unmask:\n"
    "    msr daifset, #4\n"
    "    ret\n");
void unmask_a(void);
extern char after_unmask[];

int main(void)
{
    print("waiting for an SError\n");
    u64 spins = 0;
    while (!(read_sysreg(isr_el1) & 0x100))
        spins++;
    print("pending and masked: ISR_EL1 %lx, taken %lu\n", read_sysreg(isr_el1), serrors);
    CHECK_EQ(serrors, 0, "SError taken while PSTATE.A was set");
    wfi();
    print("WFI returned with it pending\n");

    unmask_a();
    print("unmasked: taken %lu, vector offset %lx, esr %lx, elr at %s, spsr %lx, ISR_EL1 %lx\n",
          serrors, (last_slot & 15) * 0x80, last_esr, last_elr == (u64)after_unmask ? "the next "
          "instruction" : "?", last_spsr, read_sysreg(isr_el1));
    CHECK_EQ(serrors, 1, "SError taken once after unmasking");
    CHECK_EQ(last_slot, VEC_CUR_SPX_SERROR, "vector");
    CHECK_EQ(last_esr, 0xbe000000UL, "ESR_EL1");
    CHECK(last_elr == (u64)after_unmask, "ELR_EL1 %lx", last_elr);
    CHECK_EQ(last_spsr & 0x3ff, 0x2c5, "SPSR_EL1 (EL1h, D, I, F; A clear)");
    CHECK_EQ(read_sysreg(isr_el1) & 0x100, 0, "ISR_EL1.A after the SError was taken");

    el0_spin = 1;
    print("waiting for an SError\n");
    u64 v = run_el0(spin_el0, 0, 0);
    print("from EL0: result %lu, taken %lu, vector offset %lx, esr %lx\n", v, serrors,
          (last_slot & 15) * 0x80, last_esr);
    CHECK_EQ(v, 42, "EL0 code result");
    CHECK_EQ(serrors, 2, "SError taken from EL0");
    CHECK_EQ(last_slot, VEC_LOW64_SERROR, "vector from EL0");
    return 0;
}
