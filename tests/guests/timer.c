/* The generic timer: counters, CVAL/TVAL arithmetic, ISTATUS/IMASK, the virtual (PPI 27) and
 * physical (PPI 30) timer interrupts through the GIC taken at EL1 and from EL0, and the EL0
 * access controls of CNTKCTL_EL1.  Nothing timing-dependent is printed. */
#include "rt.h"

#define EL0_READ(name, reg) \
    asm(".text\n.global " #name ", " #name "_insn\n" #name ": msr nzcv, xzr\n mov x0, #0x5a\n" \
        #name "_insn: mrs x0, " #reg "\n ret\n"); \
    u64 name(u64); extern char name##_insn[]
EL0_READ(el0_cntvct, cntvct_el0);
EL0_READ(el0_cntpct, cntpct_el0);
EL0_READ(el0_cntfrq, cntfrq_el0);
EL0_READ(el0_cntv_ctl, cntv_ctl_el0);

static volatile u32 irq_count, irq_intid;
static volatile u64 irq_rpr, irq_vec, irq_spsr, irq_cnt, irq_istatus;

void irq_handler(u32 intid, struct frame *f)
{
    irq_intid = intid;
    irq_rpr = read_sysreg(icc_rpr_el1);
    irq_vec = f->vec;
    irq_spsr = f->spsr;
    if (intid == PPI_VTIMER) {
        irq_cnt = cntvct();
        irq_istatus = read_sysreg(cntv_ctl_el0) & CNT_ISTATUS;
        write_sysreg(0, cntv_ctl_el0);          /* deassert before EOI */
    } else if (intid == PPI_PTIMER) {
        irq_cnt = cntpct();
        irq_istatus = read_sysreg(cntp_ctl_el0) & CNT_ISTATUS;
        write_sysreg(0, cntp_ctl_el0);
    }
    isb();
    irq_count++;
}

/* wait (interrupts unmasked) until irq_count reaches n or a second passes */
static int wait_irqs(u32 n)
{
    u64 end = cntvct() + cntfrq();
    irq_enable();
    while (irq_count < n && cntvct() < end)
        ;
    irq_disable();
    return irq_count >= n;
}

/* EL0: spin until *flag or a second passes; needs CNTKCTL_EL1.EL0VCTEN */
static u64 el0_wait_flag(u64 flag)
{
    u64 end, now;
    asm volatile("isb; mrs %0, cntvct_el0" : "=r"(now));
    end = now + read_sysreg(cntfrq_el0);
    while (!*(volatile u32 *)flag) {
        asm volatile("isb; mrs %0, cntvct_el0" : "=r"(now));
        if (now > end)
            return 0;
    }
    return 1;
}

static void el0_trap(const char *what, u64 (*fn)(u64), char *insn, u64 esr)
{
    struct exc_record r;
    expect_exception();
    u64 v = run_el0(fn, 0, 0);
    u64 n = took_exception(&r);
    check_exc(what, n, &r, VEC_LOW64_SYNC, esr, (u64)insn, ANY, 0);
    CHECK_EQ(v, 0x5a, "trapped MRS left its destination alone");
}

static void el0_no_trap(const char *what, u64 (*fn)(u64))
{
    expect_exception();
    u64 v = run_el0(fn, 0, 0);
    u64 n = took_exception(NULL);
    print("%s: %s\n", what, n ? "trapped" : "allowed");
    CHECK(n == 0 && v != 0x5a, "%s: trapped", what);
}

int main(void)
{
    gic_dist_init();
    gic_cpu_init();
    write_sysreg(0, cntv_ctl_el0);
    write_sysreg(0, cntp_ctl_el0);
    isb();

    /* counters */
    u64 f = cntfrq();
    print("timer: CNTFRQ_EL0 nonzero %d\n", f != 0);
    CHECK(f != 0, "CNTFRQ_EL0 is 0");
    u64 a = cntvct();
    delay_us(100);
    u64 b = cntvct();
    CHECK(b > a, "CNTVCT_EL0 does not advance: %lx then %lx", a, b);
    u64 p1 = cntpct(), v = cntvct(), p2 = cntpct();
    print("counters: virtual advances %d, virtual == physical (no CNTVOFF) %d\n", b > a,
          p1 <= v && v <= p2);
    CHECK(p1 <= v && v <= p2, "CNTVCT %lx not between CNTPCT reads %lx %lx", v, p1, p2);

    /* CVAL -> TVAL: TVAL reads (CVAL - CNTVCT)[31:0], zero-extended */
    u64 c0 = cntvct();
    write_sysreg(c0 + 1000000, cntv_cval_el0);
    isb();
    u64 tval = read_sysreg(cntv_tval_el0);
    u64 c1 = cntvct();
    print("tval from cval: in range %d, upper half zero %d\n",
          tval <= 1000000 && tval >= 1000000 - (c1 - c0), (tval >> 32) == 0);
    CHECK(tval <= 1000000 && tval >= 1000000 - (c1 - c0), "TVAL %lx for CVAL = now + 1000000", tval);
    CHECK_EQ(tval >> 32, 0, "TVAL bits [63:32]");

    /* TVAL -> CVAL: CVAL = CNTVCT + SignExtend(TVAL[31:0]) */
    c0 = cntvct();
    write_sysreg(5000, cntv_tval_el0);
    isb();
    c1 = cntvct();
    u64 cval = read_sysreg(cntv_cval_el0);
    int pos_ok = cval >= c0 + 5000 && cval <= c1 + 5000;
    CHECK(pos_ok, "CVAL %lx after TVAL = 5000 not in [%lx, %lx]", cval, c0 + 5000, c1 + 5000);
    c0 = cntvct();
    write_sysreg(0xfffff000UL, cntv_tval_el0);             /* -4096 as 32 bits */
    isb();
    c1 = cntvct();
    cval = read_sysreg(cntv_cval_el0);
    print("cval from tval: positive ok %d, negative sign-extended %d\n", pos_ok,
          cval >= c0 - 4096 && cval <= c1 - 4096);
    CHECK(cval >= c0 - 4096 && cval <= c1 - 4096, "CVAL %lx after TVAL = -4096", cval);
    write_sysreg(cntvct() - 10000, cntv_cval_el0);
    isb();
    tval = read_sysreg(cntv_tval_el0);
    CHECK((tval >> 32) == 0 && (s32)tval <= -10000, "TVAL %lx for CVAL in the past", tval);

    /* ISTATUS and IMASK, and what the GIC sees */
    gic_set_priority(PPI_VTIMER, 0x80);
    gic_enable(PPI_VTIMER);
    write_sysreg(0, cntv_cval_el0);
    write_sysreg(CNT_ENABLE | CNT_IMASK, cntv_ctl_el0);
    isb();
    u64 ctl = read_sysreg(cntv_ctl_el0);
    int pend_masked = gic_pending(PPI_VTIMER);
    print("expired, IMASK: CTL %lx, GIC pending %d\n", ctl, pend_masked);
    CHECK_EQ(ctl, 7, "CNTV_CTL_EL0 expired and masked");
    CHECK_EQ(pend_masked, 0, "PPI 27 pending while IMASK");
    write_sysreg(~0UL, cntv_cval_el0);
    isb();
    ctl = read_sysreg(cntv_ctl_el0);
    print("far future: CTL %lx\n", ctl);
    CHECK_EQ(ctl, 3, "CNTV_CTL_EL0 not expired");
    write_sysreg(0, cntv_ctl_el0);
    write_sysreg(0, cntv_cval_el0);
    isb();
    CHECK_EQ(gic_pending(PPI_VTIMER), 0, "PPI 27 pending while the timer is disabled");

    /* a virtual timer interrupt, pending while PSTATE.I masks it, then taken */
    write_sysreg(f / 1000, cntv_tval_el0);                 /* 1 ms */
    write_sysreg(CNT_ENABLE, cntv_ctl_el0);
    isb();
    cval = read_sysreg(cntv_cval_el0);
    u64 end = cntvct() + f;
    while (!(read_sysreg(cntv_ctl_el0) & CNT_ISTATUS) && cntvct() < end)
        ;
    CHECK(cntvct() >= cval, "ISTATUS set before CVAL");
    delay_us(10);
    u64 isr = read_sysreg(isr_el1);
    u64 hppir = read_sysreg(icc_hppir1_el1);
    int pend = gic_pending(PPI_VTIMER);
    print("vtimer expired, I masked: ISR_EL1 %lx, GIC pending %d, HPPIR1 %lu, taken %u\n", isr,
          pend, hppir, irq_count);
    CHECK_EQ(isr, 0x80, "ISR_EL1 (I pending)");
    CHECK_EQ(pend, 1, "PPI 27 pending");
    CHECK_EQ(hppir, PPI_VTIMER, "ICC_HPPIR1_EL1");
    CHECK_EQ(irq_count, 0, "interrupt taken while PSTATE.I set");
    irq_enable();
    isb();
    irq_disable();
    print("vtimer taken: count %u, INTID %u, vector 0x%lx, RPR 0x%lx, ISTATUS in handler %lu\n",
          irq_count, irq_intid, irq_vec * 0x80, irq_rpr, irq_istatus >> 2);
    CHECK_EQ(irq_count, 1, "interrupts taken on unmasking");
    CHECK_EQ(irq_intid, PPI_VTIMER, "ICC_IAR1_EL1");
    CHECK_EQ(irq_vec, VEC_CUR_SPX_IRQ, "IRQ vector slot");
    CHECK_EQ(irq_rpr, 0x80, "ICC_RPR_EL1 in the handler");
    CHECK_EQ(irq_spsr & 0x3cf, 0x345, "SPSR of the interrupted EL1h code (I clear)");
    CHECK(irq_cnt >= cval, "interrupt before CVAL");
    u64 rpr = read_sysreg(icc_rpr_el1);
    isr = read_sysreg(isr_el1);
    print("after EOI: RPR 0x%lx, ISR_EL1 %lx, GIC pending %d\n", rpr, isr, gic_pending(PPI_VTIMER));
    CHECK_EQ(rpr, 0xff, "ICC_RPR_EL1 idle after EOI");
    CHECK_EQ(isr, 0, "ISR_EL1 after the handler");

    /* with interrupts unmasked: CVAL through the counter, the interrupt comes, not early */
    irq_count = 0;
    cval = cntvct() + f / 500;                             /* 2 ms */
    write_sysreg(cval, cntv_cval_el0);
    write_sysreg(CNT_ENABLE, cntv_ctl_el0);
    isb();
    int got = wait_irqs(1);
    print("vtimer by CVAL: taken %d, not early %d\n", got, irq_cnt >= cval);
    CHECK(got, "virtual timer interrupt never came");
    CHECK(irq_cnt >= cval, "virtual timer interrupt came early");

    /* the physical timer, PPI 30 */
    gic_set_priority(PPI_PTIMER, 0x90);
    gic_enable(PPI_PTIMER);
    irq_count = 0;
    write_sysreg(f / 1000, cntp_tval_el0);
    write_sysreg(CNT_ENABLE, cntp_ctl_el0);
    isb();
    cval = read_sysreg(cntp_cval_el0);
    got = wait_irqs(1);
    print("ptimer: taken %d, INTID %u, RPR 0x%lx, not early %d\n", got, irq_intid, irq_rpr,
          irq_cnt >= cval);
    CHECK(got, "physical timer interrupt never came");
    CHECK_EQ(irq_intid, PPI_PTIMER, "physical timer INTID");
    CHECK_EQ(irq_rpr, 0x90, "ICC_RPR_EL1 for PPI 30");
    CHECK(irq_cnt >= cval, "physical timer interrupt came early");

    /* an interrupt taken from EL0: lower-EL IRQ vector, SPSR says EL0t */
    write_sysreg(2, cntkctl_el1);                          /* EL0VCTEN */
    isb();
    irq_count = 0;
    write_sysreg(f / 1000, cntv_tval_el0);
    write_sysreg(CNT_ENABLE, cntv_ctl_el0);
    isb();
    u64 ok = run_el0(el0_wait_flag, (u64)&irq_count, 0);
    print("vtimer from EL0: seen %lu, vector 0x%lx, SPSR.M %lx\n", ok, irq_vec * 0x80,
          irq_spsr & 0xf);
    CHECK_EQ(ok, 1, "EL0 saw the interrupt");
    CHECK_EQ(irq_vec, VEC_LOW64_IRQ, "IRQ from EL0 vector slot");
    CHECK_EQ(irq_spsr & 0xf, 0, "SPSR.M of interrupted EL0");

    /* CNTKCTL_EL1 controls EL0 access */
    write_sysreg(0, cntkctl_el1);
    isb();
    el0_trap("el0 cntvct, EL0VCTEN=0", el0_cntvct, el0_cntvct_insn, 0x6234f801);
    el0_trap("el0 cntpct, EL0PCTEN=0", el0_cntpct, el0_cntpct_insn, 0x6232f801);
    el0_trap("el0 cntfrq, both 0", el0_cntfrq, el0_cntfrq_insn, 0x6230f801);
    el0_trap("el0 cntv_ctl, EL0VTEN=0", el0_cntv_ctl, el0_cntv_ctl_insn, 0x6232f807);
    write_sysreg(2, cntkctl_el1);
    isb();
    el0_no_trap("el0 cntvct, EL0VCTEN=1", el0_cntvct);
    el0_no_trap("el0 cntfrq, EL0VCTEN=1", el0_cntfrq);
    el0_trap("el0 cntpct, EL0VCTEN=1 only", el0_cntpct, el0_cntpct_insn, 0x6232f801);
    write_sysreg(3 | (1UL << 8), cntkctl_el1);              /* EL0PCTEN, EL0VCTEN, EL0VTEN */
    isb();
    el0_no_trap("el0 cntpct, EL0PCTEN=1", el0_cntpct);
    el0_no_trap("el0 cntv_ctl, EL0VTEN=1", el0_cntv_ctl);
    write_sysreg(0, cntkctl_el1);
    write_sysreg(0, cntv_ctl_el0);
    write_sysreg(0, cntp_ctl_el0);
    isb();
    return 0;
}
