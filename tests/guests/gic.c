/* GICv3 distributor, redistributor and CPU interface on one CPU: identification registers,
 * SPIs made pending by software and routed with GICD_IROUTER, priority order, the priority
 * mask, preemption by a higher priority, no preemption by a lower one, active state,
 * disabled interrupts, spurious acknowledges. */
#include "rt.h"

#define SPI_A 44        /* SPIs 12-14: not wired to any device on virt */
#define SPI_B 45
#define SPI_C 46
#define END 0x1000      /* seq marker: the handler of an interrupt finished */

static volatile u32 seq[16], nseq;
static volatile u64 rpr_in[16], active_seen, nest;

void irq_handler(u32 intid, struct frame *f)
{
    (void)f;
    u32 i = nseq;
    if (i < 16) {
        seq[i] = intid;
        rpr_in[i] = read_sysreg(icc_rpr_el1);
    }
    nseq = i + 1;
    active_seen = (mmio_r32(GICD_BASE + GICD_ISACTIVER + (intid / 32) * 4) >> (intid % 32)) & 1;
    if (nest && intid == SPI_A) {
        nest = 0;
        gic_set_pending(SPI_C);                 /* lower priority than A: must wait */
        gic_set_pending(SPI_B);                 /* higher priority than A: preempts */
        irq_enable();
        isb();
        for (int k = 0; k < 1000 && nseq < i + 2; k++)
            delay_us(10);
        irq_disable();
        u32 j = nseq;
        if (j < 16)
            seq[j] = END | intid;
        nseq = j + 1;
    }
}

static int take_irqs(u32 n)
{
    irq_enable();
    isb();
    for (int k = 0; k < 10000 && nseq < n; k++)
        delay_us(10);
    irq_disable();
    return nseq;
}

static void show_seq(const char *what)
{
    print("%s:", what);
    for (u32 i = 0; i < nseq && i < 16; i++) {
        if (seq[i] & END)
            print(" end-%u", seq[i] & 0xfff);
        else
            print(" %u(rpr 0x%lx)", seq[i], rpr_in[i]);
    }
    puts("\n");
}

