/* A guest that runs until the host stops it, for live migration with CPU hotplug.
 * Built for -smp 2 and run with --maxcpus 4.
 *
 * CPU 0 handles CPU-hotplug events whenever the GED raises one (the way the DSDT's CSCN and
 * Linux do, without ACPI): inserted CPUs are powered on with PSCI CPU_ON, removed ones are
 * told to go offline (they CPU_OFF themselves) and ejected.  Meanwhile it rewrites a buffer
 * of MIGRATE_DIRTY_KB KiB over and over (a memory-dirtying workload), verifying each pass
 * against the pattern of the one before, and every tick (a quarter second of guest time)
 * prints which CPUs are online and that every online CPU made progress:
 *
 *     tick 12: online 0,1,2 passes 5 ok
 *     plugged cpu2
 *     ejected cpu2
 *
 * Every online secondary keeps a private array it rewrites and checks.  Any lost or
 * corrupted state prints "FAIL: ..." (and the guest powers off). */
#include "rt.h"

#include "cpuhp.h"

#ifndef MIGRATE_DIRTY_KB
#define MIGRATE_DIRTY_KB 4096
#endif
#define WORDS (MIGRATE_DIRTY_KB * 1024UL / 8)
#define PRIVATE_WORDS 4096

enum { CMD_NONE, CMD_OFF };

static volatile u64 ged_events;
static volatile u64 cmd[NCPU_MAX], alive[NCPU_MAX], work[NCPU_MAX], bad[NCPU_MAX];
static u64 buffer[WORDS];
static u64 private_words[NCPU_MAX][PRIVATE_WORDS];

void irq_handler(u32 intid, struct frame *f)
{
    (void)f;
    if (intid == GED_INTID)
        ged_events |= mmio_r32(GED_BASE);          /* read-and-clear */
}

/* a secondary: rewrite and check its own array until told to go offline */
void secondary_main(u64 ctx)
{
    int me = this_cpu();
    u64 *mine = private_words[me];
    (void)ctx;
    alive[me] = 1;
    dsb(sy);
    for (u64 round = 1; cmd[me] != CMD_OFF; round++) {
        for (u64 i = 0; i < PRIVATE_WORDS; i++)
            mine[i] = round * 0x9E3779B97F4A7C15UL ^ i;
        for (u64 i = 0; i < PRIVATE_WORDS; i++)
            if (mine[i] != (round * 0x9E3779B97F4A7C15UL ^ i))
                bad[me]++;
        work[me]++;
    }
    cmd[me] = CMD_NONE;
    alive[me] = 0;
    dsb(sy);
    cpu_off();
}

static void sel(u32 cpu) { mmio_w32(CPUHP_BASE + CPUHP_SEL, cpu); }
static void command(u8 c) { mmio_w8(CPUHP_BASE + CPUHP_CMD, c); }

static int wait_alive(u32 cpu, u64 want)
{
    u64 end = cntvct() + 10 * cntfrq();
    while (alive[cpu] != want && cntvct() < end)
        delay_us(50);
    return alive[cpu] == want;
}

static void online(u32 cpu)
{
    s64 r = cpu_on((int)cpu, cpu);
    if (r != PSCI_SUCCESS)
        fatal("CPU_ON cpu%u: %ld", cpu, r);
    if (!wait_alive(cpu, 1))
        fatal("cpu%u did not come online", cpu);
    u64 w = work[cpu], end = cntvct() + 10 * cntfrq();
    while (work[cpu] == w && cntvct() < end)       /* so the next tick sees it working */
        delay_us(50);
}

static void offline_and_eject(u32 cpu)
{
    if (alive[cpu]) {
        cmd[cpu] = CMD_OFF;
        dsb(sy);
        if (!wait_alive(cpu, 0))
            fatal("cpu%u did not go offline", cpu);
    }
    u64 end = cntvct() + 10 * cntfrq();
    while (psci_call(PSCI_AFFINITY_INFO, cpu_mpidr((int)cpu), 0, 0) != 1 && cntvct() < end)
        delay_us(50);
    sel(cpu);
    mmio_w8(CPUHP_BASE + CPUHP_FLAGS, CEJ0);
}

/* CSCN: handle every CPU with a pending insert or remove event */
static void handle_hotplug(void)
{
    u32 uid = 0;
    while (uid < POSSIBLE) {
        sel(uid);
        command(0);
        u32 next = mmio_r32(CPUHP_BASE + CPUHP_DATA);
        if (next < uid)
            break;                                 /* wrapped: nothing further up */
        u8 f = mmio_r8(CPUHP_BASE + CPUHP_FLAGS);
        if (!(f & (CINS | CRMV)))
            break;
        if (f & CINS) {
            mmio_w8(CPUHP_BASE + CPUHP_FLAGS, CINS);
            online(next);
            print("plugged cpu%u\n", next);
        }
        if (f & CRMV) {
            mmio_w8(CPUHP_BASE + CPUHP_FLAGS, CRMV);
            offline_and_eject(next);
            print("ejected cpu%u\n", next);
        }
        uid = next + 1;
    }
}

static u64 pattern(u64 pass, u64 i) { return (pass << 40) ^ (i * 0x100000001B3UL); }

int main(void)
{
    gic_dist_init();
    gic_cpu_init();
    mmio_w32(GICD_BASE + GICD_ICFGR + (GED_INTID / 16) * 4,
             2u << ((GED_INTID % 16) * 2));                /* edge-triggered */
    gic_route_spi(GED_INTID, 0);
    gic_enable(GED_INTID);
    for (u32 cpu = 1; cpu < GUEST_SMP; cpu++)
        online(cpu);
    print("migrate guest: %u KiB dirtied per pass\n", (u32)MIGRATE_DIRTY_KB);
    irq_enable();

    u64 pass = 0, seen[NCPU_MAX] = {0};
    for (u64 tick = 1;; tick++) {
        u64 passes = 0, end = cntvct() + cntfrq() / 4;
        while (cntvct() < end) {
            /* check the previous pass, write the next */
            for (u64 i = 0; i < WORDS; i++) {
                if (pass && buffer[i] != pattern(pass, i))
                    fatal("buffer word %lu of pass %lu is %lx", i, pass, buffer[i]);
                buffer[i] = pattern(pass + 1, i);
            }
            pass++;
            passes++;
            if (ged_events) {
                irq_disable();
                u64 ev = ged_events;
                ged_events = 0;
                irq_enable();
                if (ev & GED_CPU_HOTPLUG)
                    handle_hotplug();
            }
        }
        char online_list[32];
        int n = 0;
        for (u32 cpu = 0; cpu < POSSIBLE; cpu++) {
            if (cpu && !alive[cpu])
                continue;
            if (cpu && work[cpu] == seen[cpu])
                fatal("cpu%u stalled", cpu);
            if (bad[cpu])
                fatal("cpu%u found its array corrupted", cpu);
            seen[cpu] = work[cpu];
            n += snprint(online_list + n, (int)sizeof online_list - n, n ? ",%u" : "%u", cpu);
        }
        print("tick %lu: online %s passes %lu ok\n", tick, online_list, passes);
    }
}
