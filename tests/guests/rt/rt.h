/* Tiny bare-metal runtime shared by the test guests (see tests/guests/README.md).
 *
 * The board is QEMU "virt" with a GICv3: RAM at 0x40000000, the image linked and loaded at
 * 0x40080000, entered at EL1 with the MMU off.  CPU 0 runs main(); other CPUs are started with
 * PSCI CPU_ON (cpu_on()) and run secondary_main(context_id).  Everything is printed by CPU 0
 * unless a test fails, so the UART output is deterministic. */
#ifndef RT_H
#define RT_H

typedef unsigned long u64;
typedef long s64;
typedef unsigned int u32;
typedef int s32;
typedef unsigned short u16;
typedef unsigned char u8;
#define NULL ((void *)0)
typedef __builtin_va_list va_list;
#define va_start __builtin_va_start
#define va_end __builtin_va_end
#define va_arg __builtin_va_arg

#ifndef GUEST_SMP
#define GUEST_SMP 1            /* the -smp the guest is built for (tests/guests/build.py) */
#endif
#define NCPU_MAX 8

/* memory map (QEMU virt) */
#define RAM_BASE    0x40000000UL
#define RAM_SIZE    (256UL << 20)          /* the tests run with -m 256M */
#define UART_BASE   0x09000000UL
#define GICD_BASE   0x08000000UL
#define GICR_BASE   0x080A0000UL
#define GICR_STRIDE 0x20000UL
#define UNMAPPED_PA (RAM_BASE + RAM_SIZE)  /* nothing decodes here on a 256M virt */

/* ---- system registers and barriers ---- */
#define read_sysreg(r) ({ u64 __v; asm volatile("mrs %0, " #r : "=r"(__v) :: "memory"); __v; })
#define write_sysreg(v, r) asm volatile("msr " #r ", %0" :: "r"((u64)(v)) : "memory")
#define isb() asm volatile("isb" ::: "memory")
#define dsb(o) asm volatile("dsb " #o ::: "memory")
#define dmb(o) asm volatile("dmb " #o ::: "memory")
#define wfi() asm volatile("wfi" ::: "memory")
#define wfe() asm volatile("wfe" ::: "memory")
#define sev() asm volatile("sev" ::: "memory")
#define irq_enable() asm volatile("msr daifclr, #2" ::: "memory")
#define irq_disable() asm volatile("msr daifset, #2" ::: "memory")
#define barrier() asm volatile("" ::: "memory")

static inline u32 mmio_r32(u64 a) { return *(volatile u32 *)a; }
static inline void mmio_w32(u64 a, u32 v) { *(volatile u32 *)a = v; }
static inline u64 mmio_r64(u64 a) { return *(volatile u64 *)a; }
static inline void mmio_w64(u64 a, u64 v) { *(volatile u64 *)a = v; }
static inline u8 mmio_r8(u64 a) { return *(volatile u8 *)a; }
static inline void mmio_w8(u64 a, u8 v) { *(volatile u8 *)a = v; }

/* ESR_ELx fields */
#define ESR_EC(e) (((e) >> 26) & 0x3f)
#define ESR_IL (1UL << 25)
#define ESR_ISS(e) ((e) & 0x1ffffff)
#define EC_UNKNOWN 0x00
#define EC_FP 0x07
#define EC_SVC64 0x15
#define EC_HVC64 0x16
#define EC_SYSREG 0x18
#define EC_IABT_LOW 0x20
#define EC_IABT_CUR 0x21
#define EC_PC_ALIGN 0x22
#define EC_DABT_LOW 0x24
#define EC_DABT_CUR 0x25
#define EC_SP_ALIGN 0x26
#define EC_BRK64 0x3c

/* vector slots (offset / 0x80) */
#define VEC_CUR_SP0_SYNC 0
#define VEC_CUR_SP0_IRQ 1
#define VEC_CUR_SPX_SYNC 4
#define VEC_CUR_SPX_IRQ 5
#define VEC_LOW64_SYNC 8
#define VEC_LOW64_IRQ 9
#define VEC_CUR_SPX_SERROR 7
#define VEC_LOW64_SERROR 11

/* ---- output and checks (lib.c) ---- */
void uart_init(void);
void putc(char c);
void puts(const char *s);                  /* no newline added */
void put_hex(u64 v);                       /* 0x-prefixed, minimal digits */
void print(const char *fmt, ...);          /* %s %c %d %u %x %p with l, 0 and width */
int snprint(char *buf, int n, const char *fmt, ...);
void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
int memcmp(const void *a, const void *b, unsigned long n);

extern volatile int check_failures;
/* record a failed check: printed as "FAIL: ..." now, and the first one ends the output */
void check_failed(const char *fmt, ...);
#define CHECK(cond, ...) do { if (!(cond)) check_failed(__VA_ARGS__); } while (0)
#define CHECK_EQ(got, want, what) do { u64 __g = (u64)(got), __w = (u64)(want); \
        if (__g != __w) check_failed("%s: got %lx, want %lx", what, __g, __w); } while (0)
