/* GICv3 without security (GICD_CTLR.DS = 1 on QEMU virt without EL3): everything in Group 1,
 * affinity routing on, system-register CPU interface. */
#include "rt.h"

static u64 rd_base[NCPU_MAX];

static void gicd_wait_rwp(void)
{
    for (int i = 0; i < 1000000; i++)
        if (!(mmio_r32(GICD_BASE + GICD_CTLR) & (1u << 31)))
            return;
    fatal("GICD_CTLR.RWP stuck");
}

static void gicr_wait_rwp(u64 rd)
{
    for (int i = 0; i < 1000000; i++)
        if (!(mmio_r32(rd + GICR_CTLR) & (1u << 3)))
            return;
    fatal("GICR_CTLR.RWP stuck");
}

void gic_dist_init(void)
{
    mmio_w32(GICD_BASE + GICD_CTLR, 0);
    gicd_wait_rwp();
    u32 lines = ((mmio_r32(GICD_BASE + GICD_TYPER) & 0x1f) + 1) * 32;
    if (lines > 1020)
        lines = 1020;
    for (u32 i = 32; i < lines; i += 32) {
        mmio_w32(GICD_BASE + GICD_ICENABLER + i / 8, 0xffffffff);
        mmio_w32(GICD_BASE + GICD_ICPENDR + i / 8, 0xffffffff);
        mmio_w32(GICD_BASE + GICD_ICACTIVER + i / 8, 0xffffffff);
        mmio_w32(GICD_BASE + GICD_IGROUPR + i / 8, 0xffffffff);
    }
    for (u32 i = 32; i < lines; i += 4)
        mmio_w32(GICD_BASE + GICD_IPRIORITYR + i, 0x01010101u * GIC_PRIO_DEFAULT);
    for (u32 i = 32; i < lines; i += 16)
        mmio_w32(GICD_BASE + GICD_ICFGR + i / 4, 0);           /* level-sensitive */
    gicd_wait_rwp();
    mmio_w32(GICD_BASE + GICD_CTLR, 1u << 4);                  /* ARE */
    gicd_wait_rwp();
    mmio_w32(GICD_BASE + GICD_CTLR, (1u << 4) | (1u << 1));    /* ARE | EnableGrp1 */
    gicd_wait_rwp();
}

u64 gicr_base(int cpu)
{
    if (rd_base[cpu])
        return rd_base[cpu];
    u64 want = cpu_mpidr(cpu);
    u32 aff = (u32)(want & 0xffffff) | (u32)((want >> 32) & 0xff) << 24;
    for (u64 rd = GICR_BASE;; rd += GICR_STRIDE) {
        u64 typer = mmio_r64(rd + GICR_TYPER);
        if ((u32)(typer >> 32) == aff)
            return rd_base[cpu] = rd;
        if (typer & (1u << 4))                              /* Last */
            break;
    }
    fatal("no redistributor for cpu %d", cpu);
}

void gic_cpu_init(void)
{
    u64 rd = gicr_base(this_cpu());
    mmio_w32(rd + GICR_WAKER, mmio_r32(rd + GICR_WAKER) & ~(1u << 1));  /* ProcessorSleep */
    for (int i = 0; i < 1000000 && (mmio_r32(rd + GICR_WAKER) & (1u << 2)); i++)
        ;
    if (mmio_r32(rd + GICR_WAKER) & (1u << 2))
        fatal("GICR_WAKER.ChildrenAsleep stuck");
    mmio_w32(rd + GICR_ICENABLER0, 0xffffffff);
    mmio_w32(rd + GICR_ICPENDR0, 0xffffffff);
    mmio_w32(rd + GICR_ICACTIVER0, 0xffffffff);
    mmio_w32(rd + GICR_IGROUPR0, 0xffffffff);
    for (u32 i = 0; i < 32; i += 4)
        mmio_w32(rd + GICR_IPRIORITYR + i, 0x01010101u * GIC_PRIO_DEFAULT);
    gicr_wait_rwp(rd);

    write_sysreg(read_sysreg(icc_sre_el1) | 7, icc_sre_el1);   /* SRE, DFB, DIB */
    isb();
    write_sysreg(0xf0, icc_pmr_el1);
    write_sysreg(0, icc_bpr1_el1);
    write_sysreg(0, icc_ctlr_el1);                             /* EOImode 0 */
    write_sysreg(1, icc_igrpen1_el1);
    isb();
}

void gic_enable(u32 intid)
{
    if (intid < 32) {
        u64 rd = gicr_base(this_cpu());
        mmio_w32(rd + GICR_ISENABLER0, 1u << intid);
    } else {
        mmio_w32(GICD_BASE + GICD_ISENABLER + (intid / 32) * 4, 1u << (intid % 32));
    }
    dsb(sy);
}

void gic_disable(u32 intid)
{
    if (intid < 32) {
        u64 rd = gicr_base(this_cpu());
        mmio_w32(rd + GICR_ICENABLER0, 1u << intid);
        gicr_wait_rwp(rd);
    } else {
        mmio_w32(GICD_BASE + GICD_ICENABLER + (intid / 32) * 4, 1u << (intid % 32));
        gicd_wait_rwp();
    }
}

void gic_set_priority(u32 intid, u8 prio)
{
    u64 base = intid < 32 ? gicr_base(this_cpu()) + GICR_IPRIORITYR : GICD_BASE + GICD_IPRIORITYR;
    mmio_w8(base + intid, prio);
    dsb(sy);
}

void gic_route_spi(u32 intid, int cpu)
{
    mmio_w64(GICD_BASE + GICD_IROUTER + 8UL * intid, cpu_mpidr(cpu));
    dsb(sy);
}

int gic_pending(u32 intid)
{
    u64 reg = intid < 32 ? gicr_base(this_cpu()) + GICR_ISPENDR0
                         : GICD_BASE + GICD_ISPENDR + (intid / 32) * 4;
    return (mmio_r32(reg) >> (intid % 32)) & 1;
}

void gic_clear_pending(u32 intid)
{
    u64 reg = intid < 32 ? gicr_base(this_cpu()) + GICR_ICPENDR0
                         : GICD_BASE + GICD_ICPENDR + (intid / 32) * 4;
    mmio_w32(reg, 1u << (intid % 32));
    dsb(sy);
}

void gic_set_pending(u32 intid)
{
    u64 reg = intid < 32 ? gicr_base(this_cpu()) + GICR_ISPENDR0
                         : GICD_BASE + GICD_ISPENDR + (intid / 32) * 4;
    mmio_w32(reg, 1u << (intid % 32));
    dsb(sy);
}

/* ICC_SGI1R_EL1: TargetList[15:0] Aff1[23:16] INTID[27:24] Aff2[39:32] IRM[40] Aff3[55:48] */
void gic_send_sgi(u32 intid, int cpu)
{
    u64 mpidr = cpu_mpidr(cpu);
    u64 v = (1UL << (mpidr & 15)) | (((mpidr >> 8) & 0xff) << 16) | ((u64)(intid & 15) << 24);
    dsb(ishst);
    write_sysreg(v, icc_sgi1r_el1);
    isb();
}

void gic_send_sgi_others(u32 intid)
{
    dsb(ishst);
    write_sysreg(((u64)(intid & 15) << 24) | (1UL << 40), icc_sgi1r_el1);
    isb();
}
