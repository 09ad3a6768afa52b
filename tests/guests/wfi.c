/* WFI and WFE: WFI wakes for an interrupt that PSTATE.I masks and returns at once when one is
 * already pending; a secondary sleeps in WFI until an SGI (taken, or masked and acknowledged
 * by hand) and until its own virtual timer fires; WFE returns for SEVL and for another CPU's
 * SEV. */
#include "rt.h"

enum { PH_NONE, PH_WFI_SGI, PH_WFI_MASKED, PH_WFI_TIMER, PH_WFE, PH_DONE };

static volatile u64 phase, armed, woke, wake_count, wake_count_final, took_intid, isr_at_wake, flag;
static volatile u32 irqs[NCPU_MAX];

void irq_handler(u32 intid, struct frame *f)
{
    (void)f;
    took_intid = intid;
    irqs[this_cpu()]++;
    if (intid == PPI_VTIMER)
        write_sysreg(0, cntv_ctl_el0);
    isb();
}

void secondary_main(u64 ctx)
{
    (void)ctx;
    gic_cpu_init();
    gic_enable(1);
    gic_enable(2);
    gic_enable(PPI_VTIMER);
    for (;;) {
        while (armed == 0)
            wfe();
        u64 ph = phase;
        if (ph == PH_DONE)
            return;
        if (ph == PH_WFI_SGI || ph == PH_WFI_TIMER) {
            if (ph == PH_WFI_TIMER) {
                write_sysreg(cntfrq() / 50, cntv_tval_el0);     /* 20 ms */
                write_sysreg(CNT_ENABLE, cntv_ctl_el0);
                isb();
            }
            irq_enable();
            u32 before = irqs[1];
            while (irqs[1] == before) {
                wake_count++;
                wfi();
            }
            irq_disable();
        } else if (ph == PH_WFI_MASKED) {
            while (!(read_sysreg(isr_el1) & 0x80)) {
                wake_count++;
                wfi();
            }
            isr_at_wake = read_sysreg(isr_el1);
            took_intid = gic_ack();
            gic_eoi((u32)took_intid);
        } else if (ph == PH_WFE) {
            asm volatile("sevl; wfe" ::: "memory");      /* consumes the local event */
            while (!flag) {
                wake_count++;
                wfe();
            }
        }
        dsb(sy);
        wake_count_final = wake_count;
        armed = 0;
        dsb(sy);
        woke = ph;
        dsb(sy);
        sev();
    }
}

static void start_phase(u64 ph)
{
    woke = 0;
    wake_count = 0;
    phase = ph;
    dsb(sy);
    armed = 1;
    dsb(sy);
    sev();
}

/* wait until cpu 1 has reached its WFI/WFE loop, then give it 20 ms to misbehave */
static void let_it_sleep(void)
{
    u64 end = cntvct() + 5 * cntfrq();
    while (wake_count == 0 && woke == 0 && cntvct() < end)
        delay_us(50);
    delay_us(20000);
}

static int wait_woke(u64 ph)
{
    u64 end = cntvct() + 5 * cntfrq();
    while (woke != ph && cntvct() < end)
        delay_us(50);
    return woke == ph;
}

