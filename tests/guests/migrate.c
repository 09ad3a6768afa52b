/* A guest that runs until the host stops it, for live migration with CPU hotplug.
 * Built for -smp 2 and run with --maxcpus 4.  It never powers off by itself: a failed check
 * prints "FAIL: ..." and the guest goes on (the host decides when to stop).
 *
 * CPU 0 handles CPU-hotplug events whenever the GED raises one (the way the DSDT's CSCN and
 * Linux do, without ACPI): inserted CPUs are powered on with PSCI CPU_ON (then _OST(1, 0)),
 * removed ones get _OST(3, 0x84), are told to go offline (they CPU_OFF themselves), are
 * waited for with AFFINITY_INFO and ejected (CEJ0, then _OST(0x103, 0)).  Meanwhile it
 * rewrites a buffer of MIGRATE_DIRTY_KB KiB over and over in 64 KiB chunks (a memory-dirtying
 * workload), checking every word against the pattern of the previous pass before rewriting
 * it, and every MIGRATE_TICK_MS of guest time prints which CPUs are online, the passes made so
 * far, and "ok" when every online CPU made progress and nothing failed since the last tick:
 *
 *     migrate guest: 4096 KiB dirtied per pass, tick 250 ms
 *     tick 1: online 0,1 passes 1 ok
 *     tick 2: online 0,1 passes 2 ok
 *     plugged cpu2
 *     tick 3: online 0,1,2 passes 2 ok
 *     tick 4: online 0,1,2 passes 3 ok
 *     ejected cpu2
 *     tick 5: online 0,1 passes 3 ok
 *
 * Every online secondary rewrites a private array, checking each word against its previous
 * round first, and counts rounds.  At each tick CPU 0 also checks that every online CPU's
 * count advanced ("FAIL: cpuN stalled"), that PSCI still has it on, and (when the board has
 * the CPU-hotplug register block) that CPEN agrees with what the guest has online and that no
 * insert/remove event waited a whole tick without a GED interrupt.  Events pending before the
 * guest set up its interrupt (a reset, a cold start with requests queued) are handled at boot.
 *
 * Under QEMU 7.2 (no CPU hotplug on virt, no GED with -kernel) the register block is absent:
 * the guest only ticks. */
#include "rt.h"

#include "cpuhp.h"

#ifndef MIGRATE_DIRTY_KB
#define MIGRATE_DIRTY_KB 4096
#endif
#ifndef MIGRATE_TICK_MS
#define MIGRATE_TICK_MS 250
#endif
#define WORDS (MIGRATE_DIRTY_KB * 1024UL / 8)
#define CHUNK_WORDS 8192UL                 /* 64 KiB between event checks */
/* a tick also needs this much of CPU 0's own work (512 KiB checked and rewritten), so a
 * round-robin emulator that jumps guest time (a pause) gives the others time to run too */
#define MIN_WORDS_PER_TICK 65536UL
#define PRIVATE_WORDS 4096

enum { CMD_NONE, CMD_OFF };

static volatile u64 ged_events;
static volatile u64 cmd[NCPU_MAX], alive[NCPU_MAX], work[NCPU_MAX];
/* a secondary's corrupted words: how many so far, and the first one of the last bad round */
static volatile u64 bad[NCPU_MAX], bad_index[NCPU_MAX], bad_value[NCPU_MAX], bad_round[NCPU_MAX];
static u64 buffer[WORDS];
static u64 private_words[NCPU_MAX][PRIVATE_WORDS];

static int failures;                 /* CPU 0 only */

/* print "FAIL: ..." and go on */
#define fail(...) do { print("FAIL: "); print(__VA_ARGS__); print("\n"); failures++; } while (0)

void irq_handler(u32 intid, struct frame *f)
{
    (void)f;
    if (intid == GED_INTID) {
        ged_events |= mmio_r32(GED_BASE);          /* read-and-clear */
    }
}

static u64 private_pattern(u64 cpu, u64 round, u64 i)
{
    return (round * 0x9E3779B97F4A7C15UL) ^ (cpu << 56) ^ i;
}

/* a secondary: check the previous round of its own array and rewrite it, until told to go
 * offline.  A re-plugged CPU starts from reset, at round 1, and checks nothing the first time. */
void secondary_main(u64 ctx)
{
    u64 me = (u64)this_cpu();
    u64 *mine = private_words[me];
    (void)ctx;
    alive[me] = 1;
    dsb(sy);
    for (u64 round = 1; cmd[me] != CMD_OFF; round++) {
        u64 wrong = 0;
        for (u64 i = 0; i < PRIVATE_WORDS; i++) {
            u64 v = mine[i];
            if (round > 1 && v != private_pattern(me, round - 1, i)) {
                if (!wrong++) {
                    bad_index[me] = i;
                    bad_value[me] = v;
                    bad_round[me] = round - 1;
                }
            }
            mine[i] = private_pattern(me, round, i);
        }
        if (wrong)
            bad[me] += wrong;
        work[me]++;                                /* never reset: counts across plugs */
    }
    cmd[me] = CMD_NONE;
    alive[me] = 0;
    dsb(sy);
    cpu_off();
}