int main(void)
{
    u32 pidr2 = mmio_r32(GICD_BASE + GICD_PIDR2);
    u32 rpidr2 = mmio_r32(GICR_BASE + GICR_PIDR2);
    print("gic: GICD_PIDR2.ArchRev %u, GICR_PIDR2.ArchRev %u\n", (pidr2 >> 4) & 15,
          (rpidr2 >> 4) & 15);
    CHECK_EQ((pidr2 >> 4) & 15, 3, "GICD_PIDR2.ArchRev");
    CHECK_EQ((rpidr2 >> 4) & 15, 3, "GICR_PIDR2.ArchRev");
    u32 typer = mmio_r32(GICD_BASE + GICD_TYPER);
    u32 lines = ((typer & 0x1f) + 1) * 32;
    CHECK(lines >= 64, "GICD_TYPER.ITLinesNumber %u", typer & 0x1f);

    gic_dist_init();
    u32 ctlr = mmio_r32(GICD_BASE + GICD_CTLR);
    print("GICD_CTLR: DS %u ARE %u EnableGrp1 %u\n", (ctlr >> 6) & 1, (ctlr >> 4) & 1,
          (ctlr >> 1) & 1);
    CHECK_EQ(ctlr & 0x52, 0x52, "GICD_CTLR DS|ARE|EnableGrp1");

    u64 rt = mmio_r64(GICR_BASE + GICR_TYPER);
    print("GICR_TYPER: affinity %lx processor %lu last %lu\n", rt >> 32, (rt >> 8) & 0xffff,
          (rt >> 4) & 1);
    CHECK_EQ(rt >> 32, 0, "GICR_TYPER.Affinity_Value of frame 0");
    CHECK_EQ((rt >> 8) & 0xffff, 0, "GICR_TYPER.Processor_Number of frame 0");
    CHECK_EQ((rt >> 4) & 1, 1, "GICR_TYPER.Last with one CPU");
    u32 waker0 = mmio_r32(GICR_BASE + GICR_WAKER);
    gic_cpu_init();
    u32 waker1 = mmio_r32(GICR_BASE + GICR_WAKER);
    print("GICR_WAKER: before 0x%x after 0x%x\n", waker0 & 6, waker1 & 6);
    CHECK_EQ(waker1 & 6, 0, "GICR_WAKER awake");
    CHECK_EQ(read_sysreg(icc_sre_el1) & 1, 1, "ICC_SRE_EL1.SRE");
    CHECK_EQ(read_sysreg(icc_pmr_el1), 0xf0, "ICC_PMR_EL1 reads back");

    /* configuration: SPI_A edge, the others level; priorities by byte writes */
    u32 icfgr = GICD_BASE + GICD_ICFGR + (SPI_A / 16) * 4;
    mmio_w32(icfgr, mmio_r32(icfgr) | (2u << ((SPI_A % 16) * 2)));
    gic_set_priority(SPI_A, 0xa0);
    gic_set_priority(SPI_B, 0x60);
    gic_set_priority(SPI_C, 0xc0);
    u32 prio = mmio_r32(GICD_BASE + GICD_IPRIORITYR + 44);
    print("GICD_IPRIORITYR11: 0x%08x\n", prio);
    CHECK_EQ(prio, (u32)GIC_PRIO_DEFAULT << 24 | 0xc0u << 16 | 0x60u << 8 | 0xa0u,
             "byte writes to GICD_IPRIORITYR");
    for (u32 i = SPI_A; i <= SPI_C; i++) {
        gic_route_spi(i, 0);
        gic_enable(i);
    }
    CHECK_EQ(mmio_r64(GICD_BASE + GICD_IROUTER + 8 * SPI_B), 0, "GICD_IROUTER reads back");

    /* nothing pending: spurious */
    u64 iar = read_sysreg(icc_iar1_el1);
    print("IAR1 with nothing pending: %lu\n", iar);
    CHECK_EQ(iar, INTID_SPURIOUS, "ICC_IAR1_EL1 with nothing pending");

    /* pending while masked by PSTATE.I, then taken */
    gic_set_pending(SPI_A);
    u64 isr = read_sysreg(isr_el1), hppir = read_sysreg(icc_hppir1_el1);
    print("SPI %u pending, masked: ISR_EL1 %lx HPPIR1 %lu\n", SPI_A, isr, hppir);
    CHECK_EQ(isr, 0x80, "ISR_EL1.I");
    CHECK_EQ(hppir, SPI_A, "ICC_HPPIR1_EL1");
    take_irqs(1);
    show_seq("taken");
    CHECK(nseq == 1 && seq[0] == SPI_A, "SPI %u taken once (%u)", SPI_A, nseq);
    CHECK_EQ(rpr_in[0], 0xa0, "running priority in the handler");
    CHECK_EQ(active_seen, 1, "active in the handler");
    CHECK_EQ(gic_pending(SPI_A), 0, "pending after acknowledge");
    CHECK_EQ(mmio_r32(GICD_BASE + GICD_ISACTIVER + 4) >> (SPI_A - 32) & 1, 0, "active after EOI");

    /* two pending: the higher priority (lower value) first */
    nseq = 0;
    gic_set_pending(SPI_A);
    gic_set_pending(SPI_B);
    hppir = read_sysreg(icc_hppir1_el1);
    take_irqs(2);
    show_seq("priority order");
    CHECK_EQ(hppir, SPI_B, "HPPIR1 picks the higher priority");
    CHECK(nseq == 2 && seq[0] == SPI_B && seq[1] == SPI_A, "priority order");

    /* the priority mask */
    nseq = 0;
    write_sysreg(0xa0, icc_pmr_el1);
    isb();
    gic_set_pending(SPI_A);                         /* 0xa0 is not below PMR 0xa0: masked */
    isr = read_sysreg(isr_el1);
    take_irqs(1);
    print("PMR 0xa0, SPI %u (0xa0) pending: ISR_EL1 %lx, taken %u\n", SPI_A, isr, nseq);
    CHECK_EQ(isr, 0, "ISR_EL1 with the interrupt masked by PMR");
    CHECK_EQ(nseq, 0, "interrupt masked by PMR taken");
    write_sysreg(0xb0, icc_pmr_el1);
    isb();
    take_irqs(1);
    print("PMR 0xb0: taken %u\n", nseq);
    CHECK(nseq == 1 && seq[0] == SPI_A, "interrupt above PMR not taken");
    write_sysreg(0xf0, icc_pmr_el1);
    isb();

    /* preemption: in A's handler (0xa0) B (0x60) preempts, C (0xc0) waits for A's EOI */
    nseq = 0;
    nest = 1;
    gic_set_pending(SPI_A);
    take_irqs(4);
    show_seq("nesting");
    CHECK(nseq == 4 && seq[0] == SPI_A && seq[1] == SPI_B && seq[2] == (END | SPI_A) &&
          seq[3] == SPI_C, "nesting order");
    CHECK(rpr_in[1] == 0x60 && rpr_in[3] == 0xc0, "running priorities while nested");
    CHECK_EQ(read_sysreg(icc_rpr_el1), 0xff, "idle priority afterwards");

    /* a disabled interrupt stays pending and is not signalled */
    nseq = 0;
    gic_disable(SPI_C);
    gic_set_pending(SPI_C);
    isr = read_sysreg(isr_el1);
    take_irqs(1);
    int pend = gic_pending(SPI_C);
    print("disabled SPI %u: pending %d, ISR_EL1 %lx, taken %u\n", SPI_C, pend, isr, nseq);
    CHECK(pend == 1 && isr == 0 && nseq == 0, "disabled interrupt signalled");
    gic_enable(SPI_C);
    take_irqs(1);
    print("enabled: taken %u\n", nseq);
    CHECK(nseq == 1 && seq[0] == SPI_C, "pending interrupt taken once enabled");

    /* ICPENDR removes a pending interrupt */
    nseq = 0;
    gic_set_pending(SPI_B);
    gic_clear_pending(SPI_B);
    take_irqs(1);
    CHECK_EQ(nseq, 0, "interrupt cleared with ICPENDR was taken");
    iar = read_sysreg(icc_iar1_el1);
    CHECK_EQ(iar, INTID_SPURIOUS, "ICC_IAR1_EL1 after everything");
    print("cleared with ICPENDR: taken %u; IAR1 %lu\n", nseq, iar);
    return 0;
}