/* stop now: print "FAIL: reason" and power the machine off */
void fatal(const char *fmt, ...) __attribute__((noreturn));
void finish(void) __attribute__((noreturn));   /* PASS or FAIL: first reason, then SYSTEM_OFF */

/* ---- CPUs ---- */
static inline int this_cpu(void) { return (int)read_sysreg(tpidr_el1); }
static inline u64 cpu_mpidr(int cpu) { return (u64)(cpu & 15) | ((u64)(cpu >> 4) << 8); }
struct entry_state {                        /* registers as the CPU arrived at its entry point */
    u64 x0, currentel, daif, sctlr, spsel;
    volatile u64 arrived;
};
extern struct entry_state entry_state[NCPU_MAX];
int main(void);
void secondary_main(u64 context_id);         /* weak default: fatal */
void secondary_entry(void);                  /* the PSCI CPU_ON entry point (start.S) */
s64 cpu_on(int cpu, u64 context_id);         /* PSCI CPU_ON of cpu at secondary_entry */
void cpu_off(void) __attribute__((noreturn));
void delay_us(u64 us);

/* ---- PSCI over HVC (psci.c) ---- */
#define PSCI_VERSION 0x84000000UL
#define PSCI_CPU_SUSPEND 0xC4000001UL
#define PSCI_CPU_OFF 0x84000002UL
#define PSCI_CPU_ON 0xC4000003UL
#define PSCI_AFFINITY_INFO 0xC4000004UL
#define PSCI_MIGRATE_INFO_TYPE 0x84000006UL
#define PSCI_SYSTEM_OFF 0x84000008UL
#define PSCI_SYSTEM_RESET 0x84000009UL
#define PSCI_FEATURES 0x8400000AUL
#define PSCI_SUCCESS 0
#define PSCI_NOT_SUPPORTED (-1)
#define PSCI_INVALID_PARAMS (-2)
#define PSCI_DENIED (-3)
#define PSCI_ALREADY_ON (-4)
#define PSCI_ON_PENDING (-5)
s64 psci_call(u64 fn, u64 a1, u64 a2, u64 a3);
void psci_system_off(void) __attribute__((noreturn));

/* ---- exceptions (exc.c, start.S) ---- */
struct frame {                               /* what the vector stubs push; see start.S */
    u64 x[31];
    u64 elr, spsr, esr, far, vec;
};
struct exc_record {                          /* one expected synchronous exception */
    u64 count, vec, esr, far, elr, spsr, daif, currentel, spsel;
};
/* arm the next synchronous exception on this CPU: it is recorded and execution resumes after
 * the faulting instruction (SVC/HVC: at ELR; instruction aborts: at the caller's x30) */
void expect_exception(void);
/* disarm and return the number of exceptions taken since expect_exception(); *r gets the last */
u64 took_exception(struct exc_record *r);
/* if set, the next recorded exception returns with SPSR.NZCV replaced by these bits [31:28] */
void set_return_nzcv(u64 nzcv);
/* run fn(arg) at EL0 (SP_EL0 = this CPU's EL0 stack, SPSR = spsr, normally 0 = EL0t with
 * DAIF clear); returns what fn returns (fn ends with an SVC #0xffff back to EL1) */
u64 run_el0(u64 (*fn)(u64), u64 arg, u64 spsr);
/* hooks a guest may define (weak defaults in exc.c) */
void irq_handler(u32 intid, struct frame *f);      /* called between IAR1 and EOIR1 */
int sync_hook(struct frame *f);                     /* return 1 if it handled the exception */
int async_hook(struct frame *f, u64 slot);          /* FIQ, SError: return 1 if handled */
extern volatile u64 last_irq_vec[NCPU_MAX];
#define ANY (~0UL)
/* print "what: vector .. esr .. [far ..] [spsr ..]" and check count == 1 and each field that is
 * not ANY; also that the handler ran at EL1h with DAIF all masked */
void check_exc(const char *what, u64 count, const struct exc_record *r, u64 slot, u64 esr,
               u64 elr, u64 far, u64 spsr);
extern u64 vectors[];
/* probes (start.S): one access each at the *_insn address, NZCV cleared first; at EL1 or as
 * EL0 programs; 0xbad is returned when the access faulted and was skipped */
u64 probe_ld64(u64 addr);
u64 probe_ld8(u64 addr);
u64 probe_st64(u64 addr);                    /* stores 0x5a5a5a5a5a5a5a5a */
u64 probe_call(u64 target);                  /* blr target: faulting fetch returns 0xbad */
extern char probe_ld64_insn[], probe_ld8_insn[], probe_st64_insn[];
#define STORE_MARK 0x5a5a5a5a5a5a5a5aUL

