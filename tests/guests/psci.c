/* PSCI over HVC: VERSION, FEATURES, MIGRATE_INFO_TYPE; CPU_ON of every secondary with a
 * context id that must arrive in x0, the entry state, ALREADY_ON, INVALID_PARAMS for an MPIDR
 * nobody has, AFFINITY_INFO before/after CPU_ON and CPU_OFF, CPU_OFF from the secondary,
 * powering a CPU back on, and CPU_ON issued by a secondary. */
#include "rt.h"

#define CTX(cpu, round) (0xc0de000000000000UL | ((u64)(round) << 8) | (u64)(cpu))
enum { CMD_NONE, CMD_OFF, CMD_START, CMD_RETURN };

static volatile u64 cmd[NCPU_MAX], cmd_arg[NCPU_MAX], cmd_result[NCPU_MAX], mpidr_seen[NCPU_MAX];

void secondary_main(u64 ctx)
{
    int me = this_cpu();
    (void)ctx;
    mpidr_seen[me] = read_sysreg(mpidr_el1);
    for (;;) {
        u64 c;
        while ((c = cmd[me]) == CMD_NONE)
            wfe();
        cmd[me] = CMD_NONE;
        if (c == CMD_OFF) {
            cpu_off();                               /* does not return */
        } else if (c == CMD_START) {
            cmd_result[me] = (u64)cpu_on((int)cmd_arg[me], CTX(cmd_arg[me], 9));
            dsb(sy);
            cmd_result[me] |= 1UL << 63;             /* done */
            dsb(sy);
            sev();
        } else {
            return;                                  /* rt_secondary calls CPU_OFF */
        }
    }
}

static void send(int cpu, u64 c, u64 arg)
{
    cmd_arg[cpu] = arg;
    cmd_result[cpu] = 0;
    dsb(sy);
    cmd[cpu] = c;
    dsb(sy);
    sev();
}

static s64 affinity(int cpu)
{
    return psci_call(PSCI_AFFINITY_INFO, cpu_mpidr(cpu), 0, 0);
}

/* AFFINITY_INFO until it says want (ON_PENDING may be seen on the way), for up to a second */
static s64 affinity_settles(int cpu, s64 want)
{
    u64 end = cntvct() + cntfrq();
    s64 a;
    while ((a = affinity(cpu)) != want && cntvct() < end)
        delay_us(50);
    return a;
}

static int wait_arrival(int cpu, u64 count)
{
    u64 end = cntvct() + 5 * cntfrq();
    while (entry_state[cpu].arrived < count && cntvct() < end)
        delay_us(50);
    dsb(sy);
    return entry_state[cpu].arrived >= count;
}

static void check_entry(int cpu, u64 ctx)
{
    const struct entry_state *e = &entry_state[cpu];
    print("cpu %d: x0 %s, CurrentEL %lu, SPSel %lu, DAIF 0x%lx, SCTLR.M %lu, MPIDR 0x%lx\n", cpu,
          e->x0 == ctx ? "= context id" : "wrong", e->currentel >> 2, e->spsel, e->daif,
          e->sctlr & 1, mpidr_seen[cpu]);
    CHECK_EQ(e->x0, ctx, "x0 at CPU_ON entry (context id)");
    CHECK_EQ(e->currentel, 1 << 2, "CurrentEL at CPU_ON entry");
    CHECK_EQ(e->daif, 0x3c0, "DAIF at CPU_ON entry");
    CHECK_EQ(e->sctlr & 1, 0, "SCTLR_EL1.M at CPU_ON entry");
    CHECK_EQ(mpidr_seen[cpu] & 0xff00ffffffUL, cpu_mpidr(cpu), "MPIDR_EL1 affinity");
}

