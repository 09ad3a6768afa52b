/* vCPU hotplug through the ACPI CPU-hotplug register block and the GED, driven by the host.
 * Built for -smp 2 and run with --maxcpus 4: CPUs 0-1 present, 2-3 parked.
 *
 * The guest does what the DSDT's CSCN/_EJ0/_OST methods and Linux do, without ACPI: it takes
 * the GED interrupt (SPI 9, edge), reads ESEL, scans the register block with command 0 for
 * CPUs with insert/remove events, CPU_ONs inserted CPUs, and offlines (CPU_OFF from the CPU
 * itself) and ejects removed ones.  Each "waiting:" line is the host's cue:
 *   "waiting: plug"     the host device_adds core-id 2 and 3 (both before the guest looks)
 *   "waiting: unplug"   the host device_dels CPU 2 (hot-added) and CPU 1 (cold-booted)
 *   "waiting: replug"   the host device_adds core-id 2 again
 * Also checked: the register block with and without a selected CPU, command 3 (MPIDR), the
 * refused ejects (boot CPU, empty slot), PSCI CPU_ON of a parked CPU (DENIED), OST, and that
 * a re-plugged CPU starts from reset. */
#include "rt.h"

#include "cpuhp.h"

enum { CMD_NONE, CMD_OFF };

static volatile u64 ged_events, ged_irqs;
static volatile u64 cmd[NCPU_MAX], alive[NCPU_MAX], mpidr_seen[NCPU_MAX], work[NCPU_MAX];

void irq_handler(u32 intid, struct frame *f)
{
    (void)f;
    if (intid == GED_INTID) {
        ged_events |= mmio_r32(GED_BASE);          /* read-and-clear */
        ged_irqs++;
    }
}

void secondary_main(u64 ctx)
{
    int me = this_cpu();
    (void)ctx;
    mpidr_seen[me] = read_sysreg(mpidr_el1);
    alive[me] = 1;
    dsb(sy);
    sev();
    while (cmd[me] != CMD_OFF)
        work[me]++;                                /* runs until told to go offline */
    cmd[me] = CMD_NONE;
    alive[me] = 0;
    dsb(sy);
    cpu_off();
}

static void sel(u32 cpu) { mmio_w32(CPUHP_BASE + CPUHP_SEL, cpu); }
static u8 flags(u32 cpu) { sel(cpu); return mmio_r8(CPUHP_BASE + CPUHP_FLAGS); }
static void command(u8 c) { mmio_w8(CPUHP_BASE + CPUHP_CMD, c); }
static u32 data(void) { return mmio_r32(CPUHP_BASE + CPUHP_DATA); }

static u64 arch_id(u32 cpu)
{
    sel(cpu);
    command(3);
    u64 lo = data(), hi = mmio_r32(CPUHP_BASE + CPUHP_SEL);
    command(0);
    return lo | hi << 32;
}

static void print_flags(const char *when)
{
    print("%s:", when);
    for (u32 i = 0; i < POSSIBLE; i++)
        print(" cpu%u=%x", i, flags(i));
    print("\n");
}

/* CSCN: every CPU with a pending insert or remove, found with command 0 from the selector;
 * the events are cleared as they are collected */
static void scan(u32 *inserted, int *ni, u32 *removed, int *nr)
{
    *ni = *nr = 0;
    u32 uid = 0;
    while (uid < POSSIBLE) {
        sel(uid);
        command(0);
        u32 next = data();
        if (next < uid)
            break;                                 /* wrapped: nothing further up */
        u8 f = mmio_r8(CPUHP_BASE + CPUHP_FLAGS);
        if (!(f & (CINS | CRMV)))
            break;
        if (f & CINS) {
            inserted[(*ni)++] = next;
            mmio_w8(CPUHP_BASE + CPUHP_FLAGS, CINS);   /* clear the insert event */
        }
        if (f & CRMV) {
            removed[(*nr)++] = next;
            mmio_w8(CPUHP_BASE + CPUHP_FLAGS, CRMV);   /* clear the remove event */
        }
        uid = next + 1;
    }
}

static int wait_alive(int cpu, u64 want)
{
    u64 end = cntvct() + 5 * cntfrq();
    while (alive[cpu] != want && cntvct() < end)
        delay_us(50);
    return alive[cpu] == want;
}

static s64 affinity_settles_off(int cpu)
{
    u64 end = cntvct() + 5 * cntfrq();
    s64 a;
    while ((a = psci_call(PSCI_AFFINITY_INFO, cpu_mpidr(cpu), 0, 0)) != 1 && cntvct() < end)
        delay_us(50);
    return a;
}

static s64 on_result[POSSIBLE], off_result[POSSIBLE];
static u8 flags_after[POSSIBLE];

static void online(u32 cpu)
{
    on_result[cpu] = cpu_on((int)cpu, cpu);
    CHECK_EQ(on_result[cpu], PSCI_SUCCESS, "CPU_ON of a plugged CPU");
    CHECK(wait_alive((int)cpu, 1), "cpu%u did not arrive", cpu);
    u64 w = work[cpu], end = cntvct() + 5 * cntfrq();
    while (work[cpu] == w && cntvct() < end)
        delay_us(50);
    CHECK(work[cpu] != w, "cpu%u runs no work", cpu);
}

static void offline_and_eject(u32 cpu)
{
    if (alive[cpu]) {
        cmd[cpu] = CMD_OFF;
        dsb(sy);
        CHECK(wait_alive((int)cpu, 0), "cpu%u did not stop", cpu);
    }
    off_result[cpu] = affinity_settles_off((int)cpu);
    sel(cpu);
    mmio_w8(CPUHP_BASE + CPUHP_FLAGS, CEJ0);
    flags_after[cpu] = flags(cpu);
    CHECK_EQ(flags_after[cpu] & CPEN, 0, "CPEN after eject");
}

