/* SGIs between CPUs: CPU 0 starts every other CPU with PSCI CPU_ON, then sends SGIs through
 * ICC_SGI1R_EL1 to one CPU by target list, to several, to all but itself (IRM) and to itself;
 * a secondary sends to CPU 0 and to another secondary.  Each SGI must be acknowledged (IAR1 =
 * its INTID) by exactly the CPUs it was sent to. */
#include "rt.h"

#define DOORBELL 14                 /* wakes a secondary to look at its command */
enum { CMD_NONE, CMD_SEND };

static volatile u32 counts[NCPU_MAX][16];
static volatile u64 ready[NCPU_MAX], stop, cmd[NCPU_MAX], cmd_sgi1r[NCPU_MAX][2];

void irq_handler(u32 intid, struct frame *f)
{
    (void)f;
    if (intid < 16)
        counts[this_cpu()][intid]++;
    else
        fatal("cpu %d: interrupt %u", this_cpu(), intid);
}

void secondary_main(u64 ctx)
{
    int me = this_cpu();
    if (ctx != 0x5151000000000000UL + (u64)me)
        fatal("cpu %d: context id %lx", me, ctx);
    gic_cpu_init();
    mmio_w32(gicr_base(me) + GICR_ISENABLER0, 0xffff);
    dsb(sy);
    ready[me] = 1;
    dsb(sy);
    sev();
    irq_enable();
    while (!stop) {
        if (cmd[me] == CMD_SEND) {
            for (int k = 0; k < 2; k++) {
                dsb(ishst);
                write_sysreg(cmd_sgi1r[me][k], icc_sgi1r_el1);
                isb();
            }
            cmd[me] = CMD_NONE;
            dsb(sy);
        }
        wfi();
    }
}

static u64 sgi1r(u32 intid, u32 targets)
{
    return (u64)targets | ((u64)intid << 24);           /* Aff1..3 = 0: CPUs 0-15 */
}

/* wait until counts[cpu][intid] reaches want (1 s at most) */
static int wait_count(int cpu, u32 intid, u32 want)
{
    u64 end = cntvct() + cntfrq();
    while (counts[cpu][intid] < want && cntvct() < end)
        delay_us(20);
    return counts[cpu][intid] >= want;
}

static void settle(void)
{
    delay_us(20000);                                     /* let strays arrive, if any */
}

static void expect_counts(const char *what, u32 intid, u32 mask)
{
    int n = GUEST_SMP;
    print("%s: SGI %u acknowledged by", what, intid);
    for (int c = 0; c < n; c++)
        if (counts[c][intid])
            print(" cpu%d(x%u)", c, counts[c][intid]);
    puts("\n");
    for (int c = 0; c < n; c++) {
        u32 want = (mask >> c) & 1;
        if (counts[c][intid] != want)
            check_failed("%s: cpu %d took SGI %u %u times, want %u", what, c, intid,
                         counts[c][intid], want);
    }
}

/* CPU 0 keeps PSTATE.I set: its SGIs are checked pending, then acknowledged by hand */
static void cpu0_take(const char *what, u32 intid)
{
    u64 end = cntvct() + cntfrq();
    while (!gic_pending(intid) && cntvct() < end)
        delay_us(20);
    u64 isr = read_sysreg(isr_el1);
    u32 iar = gic_ack();
    print("%s: cpu0 ISR_EL1 %lx, IAR1 %u\n", what, isr, iar);
    CHECK_EQ(isr, 0x80, "ISR_EL1 with an SGI pending");
    CHECK_EQ(iar, intid, "ICC_IAR1_EL1 on cpu 0");
    if (iar < 1020) {
        counts[0][iar]++;
        gic_eoi(iar);
    }
}

