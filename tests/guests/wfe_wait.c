/* WFE as a wait for an event (dbt-vm only: QEMU's TCG treats WFE as a yield, so its counts are
 * not comparable).  Run with --icount, where the counts are exact.
 *
 * - A secondary in a WFE loop while CPU 0 sleeps in WFI for 20 ms wakes a few times (when
 *   CPU 0 runs), not once per scheduling round.
 * - With the event stream on (CNTKCTL_EL1.EVNTEN, a transition of counter bit EVNTI), a WFE
 *   loop that waits for the counter alone ends, one wake-up per event period.
 * - Its own unmasked timer interrupt ends a WFE; with PSTATE.I set the pending interrupt does
 *   not (only the event stream does, once a period).
 *
 * CPU 0 sleeps in WFI (its timer masked, or waiting for SGI 1) while the secondary waits, so
 * nothing but the event under test can end the secondary's WFE. */
#include "rt.h"

#define EVNTI 15                         /* an event every 2^16 ticks: 1.05 ms at 62.5 MHz */
#define KCTL_EVNTEN (1UL << 2)
#define PERIOD (1UL << (EVNTI + 1))

enum { PH_NONE, PH_FLAG, PH_STREAM, PH_TIMER, PH_MASKED, PH_DONE };

static volatile u64 phase, flag, wakes, done, timer_irqs;

void irq_handler(u32 intid, struct frame *f)
{
    (void)f;
    if (intid == PPI_VTIMER) {
        write_sysreg(0, cntv_ctl_el0);
        timer_irqs++;
    }
    isb();
}

static void tell_cpu0(void)
{
    dsb(sy);
    done = 1;
    dsb(sy);
    gic_send_sgi(1, 0);
}

/* wait for counter ticks with WFE only: the event stream must end each wait */
static u64 wfe_for(u64 ticks)
{
    u64 n = 0, start = cntvct();
    while (cntvct() - start < ticks) {
        n++;
        wfe();
    }
    return n;
}

void secondary_main(u64 ctx)
{
    (void)ctx;
    gic_cpu_init();
    gic_enable(PPI_VTIMER);
    for (;;) {
        while (phase == PH_NONE)
            wfe();
        u64 ph = phase, n = 0;
        if (ph == PH_DONE)
            return;
        if (ph == PH_FLAG) {
            while (!flag) {
                n++;
                wfe();
            }
        } else if (ph == PH_STREAM) {
            write_sysreg(KCTL_EVNTEN | (EVNTI << 4), cntkctl_el1);
            isb();
            n = wfe_for(10 * PERIOD);
            write_sysreg(0, cntkctl_el1);
        } else if (ph == PH_TIMER) {
            u64 before = timer_irqs;
            write_sysreg(cntfrq() / 200, cntv_tval_el0);            /* 5 ms */
            write_sysreg(CNT_ENABLE, cntv_ctl_el0);
            isb();
            irq_enable();
            while (timer_irqs == before) {
                n++;
                wfe();
            }
            irq_disable();
        } else if (ph == PH_MASKED) {
            write_sysreg(1, cntv_tval_el0);                         /* pending at once */
            write_sysreg(CNT_ENABLE, cntv_ctl_el0);
            isb();
            while (!(read_sysreg(isr_el1) & 0x80))
                ;
            write_sysreg(KCTL_EVNTEN | (EVNTI << 4), cntkctl_el1);
            isb();
            n = wfe_for(10 * PERIOD);
            write_sysreg(0, cntkctl_el1);
            write_sysreg(0, cntv_ctl_el0);
            isb();
        }
        wakes = n;
        phase = PH_NONE;
        tell_cpu0();
    }
}

/* run a phase on CPU 1 and sleep in WFI until its SGI 1 says it is done */
static u64 run_phase(u64 ph)
{
    done = 0;
    dsb(sy);
    phase = ph;
    dsb(sy);
    sev();
    while (!done) {
        wfi();
        if (read_sysreg(isr_el1) & 0x80)
            gic_eoi(gic_ack());
    }
    return wakes;
}

int main(void)
{
    gic_dist_init();
    gic_cpu_init();
    gic_enable(1);
    gic_enable(PPI_VTIMER);
    s64 r = cpu_on(1, 0);
    CHECK(r == 0, "CPU_ON(cpu 1) = %ld", r);

    /* CPU 1 waits in WFE for a flag; CPU 0 sleeps 20 ms in WFI (timer masked), then sets it */
    done = 0;
    phase = PH_FLAG;
    dsb(sy);
    sev();
    write_sysreg(cntfrq() / 50, cntv_tval_el0);
    write_sysreg(CNT_ENABLE, cntv_ctl_el0);
    isb();
    while (!(read_sysreg(isr_el1) & 0x80))
        wfi();
    write_sysreg(0, cntv_ctl_el0);
    flag = 1;
    dsb(sy);
    sev();
    while (!done)
        wfi();
    gic_eoi(gic_ack());
    print("wfe while cpu0 slept 20 ms: %lu wake-ups\n", wakes);
    CHECK(wakes <= 4, "cpu 1 woke %lu times from WFE with nothing to wake it", wakes);

    u64 n = run_phase(PH_STREAM);
    print("event stream, 10 periods: %lu wake-ups\n", n);
    CHECK(n >= 10 && n <= 11, "%lu WFE wake-ups over 10 event-stream periods", n);

    n = run_phase(PH_TIMER);
    print("own timer interrupt: %lu wake-ups, %lu taken\n", n, timer_irqs);
    CHECK(n >= 1 && n <= 2, "%lu WFE wake-ups before the timer interrupt", n);
    CHECK_EQ(timer_irqs, 1, "timer interrupts taken");

    n = run_phase(PH_MASKED);
    print("masked pending interrupt, 10 periods: %lu wake-ups\n", n);
    CHECK(n >= 10 && n <= 11, "%lu WFE wake-ups with a masked interrupt pending", n);

    phase = PH_DONE;
    dsb(sy);
    sev();
    return 0;
}