static u32 enabled_mask(void)
{
    u32 m = 0;
    for (u32 i = 0; i < POSSIBLE; i++)
        if (flags(i) & CPEN)
            m |= 1u << i;
    return m;
}

/* the phase is over when the enabled CPUs are `want` and no event waits to be handled */
static int settled(u32 want)
{
    for (u32 i = 0; i < POSSIBLE; i++)
        if (flags(i) & (CINS | CRMV))
            return 0;
    return enabled_mask() == want;
}

/* One phase: print the host's cue, then handle GED interrupts (scan, online inserted CPUs,
 * offline and eject removed ones) until the enabled CPUs are `want`.  The host may make its
 * changes before the guest looks or while it handles an earlier event, so what happened is
 * printed afterwards, by CPU, and the number of interrupts separately (one when the host
 * made every change before the first interrupt was taken). */
static void phase(const char *cue, u32 want)
{
    u32 inserted = 0, removed = 0, irqs = 0;
    u64 end = cntvct() + 60 * cntfrq();
    for (u32 i = 0; i < POSSIBLE; i++)
        on_result[i] = off_result[i] = flags_after[i] = 0;
    print("waiting: %s\n", cue);
    for (;;) {
        ged_events = 0;
        irq_enable();
        while (!(ged_events & GED_CPU_HOTPLUG) && cntvct() < end)
            wfi();
        irq_disable();
        if (!(ged_events & GED_CPU_HOTPLUG))
            fatal("%s: no GED event (enabled mask %x)", cue, enabled_mask());
        irqs++;
        u32 ins[POSSIBLE], rem[POSSIBLE];
        int ni, nr;
        scan(ins, &ni, rem, &nr);
        for (int i = 0; i < ni; i++) {
            inserted |= 1u << ins[i];
            online(ins[i]);
        }
        for (int i = 0; i < nr; i++) {
            removed |= 1u << rem[i];
            offline_and_eject(rem[i]);
        }
        if (settled(want))
            break;
    }
    for (u32 i = 0; i < POSSIBLE; i++) {
        if (inserted & (1u << i))
            print("inserted cpu%u: CPU_ON %ld, MPIDR 0x%lx, entry x0 %lu, DAIF 0x%lx, "
                  "SCTLR.M %lu, running\n", i, on_result[i], mpidr_seen[i] & 0xff00ffffffUL,
                  entry_state[i].x0, entry_state[i].daif, entry_state[i].sctlr & 1);
        if (removed & (1u << i))
            print("removed cpu%u: AFFINITY_INFO %ld after CPU_OFF, flags after eject %x\n", i,
                  off_result[i], flags_after[i]);
    }
    print_flags(cue);
    print("%s: GED interrupts %u\n", cue, irqs);
}

int main(void)
{
    gic_dist_init();
    gic_cpu_init();
    mmio_w32(GICD_BASE + GICD_ICFGR + (GED_INTID / 16) * 4,
             2u << ((GED_INTID % 16) * 2));                /* edge-triggered */
    gic_route_spi(GED_INTID, 0);
    gic_enable(GED_INTID);

    /* the register block at rest: CPUs 0-1 enabled, no events; a selector past the last
     * possible CPU reads 0 everywhere */
    print_flags("boot");
    for (u32 i = 0; i < POSSIBLE; i++)
        print("cpu%u arch id 0x%lx\n", i, arch_id(i));
    sel(POSSIBLE);
    print("selector %u: flags %x data %x data2 %x\n", POSSIBLE,
          mmio_r8(CPUHP_BASE + CPUHP_FLAGS), data(), mmio_r32(CPUHP_BASE + CPUHP_SEL));
    sel(1);
    command(0);
    print("command 0 without events: selector stays %u\n", data());

    /* refusals: ejecting the boot CPU or an empty slot changes nothing; a parked CPU
     * cannot be powered on */
    sel(0);
    mmio_w8(CPUHP_BASE + CPUHP_FLAGS, CEJ0);
    sel(3);
    mmio_w8(CPUHP_BASE + CPUHP_FLAGS, CEJ0);
    print_flags("after refused ejects");
    s64 r = cpu_on(2, 2);
    print("CPU_ON parked cpu2: %ld\n", r);
    CHECK_EQ(r, PSCI_DENIED, "CPU_ON of a parked CPU");

    online(1);
    print("cpu1 up: MPIDR 0x%lx, entry x0 %lu\n", mpidr_seen[1] & 0xff00ffffffUL,
          entry_state[1].x0);

    phase("plug", 0xf);
    /* _OST from the guest: event 1 (device check), status 0 (success) for cpu2 */
    sel(2);
    command(1);
    mmio_w32(CPUHP_BASE + CPUHP_DATA, 1);
    command(2);
    mmio_w32(CPUHP_BASE + CPUHP_DATA, 0);
    command(0);

    phase("unplug", 0x9);
    r = cpu_on(2, 2);
    print("CPU_ON ejected cpu2: %ld\n", r);
    CHECK_EQ(r, PSCI_DENIED, "CPU_ON of an ejected CPU");

    phase("replug", 0xd);
    /* a guest may eject what nobody asked it to (the host learns from DEVICE_DELETED) */
    offline_and_eject(2);
    offline_and_eject(3);
    print_flags("end");
    finish();
}
