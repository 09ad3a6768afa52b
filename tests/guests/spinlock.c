/* A ticket-free test-and-set spinlock shared by 4 CPUs that spin with plain exclusive loads
 * (no WFE): round-robin scheduling must still run each lock holder, so every CPU gets the
 * lock its N times and the shared counter ends at 4 N. */
#include "rt.h"

#define ROUNDS 2000

static struct mmu m;
static volatile u32 lock;
static volatile u64 counter, done[NCPU_MAX];

static void spin_lock(volatile u32 *l)
{
    u32 busy, failed;
    do {
        asm volatile("ldaxr %w0, [%2]\n"
                     "cbnz %w0, 1f\n"
                     "stxr %w1, %w3, [%2]\n"
                     "b 2f\n"
                     "1: mov %w1, #1\n"
                     "2:"
                     : "=&r"(busy), "=&r"(failed) : "r"(l), "r"(1) : "memory");
    } while (busy || failed);
}

static void spin_unlock(volatile u32 *l)
{
    asm volatile("stlr wzr, [%0]" : : "r"(l) : "memory");
}

static void work(int me)
{
    for (int i = 0; i < ROUNDS; i++) {
        spin_lock(&lock);
        u64 c = counter;
        for (volatile int k = 0; k < 20; k++)       /* hold the lock a while */
            ;
        counter = c + 1;
        spin_unlock(&lock);
    }
    done[me] = 1;
    dsb(sy);
}

void secondary_main(u64 ctx)
{
    (void)ctx;
    mmu_enable(&m, 0);
    work(this_cpu());
    cpu_off();
}

int main(void)
{
    mmu_setup(&m, 12, 16, 0);
    mmu_identity(&m);
    mmu_enable(&m, 0);
    for (int c = 1; c < GUEST_SMP; c++)
        CHECK(cpu_on(c, 0) == 0, "CPU_ON(%d) failed", c);
    work(0);
    for (int c = 1; c < GUEST_SMP; c++)
        while (!done[c])
            ;
    print("spinlock: %d CPUs, counter %lu\n", GUEST_SMP, counter);
    CHECK_EQ(counter, (u64)GUEST_SMP * ROUNDS, "counter");
    return 0;
}
