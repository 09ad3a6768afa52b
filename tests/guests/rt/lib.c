/* PL011 output, a small formatter, checks and the C side of CPU entry. */
#include "rt.h"

#define UARTDR 0x000
#define UARTFR 0x018
#define UARTIBRD 0x024
#define UARTFBRD 0x028
#define UARTLCR_H 0x02c
#define UARTCR 0x030
#define UARTIMSC 0x038
#define FR_TXFF (1u << 5)

struct entry_state entry_state[NCPU_MAX];
volatile int check_failures;
static char first_failure[160];

void uart_init(void)
{
    mmio_w32(UART_BASE + UARTCR, 0);
    mmio_w32(UART_BASE + UARTIMSC, 0);
    mmio_w32(UART_BASE + UARTIBRD, 13);                   /* 115200 from 24 MHz */
    mmio_w32(UART_BASE + UARTFBRD, 1);
    mmio_w32(UART_BASE + UARTLCR_H, (3u << 5) | (1u << 4)); /* 8N1, FIFOs on */
    mmio_w32(UART_BASE + UARTCR, (1u << 9) | (1u << 8) | 1u); /* RXE, TXE, UARTEN */
}

static void uart_tx(char c)
{
    while (mmio_r32(UART_BASE + UARTFR) & FR_TXFF)
        ;
    mmio_w32(UART_BASE + UARTDR, (u8)c);
}

void putc(char c)
{
    if (c == '\n')
        uart_tx('\r');
    uart_tx(c);
}

void puts(const char *s)
{
    while (*s)
        putc(*s++);
}

void *memset(void *d, int c, unsigned long n)
{
    volatile u8 *p = d;
    while (n--)
        *p++ = (u8)c;
    return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
    volatile u8 *p = d;
    const volatile u8 *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

int memcmp(const void *a, const void *b, unsigned long n)
{
    const volatile u8 *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p < *q ? -1 : 1;
    return 0;
}

/* ---- formatter: %[0][width][l]{d,u,x,s,c,p} and %% ---- */
struct sink { char *buf; int n, len; };

static void emit(struct sink *s, char c)
{
    if (s->buf) {
        if (s->len + 1 < s->n)
            s->buf[s->len] = c;
    } else {
        putc(c);
    }
    s->len++;
}

static void vformat(struct sink *s, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(s, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, lng = 0;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') {
            lng = 1;
            fmt++;
        }
        char tmp[24];
        int k = 0, neg = 0;
        u64 v;
        switch (*fmt) {
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            int len = 0;
            while (str[len])
                len++;
            for (; len < width; width--)
                emit(s, ' ');
            while (*str)
                emit(s, *str++);
            continue;
        }
        case 'c':
            emit(s, (char)va_arg(ap, int));
            continue;
        case '%':
            emit(s, '%');
            continue;
        case 'p':
            lng = 1;
            emit(s, '0');
            emit(s, 'x');
            /* fall through */
        case 'x':
            v = lng ? va_arg(ap, u64) : va_arg(ap, u32);
            do {
                tmp[k++] = "0123456789abcdef"[v & 15];
                v >>= 4;
            } while (v);
            break;
        case 'd': {
            s64 sv = lng ? va_arg(ap, s64) : va_arg(ap, s32);
            if (sv < 0) {
                neg = 1;
                v = -(u64)sv;
            } else {
                v = sv;
            }
            goto dec;
        }
        case 'u':
            v = lng ? va_arg(ap, u64) : va_arg(ap, u32);
        dec:
            do {
                tmp[k++] = '0' + v % 10;
                v /= 10;
            } while (v);
            if (neg)
                tmp[k++] = '-';
            break;
        default:
            emit(s, '%');
            emit(s, *fmt);
            continue;
        }
        for (int w = k; w < width; w++)
            emit(s, pad);
        while (k)
            emit(s, tmp[--k]);
    }
    if (s->buf && s->n)
        s->buf[s->len < s->n ? s->len : s->n - 1] = 0;
}

void print(const char *fmt, ...)
{
    struct sink s = {0, 0, 0};
    va_list ap;
    va_start(ap, fmt);
    vformat(&s, fmt, ap);
    va_end(ap);
}

int snprint(char *buf, int n, const char *fmt, ...)
{
    struct sink s = {buf, n, 0};
    va_list ap;
    va_start(ap, fmt);
    vformat(&s, fmt, ap);
    va_end(ap);
    return s.len;
}

void put_hex(u64 v)
{
    print("0x%lx", v);
}

void check_failed(const char *fmt, ...)
{
    char msg[160];
    struct sink s = {msg, sizeof msg, 0};
    va_list ap;
    va_start(ap, fmt);
    vformat(&s, fmt, ap);
    va_end(ap);
    if (!check_failures)
        memcpy(first_failure, msg, sizeof msg);
    check_failures++;
    print("check failed: %s\n", msg);
}

void fatal(const char *fmt, ...)
{
    struct sink s = {0, 0, 0};
    va_list ap;
    puts("FAIL: ");
    va_start(ap, fmt);
    vformat(&s, fmt, ap);
    va_end(ap);
    puts("\n");
    psci_system_off();
}

void finish(void)
{
    if (check_failures)
        print("FAIL: %s (%d failed checks)\n", first_failure, check_failures);
    else
        puts("PASS\n");
    psci_system_off();
}

/* ---- CPUs ---- */
__attribute__((weak)) void secondary_main(u64 context_id)
{
    fatal("cpu %d started (context %lx) but this guest has no secondary_main", this_cpu(),
          context_id);
}

void rt_primary(u64 x0, u64 x1, u64 x2, u64 x3, u64 currentel, u64 daif, u64 sctlr, u64 spsel)
{
    (void)x1; (void)x2; (void)x3;
    struct entry_state *e = &entry_state[0];
    e->x0 = x0;
    e->currentel = currentel;
    e->daif = daif;
    e->sctlr = sctlr;
    e->spsel = spsel;
    e->arrived = 1;
    uart_init();
    main();
    finish();
}

void rt_secondary(u64 context_id, u64 currentel, u64 daif, u64 sctlr, u64 spsel)
{
    struct entry_state *e = &entry_state[this_cpu()];
    e->x0 = context_id;
    e->currentel = currentel;
    e->daif = daif;
    e->sctlr = sctlr;
    e->spsel = spsel;
    dsb(sy);
    e->arrived++;
    dsb(sy);
    sev();
    secondary_main(context_id);
    cpu_off();
}

s64 cpu_on(int cpu, u64 context_id)
{
    return psci_call(PSCI_CPU_ON, cpu_mpidr(cpu), (u64)secondary_entry, context_id);
}

void cpu_off(void)
{
    dsb(sy);
    s64 r = psci_call(PSCI_CPU_OFF, 0, 0, 0);
    fatal("cpu %d: CPU_OFF returned %ld", this_cpu(), r);
}

void delay_us(u64 us)
{
    u64 f = cntfrq(), start = cntvct();
    u64 ticks = us * (f / 1000000) + (us * (f % 1000000)) / 1000000;
    /* YIELD: a hint, but it lets a round-robin emulator (QEMU with -icount) run the other
     * CPUs while this one waits for them */
    while (cntvct() - start < ticks)
        asm volatile("yield" ::: "memory");
}
