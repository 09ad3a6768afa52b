/* Bare-metal benchmark kernels for `dbt-vm boot` and qemu-system-aarch64 side by side: the
 * MMU on (identity map, Normal memory), then ROUNDS rounds of one workload (-DWORK=1 crc32,
 * 2 sieve, 3 sort), a checksum on the UART, and PSCI SYSTEM_OFF.  Built with the test guests'
 * runtime (tests/guests/rt). */
#include "rt.h"

#define N (1 << 20)
static u8 buf[N];
static u32 keys[1 << 16];

static u64 crc32_round(void)
{
    u32 crc = ~0u;
    for (u64 i = 0; i < N; i++) {
        crc ^= buf[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
    }
    return ~crc;
}

static u64 sieve_round(void)
{
    u64 n = N - 1, count = 0;
    memset(buf, 0, N);
    for (u64 i = 2; i <= n; i++) {
        if (buf[i])
            continue;
        count++;
        for (u64 j = i * i; j <= n; j += i)
            buf[j] = 1;
    }
    return count;
}

static void shellsort(u32 *a, u64 n)
{
    for (u64 gap = n / 2; gap; gap /= 2)
        for (u64 i = gap; i < n; i++) {
            u32 v = a[i];
            u64 j = i;
            for (; j >= gap && a[j - gap] > v; j -= gap)
                a[j] = a[j - gap];
            a[j] = v;
        }
}

static u64 sort_round(u64 seed)
{
    u64 n = sizeof(keys) / sizeof(keys[0]), x = seed * 2654435761u + 1, sum = 0;
    for (u64 i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        keys[i] = (u32)x;
    }
    shellsort(keys, n);
    for (u64 i = 0; i < n; i += 97)
        sum += keys[i];
    return sum;
}

int main(void)
{
    static struct mmu m;
    mmu_setup(&m, 12, 16, 0);
    mmu_identity(&m);
    mmu_enable(&m, 0);
    for (u64 i = 0; i < N; i++)
        buf[i] = (u8)(i * 7 + 3);
    u64 sum = 0;
    for (int r = 0; r < ROUNDS; r++)
        sum += WORK == 1 ? crc32_round() : WORK == 2 ? sieve_round() : sort_round(r);
    print("work %d rounds %d checksum %lx\n", WORK, ROUNDS, sum);
    psci_system_off();
}