int main(void)
{
    int n = GUEST_SMP;
    gic_dist_init();
    gic_cpu_init();
    mmio_w32(gicr_base(0) + GICR_ISENABLER0, 0xffff);
    dsb(sy);

    /* every redistributor frame: affinity and processor number in order, Last on the last */
    for (int c = 0; c < n; c++) {
        u64 t = mmio_r64(GICR_BASE + c * GICR_STRIDE + GICR_TYPER);
        print("GICR frame %d: affinity %lx processor %lu last %lu\n", c, t >> 32,
              (t >> 8) & 0xffff, (t >> 4) & 1);
        CHECK_EQ(t >> 32, cpu_mpidr(c), "GICR_TYPER.Affinity_Value");
        CHECK_EQ((t >> 8) & 0xffff, (u64)c, "GICR_TYPER.Processor_Number");
        CHECK_EQ((t >> 4) & 1, c == n - 1, "GICR_TYPER.Last");
    }

    for (int c = 1; c < n; c++) {
        s64 r = cpu_on(c, 0x5151000000000000UL + (u64)c);
        CHECK(r == 0, "CPU_ON(cpu %d) = %ld", c, r);
    }
    u64 end = cntvct() + 5 * cntfrq();
    for (int c = 1; c < n; c++)
        while (!ready[c] && cntvct() < end)
            delay_us(50);
    for (int c = 1; c < n; c++)
        if (!ready[c])
            fatal("cpu %d did not come up", c);
    print("sgi: %d cpus up\n", n);

    /* one SGI to each secondary, by target list; INTID = CPU number */
    for (int c = 1; c < n; c++) {
        gic_send_sgi((u32)c, c);
        CHECK(wait_count(c, (u32)c, 1), "cpu %d did not take SGI %d", c, c);
    }
    settle();
    for (int c = 1; c < n; c++)
        expect_counts("to one cpu", (u32)c, 1u << c);

    /* several targets in one write */
    u32 others = ((1u << n) - 1) & ~1u;
    dsb(ishst);
    write_sysreg(sgi1r(10, others), icc_sgi1r_el1);
    isb();
    for (int c = 1; c < n; c++)
        CHECK(wait_count(c, 10, 1), "cpu %d did not take SGI 10", c);
    settle();
    expect_counts("target list", 10, others);

    /* all but self (IRM = 1) */
    gic_send_sgi_others(8);
    for (int c = 1; c < n; c++)
        CHECK(wait_count(c, 8, 1), "cpu %d did not take SGI 8", c);
    settle();
    print("all but self: pending on cpu0 %d\n", gic_pending(8));
    CHECK_EQ(gic_pending(8), 0, "IRM=1 SGI pending on the sender");
    expect_counts("all but self", 8, others);

    /* to self */
    gic_send_sgi(9, 0);
    cpu0_take("to self", 9);
    settle();
    expect_counts("to self", 9, 1);

    /* from a secondary: CPU 1 sends SGI 11 to CPU 0 and SGI 12 to the last CPU */
    cmd_sgi1r[1][0] = sgi1r(11, 1);
    cmd_sgi1r[1][1] = sgi1r(12, 1u << (n - 1));
    dsb(sy);
    cmd[1] = CMD_SEND;
    dsb(sy);
    gic_send_sgi(DOORBELL, 1);
    cpu0_take("from cpu 1", 11);
    CHECK(wait_count(n - 1, 12, 1), "cpu %d did not take SGI 12", n - 1);
    settle();
    expect_counts("from cpu 1", 11, 1);
    expect_counts("from cpu 1", 12, 1u << (n - 1));

    /* the same SGI sent twice to a CPU that has not acknowledged it yet is pending once */
    gic_send_sgi(13, 0);
    gic_send_sgi(13, 0);
    cpu0_take("twice to self", 13);
    u32 spurious = gic_ack();
    print("then IAR1 %u\n", spurious);
    CHECK_EQ(spurious, INTID_SPURIOUS, "a pending SGI sent twice is taken once");

    stop = 1;
    dsb(sy);
    gic_send_sgi_others(DOORBELL);
    return 0;
}