int main(void)
{
    int n = GUEST_SMP;
    s64 v = psci_call(PSCI_VERSION, 0, 0, 0);
    print("psci: VERSION %ld.%ld\n", v >> 16, v & 0xffff);
    CHECK(v >= 0x10000, "PSCI_VERSION %lx is below 1.0", v);

    static const u64 mandatory[] = {PSCI_VERSION, PSCI_CPU_ON, PSCI_CPU_OFF, PSCI_AFFINITY_INFO,
                                    PSCI_SYSTEM_OFF, PSCI_SYSTEM_RESET, PSCI_MIGRATE_INFO_TYPE,
                                    PSCI_FEATURES, 0x84000003UL, 0x84000004UL};
    for (unsigned i = 0; i < sizeof mandatory / sizeof mandatory[0]; i++) {
        s64 r = psci_call(PSCI_FEATURES, mandatory[i], 0, 0);
        print("FEATURES(0x%lx) = %ld\n", mandatory[i], r);
        CHECK(r == 0, "PSCI_FEATURES(%lx) = %ld", mandatory[i], r);
    }
    s64 r = psci_call(PSCI_FEATURES, PSCI_CPU_SUSPEND, 0, 0);
    print("FEATURES(CPU_SUSPEND) supported %d\n", r >= 0);
    CHECK(r >= 0, "CPU_SUSPEND not supported: %ld", r);
    r = psci_call(PSCI_FEATURES, 0x840000ffUL, 0, 0);
    print("FEATURES(0x840000ff) = %ld\n", r);
    CHECK_EQ(r, PSCI_NOT_SUPPORTED, "PSCI_FEATURES of an unknown function");
    r = psci_call(0x8400001fUL, 0, 0, 0);              /* unassigned PSCI function id */
    print("call 0x8400001f = %ld\n", r);
    CHECK_EQ(r, PSCI_NOT_SUPPORTED, "an unassigned PSCI function");
    r = psci_call(PSCI_MIGRATE_INFO_TYPE, 0, 0, 0);
    print("MIGRATE_INFO_TYPE = %ld\n", r);
    CHECK_EQ(r, 2, "MIGRATE_INFO_TYPE (no Trusted OS)");

    /* before: CPU 0 on, the others off, nothing beyond */
    for (int c = 0; c < n; c++) {
        s64 a = affinity(c);
        print("AFFINITY_INFO(cpu %d) before = %ld\n", c, a);
        CHECK_EQ(a, c == 0 ? 0 : 1, "AFFINITY_INFO before CPU_ON");
    }
    r = affinity(n);
    print("AFFINITY_INFO(mpidr 0x%lx, no such cpu) = %ld\n", cpu_mpidr(n), r);
    CHECK_EQ(r, PSCI_INVALID_PARAMS, "AFFINITY_INFO of a CPU that does not exist");

    /* CPU_ON every secondary */
    for (int c = 1; c < n; c++) {
        r = cpu_on(c, CTX(c, 1));
        CHECK(r == 0, "CPU_ON(cpu %d) = %ld", c, r);
    }
    for (int c = 1; c < n; c++) {
        CHECK(wait_arrival(c, 1), "cpu %d never arrived", c);
        check_entry(c, CTX(c, 1));
        s64 a = affinity_settles(c, 0);
        print("AFFINITY_INFO(cpu %d) after CPU_ON = %ld\n", c, a);
        CHECK_EQ(a, 0, "AFFINITY_INFO after CPU_ON");
    }
    r = cpu_on(1, CTX(1, 2));
    print("CPU_ON(cpu 1) again = %ld\n", r);
    CHECK_EQ(r, PSCI_ALREADY_ON, "CPU_ON of a running CPU");
    r = cpu_on(0, CTX(0, 2));
    print("CPU_ON(cpu 0, self) = %ld\n", r);
    CHECK_EQ(r, PSCI_ALREADY_ON, "CPU_ON of the caller");
    r = psci_call(PSCI_CPU_ON, 0xffUL, (u64)secondary_entry, 0);
    print("CPU_ON(mpidr 0xff) = %ld\n", r);
    CHECK_EQ(r, PSCI_INVALID_PARAMS, "CPU_ON of an MPIDR nobody has");
    r = psci_call(PSCI_CPU_ON, 0x100UL + n, (u64)secondary_entry, 0);
    CHECK_EQ(r, PSCI_INVALID_PARAMS, "CPU_ON of an MPIDR in another cluster");

    /* CPU_OFF from the last secondary, then power it back on */
    int last = n - 1;
    send(last, CMD_OFF, 0);
    s64 a = affinity_settles(last, 1);
    print("AFFINITY_INFO(cpu %d) after its CPU_OFF = %ld\n", last, a);
    CHECK_EQ(a, 1, "AFFINITY_INFO after CPU_OFF");
    r = cpu_on(last, CTX(last, 2));
    print("CPU_ON(cpu %d) after CPU_OFF = %ld\n", last, r);
    CHECK_EQ(r, 0, "CPU_ON after CPU_OFF");
    CHECK(wait_arrival(last, 2), "cpu %d did not come back", last);
    check_entry(last, CTX(last, 2));
    a = affinity_settles(last, 0);
    CHECK_EQ(a, 0, "AFFINITY_INFO after the second CPU_ON");

    /* a secondary returns from secondary_main: the runtime's CPU_OFF; then CPU 1 starts it */
    if (n >= 3) {
        send(2, CMD_RETURN, 0);
        a = affinity_settles(2, 1);
        print("AFFINITY_INFO(cpu 2) after CPU_OFF = %ld\n", a);
        CHECK_EQ(a, 1, "AFFINITY_INFO after the runtime's CPU_OFF");
        send(1, CMD_START, 2);
        u64 end = cntvct() + cntfrq();
        while (!(cmd_result[1] >> 63) && cntvct() < end)
            delay_us(50);
        r = (s64)(cmd_result[1] << 1) >> 1;
        print("CPU_ON(cpu 2) from cpu 1 = %ld\n", r);
        CHECK(cmd_result[1] >> 63, "cpu 1 did not report");
        CHECK_EQ(r, 0, "CPU_ON from a secondary");
        CHECK(wait_arrival(2, 2), "cpu 2 did not come back");
        check_entry(2, CTX(2, 9));
    }

    /* everybody off but CPU 0 */
    for (int c = 1; c < n; c++)
        send(c, CMD_OFF, 0);
    for (int c = 1; c < n; c++) {
        a = affinity_settles(c, 1);
        CHECK_EQ(a, 1, "AFFINITY_INFO at the end");
    }
    print("all secondaries off\n");
    return 0;
}