int main(void)
{
    gic_dist_init();
    gic_cpu_init();
    gic_enable(PPI_VTIMER);
    u64 f = cntfrq();

    /* WFI with the timer interrupt masked by PSTATE.I: wakes at the deadline, not taken */
    write_sysreg(f / 500, cntv_tval_el0);                    /* 2 ms */
    write_sysreg(CNT_ENABLE, cntv_ctl_el0);
    isb();
    u64 cval = read_sysreg(cntv_cval_el0);
    int wakes = 0;
    do {                          /* at least one WFI, even if a slow emulator got here late */
        wakes++;
        wfi();
    } while (!(read_sysreg(isr_el1) & 0x80) && wakes < 1000);
    u64 now = cntvct();
    print("wfi, I masked: woke after deadline %d, wake-ups %d, ISR_EL1 %lx, taken %u\n",
          now >= cval, wakes, read_sysreg(isr_el1), irqs[0]);
    CHECK(now >= cval, "WFI returned before the timer fired");
    CHECK_EQ(wakes, 1, "WFI returns once, for the interrupt");
    CHECK_EQ(irqs[0], 0, "masked interrupt taken");

    /* still pending: WFI returns at once; unmasking takes it */
    wfi();
    wfi();
    print("wfi with an interrupt pending: returned\n");
    irq_enable();
    isb();
    irq_disable();
    print("unmasked: taken %u, INTID %lu\n", irqs[0], took_intid);
    CHECK_EQ(irqs[0], 1, "interrupt taken after unmasking");
    CHECK_EQ(took_intid, PPI_VTIMER, "INTID");

    /* the secondary */
    s64 r = cpu_on(1, 0);
    CHECK(r == 0, "CPU_ON(cpu 1) = %ld", r);

    /* it sleeps in WFI (interrupts unmasked) until an SGI */
    start_phase(PH_WFI_SGI);
    let_it_sleep();
    u64 asleep = wake_count;
    print("cpu1 in WFI for 20 ms: woken %lu times, done %d\n", asleep, woke == PH_WFI_SGI);
    CHECK_EQ(asleep, 1, "cpu 1 loops in WFI without an interrupt");
    CHECK(woke != PH_WFI_SGI, "cpu 1 left WFI without an interrupt");
    gic_send_sgi(1, 1);
    int ok = wait_woke(PH_WFI_SGI);
    print("SGI 1 to cpu1: woke %d, took INTID %lu, WFI returned %lu times\n", ok, took_intid,
          wake_count_final);
    CHECK(ok, "cpu 1 did not wake for SGI 1");
    CHECK_EQ(took_intid, 1, "cpu 1 took SGI 1");
    CHECK_EQ(wake_count_final, 1, "cpu 1 woke once");

    /* with PSTATE.I set it still wakes, and acknowledges by hand */
    start_phase(PH_WFI_MASKED);
    let_it_sleep();
    CHECK(woke != PH_WFI_MASKED, "cpu 1 left a masked WFI without an interrupt");
    gic_send_sgi(2, 1);
    ok = wait_woke(PH_WFI_MASKED);
    print("SGI 2 to cpu1, masked: woke %d, ISR_EL1 %lx, IAR1 %lu, WFI returned %lu times\n", ok,
          isr_at_wake, took_intid, wake_count_final);
    CHECK(ok, "cpu 1 did not wake for a masked SGI");
    CHECK_EQ(isr_at_wake, 0x80, "ISR_EL1 on cpu 1");
    CHECK_EQ(took_intid, 2, "cpu 1 acknowledged SGI 2");
    CHECK_EQ(wake_count_final, 1, "cpu 1 woke once (masked)");

    /* its own virtual timer wakes it; CPU 0's timer stays quiet */
    u32 cpu0_irqs = irqs[0];
    start_phase(PH_WFI_TIMER);
    ok = wait_woke(PH_WFI_TIMER);
    print("cpu1 virtual timer: woke %d, INTID %lu; cpu0 interrupts %u\n", ok, took_intid,
          irqs[0] - cpu0_irqs);
    CHECK(ok, "cpu 1 did not wake for its timer");
    CHECK_EQ(took_intid, PPI_VTIMER, "cpu 1 took its PPI 27");
    CHECK_EQ(irqs[0], cpu0_irqs, "cpu 1's timer interrupted cpu 0");

    /* WFE: SEVL then WFE falls through; another CPU's SEV wakes it */
    flag = 0;
    start_phase(PH_WFE);
    let_it_sleep();
    CHECK(woke != PH_WFE, "cpu 1 passed WFE without the flag");
    flag = 1;
    dsb(sy);
    sev();
    ok = wait_woke(PH_WFE);
    print("wfe/sev: cpu1 woke %d\n", ok);
    CHECK(ok, "cpu 1 did not leave WFE after SEV");

    phase = PH_DONE;
    dsb(sy);
    armed = 1;
    dsb(sy);
    sev();
    u64 end = cntvct() + cntfrq();
    while (psci_call(PSCI_AFFINITY_INFO, cpu_mpidr(1), 0, 0) != 1 && cntvct() < end)
        delay_us(50);
    print("cpu1 off: %d\n", psci_call(PSCI_AFFINITY_INFO, cpu_mpidr(1), 0, 0) == 1);
    return 0;
}