/* ---- the CPU-hotplug register block ---- */
static int hp_present;
static u32 online_mask = 1;          /* what the guest has online (CPU 0's view) */
static u64 scans;                    /* handle_hotplug() runs */

static void sel(u32 cpu) { mmio_w32(CPUHP_BASE + CPUHP_SEL, cpu); }
static void command(u8 c) { mmio_w8(CPUHP_BASE + CPUHP_CMD, c); }
static u8 flags(u32 cpu) { sel(cpu); return mmio_r8(CPUHP_BASE + CPUHP_FLAGS); }

/* _OST: event, then status; the status write reports both to the host */
static void ost(u32 cpu, u32 event, u32 status)
{
    sel(cpu);
    command(1);
    mmio_w32(CPUHP_BASE + CPUHP_DATA, event);
    command(2);
    mmio_w32(CPUHP_BASE + CPUHP_DATA, status);
    command(0);
}

/* the block answers at CPUHP_BASE (dbt-vm); on QEMU 7.2's virt nothing decodes there */
static int cpuhp_probe(void)
{
    struct exc_record r;
    expect_exception();
    u64 v = probe_ld8(CPUHP_BASE + CPUHP_FLAGS);
    u64 n = took_exception(&r);
    return n == 0 && v != 0xbad;
}

static int wait_alive(u32 cpu, u64 want)
{
    u64 end = cntvct() + 10 * cntfrq();
    while (alive[cpu] != want && cntvct() < end)
        delay_us(50);
    return alive[cpu] == want;
}

static int online(u32 cpu)
{
    s64 r = cpu_on((int)cpu, cpu);
    if (r != PSCI_SUCCESS) {
        fail("CPU_ON cpu%u: %ld", cpu, r);
        return 0;
    }
    if (!wait_alive(cpu, 1)) {
        fail("cpu%u did not come online", cpu);
        return 0;
    }
    online_mask |= 1u << cpu;
    u64 w = work[cpu], end = cntvct() + 10 * cntfrq();
    while (work[cpu] == w && cntvct() < end)       /* so the next tick sees it working */
        delay_us(50);
    if (work[cpu] == w)
        fail("cpu%u runs no work", cpu);
    return 1;
}

static int offline_and_eject(u32 cpu)
{
    if (alive[cpu]) {
        cmd[cpu] = CMD_OFF;
        dsb(sy);
        if (!wait_alive(cpu, 0)) {
            fail("cpu%u did not go offline", cpu);
            return 0;
        }
    }
    online_mask &= ~(1u << cpu);
    u64 end = cntvct() + 10 * cntfrq();
    s64 a;
    while ((a = psci_call(PSCI_AFFINITY_INFO, cpu_mpidr((int)cpu), 0, 0)) != 1 && cntvct() < end)
        delay_us(50);
    if (a != 1)
        fail("cpu%u: AFFINITY_INFO %ld after CPU_OFF, want 1 (off)", cpu, a);
    sel(cpu);
    mmio_w8(CPUHP_BASE + CPUHP_FLAGS, CEJ0);
    if (flags(cpu) & CPEN) {
        fail("cpu%u still enabled after the eject", cpu);
        return 0;
    }
    ost(cpu, 0x103, 0);                            /* OSPM eject: success */
    return 1;
}

/* CSCN: handle every CPU with a pending insert or remove event, from the selector up */
static void handle_hotplug(void)
{
    u32 uid = 0;
    scans++;
    while (uid < POSSIBLE) {
        sel(uid);
        command(0);
        u32 next = mmio_r32(CPUHP_BASE + CPUHP_DATA);
        if (next < uid || next >= POSSIBLE)
            break;                                 /* wrapped: nothing further up */
        u8 f = mmio_r8(CPUHP_BASE + CPUHP_FLAGS);
        if (!(f & (CINS | CRMV)))
            break;
        if (f & CINS) {
            mmio_w8(CPUHP_BASE + CPUHP_FLAGS, CINS);   /* clear the insert event */
            if (online_mask & (1u << next))
                fail("insert event for cpu%u, which is online", next);
            else if (online(next)) {
                ost(next, 1, 0);                   /* device check: success */
                print("plugged cpu%u\n", next);
            }
        }
        if (f & CRMV) {
            mmio_w8(CPUHP_BASE + CPUHP_FLAGS, CRMV);   /* clear the remove event */
            ost(next, 3, 0x84);                    /* eject request: in progress */
            if (next == 0)
                fail("remove event for the boot CPU");
            else if (offline_and_eject(next))
                print("ejected cpu%u\n", next);
        }
        uid = next + 1;
    }
}

static void take_ged_events(void)
{
    if (!ged_events)
        return;
    irq_disable();
    u64 ev = ged_events;
    ged_events = 0;
    irq_enable();
    if (ev & GED_CPU_HOTPLUG)
        handle_hotplug();
}

/* the tick's look at the register block: CPEN against what is online, and events that
 * waited a whole tick with no GED interrupt to handle them */