/* ---- GICv3 (gic.c) ---- */
#define GICD_CTLR 0x0000
#define GICD_TYPER 0x0004
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ICENABLER 0x0180
#define GICD_ISPENDR 0x0200
#define GICD_ICPENDR 0x0280
#define GICD_ISACTIVER 0x0300
#define GICD_ICACTIVER 0x0380
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IROUTER 0x6000
#define GICD_PIDR2 0xffe8
#define GICR_CTLR 0x0000
#define GICR_TYPER 0x0008
#define GICR_WAKER 0x0014
#define GICR_PIDR2 0xffe8
#define GICR_SGI 0x10000                 /* SGI_base = RD_base + 64K */
#define GICR_IGROUPR0 (GICR_SGI + 0x080)
#define GICR_ISENABLER0 (GICR_SGI + 0x100)
#define GICR_ICENABLER0 (GICR_SGI + 0x180)
#define GICR_ISPENDR0 (GICR_SGI + 0x200)
#define GICR_ICPENDR0 (GICR_SGI + 0x280)
#define GICR_ISACTIVER0 (GICR_SGI + 0x300)
#define GICR_ICACTIVER0 (GICR_SGI + 0x380)
#define GICR_IPRIORITYR (GICR_SGI + 0x400)
#define GICR_ICFGR1 (GICR_SGI + 0xc04)
#define GIC_PRIO_DEFAULT 0xa0
#define INTID_SPURIOUS 1023
#define PPI_VTIMER 27
#define PPI_PTIMER 30
void gic_dist_init(void);                  /* once, by CPU 0: ARE, Group 1 on, SPIs off */
void gic_cpu_init(void);                   /* each CPU: wake its redistributor, ICC_* on */
u64 gicr_base(int cpu);                    /* RD_base of the frame whose affinity is cpu's */
void gic_enable(u32 intid);                /* SGI/PPI on this CPU, or SPI */
void gic_disable(u32 intid);
void gic_set_priority(u32 intid, u8 prio);
void gic_route_spi(u32 intid, int cpu);
int gic_pending(u32 intid);                /* this CPU's view (ISPENDR) */
void gic_clear_pending(u32 intid);
void gic_set_pending(u32 intid);
void gic_send_sgi(u32 intid, int cpu);
void gic_send_sgi_others(u32 intid);       /* IRM=1: all but self */
static inline u32 gic_ack(void) { u64 v = read_sysreg(icc_iar1_el1); dsb(sy); return (u32)v & 0xffffff; }
static inline void gic_eoi(u32 intid) { write_sysreg(intid, icc_eoir1_el1); isb(); }

/* ---- generic timer ---- */
static inline u64 cntvct(void) { isb(); return read_sysreg(cntvct_el0); }
static inline u64 cntpct(void) { isb(); return read_sysreg(cntpct_el0); }
static inline u64 cntfrq(void) { return read_sysreg(cntfrq_el0); }
#define CNT_ENABLE 1UL
#define CNT_IMASK 2UL
#define CNT_ISTATUS 4UL

/* ---- stage-1 page tables (mmu.c) ---- */
#define PTE_VALID (1UL << 0)
#define PTE_TABLE (1UL << 1)                 /* table (L0-L2) or page (L3) */
#define PTE_ATTR(i) ((u64)(i) << 2)          /* MAIR index */
#define PTE_AP_RW_EL1 (0UL << 6)
#define PTE_AP_RW_ALL (1UL << 6)
#define PTE_AP_RO_EL1 (2UL << 6)
#define PTE_AP_RO_ALL (3UL << 6)
#define PTE_SH_INNER (3UL << 8)
#define PTE_AF (1UL << 10)
#define PTE_NG (1UL << 11)
#define PTE_PXN (1UL << 53)
#define PTE_UXN (1UL << 54)
#define MAIR_DEVICE 0                        /* attr index: Device-nGnRnE */
#define MAIR_NORMAL 1                        /* attr index: Normal WB RWA */
#define MAIR_NC 2                            /* attr index: Normal non-cacheable */
#define MAIR_VALUE 0x44ff00UL
#define MEM_NORMAL (PTE_ATTR(MAIR_NORMAL) | PTE_SH_INNER | PTE_AF)
#define MEM_DEVICE (PTE_ATTR(MAIR_DEVICE) | PTE_AF | PTE_PXN | PTE_UXN)
struct mmu {
    unsigned gshift;                         /* 12 (4K), 14 (16K) or 16 (64K) */
    unsigned t0sz, t1sz;
    u64 *root0, *root1;
};
void mmu_setup(struct mmu *m, unsigned gshift, unsigned t0sz, unsigned t1sz);
int mmu_start_level(const struct mmu *m, int ttbr1);
u64 *mmu_alloc_table(const struct mmu *m);
/* map [va, va+size) to pa with leaf attributes attrs; blocks where alignment allows, and
 * never a leaf bigger than max_leaf bytes (0: no limit) */
void mmu_map(struct mmu *m, u64 va, u64 pa, u64 size, u64 attrs, u64 max_leaf);
/* the descriptor for va at level (tables created on the way), or 0 if a block is in the way */
u64 *mmu_pte(struct mmu *m, u64 va, int level);
/* identity map of the board: devices below RAM, the image by section, the rest of RAM RW */
void mmu_identity(struct mmu *m);
void mmu_enable(struct mmu *m, u64 asid);   /* MAIR, TCR, TTBRs, SCTLR.{M,C,I} */
void mmu_disable(void);
void tlb_flush_all(void);
void tlb_flush_va(u64 va);
extern char __text_start[], __text_end[], __image_end[];

#endif