static u32 pending_before;
static u64 scans_before;

static void check_register_block(void)
{
    u32 pending = 0;
    for (u32 cpu = 0; cpu < POSSIBLE; cpu++) {
        u8 f = flags(cpu);
        if (f & (CINS | CRMV)) {
            pending |= 1u << cpu;
            continue;
        }
        if (!(f & CPEN) != !(online_mask & (1u << cpu)))
            fail("cpu%u: CPEN is %u but the guest has it %s", cpu, f & CPEN,
                 online_mask & (1u << cpu) ? "online" : "offline");
    }
    u32 stuck = pending & pending_before;
    if (stuck && scans == scans_before) {
        for (u32 cpu = 0; cpu < POSSIBLE; cpu++)
            if (stuck & (1u << cpu))
                fail("cpu%u: hotplug event pending for a tick without a GED interrupt", cpu);
        handle_hotplug();
        pending = 0;
    }
    pending_before = pending;
    scans_before = scans;
}

/* ---- CPU 0's workload ---- */
static u64 pattern(u64 pass, u64 i) { return (pass << 40) ^ (i * 0x100000001B3UL) ^ 0x5EED; }

static u64 pass, pos;                /* words [0, pos) hold pass + 1, the rest pass */

static u64 dirty_chunk(void)
{
    u64 start = pos, end = pos + CHUNK_WORDS, wrong = 0, first = 0, got = 0;
    if (end > WORDS)
        end = WORDS;
    for (u64 i = pos; i < end; i++) {
        u64 v = buffer[i];
        if (pass && v != pattern(pass, i)) {
            if (!wrong++) {
                first = i;
                got = v;
            }
        }
        buffer[i] = pattern(pass + 1, i);
    }
    if (wrong)
        fail("buffer word %lu of pass %lu is %lx, want %lx (%lu wrong in words %lu-%lu)",
             first, pass, got, pattern(pass, first), wrong, pos, end - 1);
    work[0]++;
    pos = end;
    if (pos == WORDS) {
        pos = 0;
        pass++;
    }
    return end - start;
}

int main(void)
{
    gic_dist_init();
    gic_cpu_init();
    mmio_w32(GICD_BASE + GICD_ICFGR + (GED_INTID / 16) * 4,
             2u << ((GED_INTID % 16) * 2));                /* edge-triggered */
    gic_route_spi(GED_INTID, 0);
    gic_enable(GED_INTID);
    print("migrate guest: %u KiB dirtied per pass, tick %u ms\n", (u32)MIGRATE_DIRTY_KB,
          (u32)MIGRATE_TICK_MS);

    /* bring up the present CPUs: those the register block calls enabled (cold-plugged ones
     * included) and not waiting to be inserted, or the -smp the guest was built for where
     * there is no block; then the insert/remove requests made before we listened */
    hp_present = cpuhp_probe();
    for (u32 cpu = 1; cpu < (hp_present ? POSSIBLE : GUEST_SMP); cpu++)
        if (!hp_present || (flags(cpu) & (CPEN | CINS)) == CPEN)
            online(cpu);
    if (hp_present)
        handle_hotplug();
    irq_enable();

    u64 seen[NCPU_MAX] = {0}, bad_seen[NCPU_MAX] = {0};
    u64 period = cntfrq() * MIGRATE_TICK_MS / 1000;
    u64 next = cntvct() + period, words = 0;
    int failed_before = failures;                  /* "ok": nothing failed since the last tick */
    for (u64 tick = 1;;) {
        words += dirty_chunk();
        take_ged_events();
        if (words < MIN_WORDS_PER_TICK || cntvct() < next)
            continue;

        if (hp_present)
            check_register_block();
        char list[32];
        int n = snprint(list, (int)sizeof list, "0");
        for (u32 cpu = 1; cpu < POSSIBLE; cpu++) {
            if (!(online_mask & (1u << cpu)))
                continue;
            n += snprint(list + n, (int)sizeof list - n, ",%u", cpu);
            if (!alive[cpu])
                fail("cpu%u stopped by itself", cpu);
            else if (work[cpu] == seen[cpu])
                fail("cpu%u stalled", cpu);
            if (bad[cpu] != bad_seen[cpu])
                fail("cpu%u: %lu words of its array corrupted, word %lu of round %lu is %lx",
                     cpu, bad[cpu] - bad_seen[cpu], bad_index[cpu], bad_round[cpu],
                     bad_value[cpu]);
            bad_seen[cpu] = bad[cpu];
            s64 a = psci_call(PSCI_AFFINITY_INFO, cpu_mpidr((int)cpu), 0, 0);
            if (a != 0)
                fail("cpu%u: AFFINITY_INFO %ld, want 0 (on)", cpu, a);
        }
        for (u32 cpu = 1; cpu < NCPU_MAX; cpu++)
            seen[cpu] = work[cpu];
        print("tick %lu: online %s passes %lu %s\n", tick, list, pass,
              failures == failed_before ? "ok" : "FAIL");
        tick++;
        failed_before = failures;
        words = 0;
        next = cntvct() + period;
    }
}
