"""GICv3 model: register reset values and access widths, routing, SGIs, PPIs, priorities,
preemption, EOImode, edge/level, spurious, plug/unplug, reset and snapshots.

Expected values come from ARM IHI 0069 and from what QEMU's GICv3 reports on virt
(hw/intc/arm_gicv3_*.c), noted where they are implementation choices.
"""
import msgpack
import pytest

from dbt.cpu.sysregs import SYSREGS
from dbt.gicv3 import READABLE, WRITABLE, GICR_FRAME_SIZE, GICv3
from dbt.machine.device import Device
from dbt.machine.memmap import GICR_FRAME_SIZE as MEMMAP_FRAME, MEMMAP

# Distributor offsets
GICD_CTLR, GICD_TYPER, GICD_IIDR, GICD_STATUSR = 0x0, 0x4, 0x8, 0x10
GICD_IGROUPR, GICD_ISENABLER, GICD_ICENABLER = 0x80, 0x100, 0x180
GICD_ISPENDR, GICD_ICPENDR, GICD_ISACTIVER, GICD_ICACTIVER = 0x200, 0x280, 0x300, 0x380
GICD_IPRIORITYR, GICD_ITARGETSR, GICD_ICFGR, GICD_IGRPMODR = 0x400, 0x800, 0xC00, 0xD00
GICD_NSACR, GICD_SGIR, GICD_IROUTER = 0xE00, 0xF00, 0x6000
# Redistributor offsets (from the frame's RD_base)
GICR_CTLR, GICR_IIDR, GICR_TYPER, GICR_STATUSR, GICR_WAKER = 0x0, 0x4, 0x8, 0x10, 0x14
SGI = 0x10000
GICR_IGROUPR0, GICR_ISENABLER0, GICR_ICENABLER0 = SGI + 0x80, SGI + 0x100, SGI + 0x180
GICR_ISPENDR0, GICR_ICPENDR0 = SGI + 0x200, SGI + 0x280
GICR_ISACTIVER0, GICR_ICACTIVER0 = SGI + 0x300, SGI + 0x380
GICR_IPRIORITYR, GICR_ICFGR0, GICR_ICFGR1 = SGI + 0x400, SGI + 0xC00, SGI + 0xC04
GICR_IGRPMODR0, GICR_NSACR = SGI + 0xD00, SGI + 0xE00
PIDR0, PIDR2, PIDR4, CIDR0 = 0xFFE0, 0xFFE8, 0xFFD0, 0xFFF0

ARE, DS, EN_GRP0, EN_GRP1 = 1 << 4, 1 << 6, 1 << 0, 1 << 1


def virt_mpidr(i: int) -> int:
    """QEMU virt's MPIDR for CPU i with GICv3 (16 CPUs per cluster), bit 31 RES1."""
    return 1 << 31 | (i // 16) << 8 | (i % 16)


class Lines:
    """Records what the GIC drives on each CPU's IRQ and FIQ lines."""

    def __init__(self, gic):
        n = gic.num_cpus
        self.irq, self.fiq = [False] * n, [False] * n
        self.calls = 0
        for i in range(n):
            gic.irq_out[i] = self._setter(self.irq, i)
            gic.fiq_out[i] = self._setter(self.fiq, i)

    def _setter(self, lines, i):
        def set_(level):
            assert isinstance(level, bool)
            assert lines[i] != level, "callback without a change"
            lines[i] = level
            self.calls += 1
        return set_


def make(ncpus=4, num_spis=256, mpidrs=None):
    gic = GICv3(mpidrs or [virt_mpidr(i) for i in range(ncpus)], num_spis)
    return gic, Lines(gic)


def rd(gic, cpu, off, size=4):
    return gic.redistributors.read(cpu * GICR_FRAME_SIZE + off, size)


def wr(gic, cpu, off, value, size=4):
    gic.redistributors.write(cpu * GICR_FRAME_SIZE + off, size, value)


def linux_init(gic, cpus=None, group=1):
    """What Linux's irq-gic-v3 does at boot: everything Group 1, ARE + EnableGrp1,
    redistributors woken, PMR open, ICC_IGRPEN1_EL1 set (ICC_IGRPEN0 too for group 0)."""
    d = gic.distributor
    d.write(GICD_CTLR, 4, 0)
    val = 0xFFFF_FFFF if group else 0
    for n in range(1, gic.num_irqs // 32):
        d.write(GICD_IGROUPR + 4 * n, 4, val)
    d.write(GICD_CTLR, 4, ARE | EN_GRP0 | EN_GRP1)
    for c in (range(gic.num_cpus) if cpus is None else cpus):
        wr(gic, c, GICR_WAKER, 0)
        wr(gic, c, GICR_IGROUPR0, val)
        gic.cpuif_write(c, "ICC_PMR_EL1", 0xF0)
        gic.cpuif_write(c, "ICC_IGRPEN1_EL1", 1)
        gic.cpuif_write(c, "ICC_IGRPEN0_EL1", 1)


def spi_setup(gic, intid, cpu=0, prio=0xA0, edge=False, irm=False):
    d = gic.distributor
    d.write(GICD_IPRIORITYR + intid, 1, prio)
    aff = gic.mpidrs[cpu] & 0xFF_FFFF | (gic.mpidrs[cpu] >> 32 & 0xFF) << 32
    d.write(GICD_IROUTER + 8 * intid, 8, (1 << 31) if irm else aff)
    reg = GICD_ICFGR + intid // 16 * 4
    cfg = d.read(reg, 4) & ~(2 << 2 * (intid % 16)) | (int(edge) << (2 * (intid % 16) + 1))
    d.write(reg, 4, cfg)
    d.write(GICD_ISENABLER + intid // 32 * 4, 4, 1 << intid % 32)


def ppi_setup(gic, cpu, intid, prio=0xA0, edge=False):
    wr(gic, cpu, GICR_IPRIORITYR + intid, prio, 1)
    if edge:
        cfg = rd(gic, cpu, GICR_ICFGR1) | 2 << 2 * (intid - 16)
        wr(gic, cpu, GICR_ICFGR1, cfg)
    wr(gic, cpu, GICR_ISENABLER0, 1 << intid)


def iar1(gic, cpu):
    return gic.cpuif_read(cpu, "ICC_IAR1_EL1")


def eoi1(gic, cpu, intid):
    gic.cpuif_write(cpu, "ICC_EOIR1_EL1", intid)


def sgi1r(intid, targets=0, aff1=0, aff2=0, aff3=0, irm=False, rs=0):
    return targets | aff1 << 16 | intid << 24 | aff2 << 32 | int(irm) << 40 | rs << 44 \
        | aff3 << 48


# -- interface shape ----------------------------------------------------------------------

def test_blocks_are_devices_and_register_names_come_from_sysregs():
    gic, _ = make()
    assert isinstance(gic.distributor, Device) and isinstance(gic.redistributors, Device)
    assert len(gic.redistributors) == 4
    assert (READABLE | WRITABLE) <= set(SYSREGS)
    assert GICR_FRAME_SIZE == MEMMAP_FRAME == 0x20000
    # AP<n>R1-3 do not exist with 5 priority bits (QEMU defines them only for >= 6)
    assert "ICC_AP0R1_EL1" not in READABLE and "ICC_AP1R3_EL1" not in WRITABLE
    assert "ICC_IAR1_EL1" not in WRITABLE and "ICC_EOIR1_EL1" not in READABLE
    # reaching the GIC anyway, they are RAZ/WI (logged under dbt.unimp), never a crash
    before = gic.save_state()
    assert gic.cpuif_read(0, "ICC_AP0R1_EL1") == 0 and gic.cpuif_read(0, "ICC_EOIR1_EL1") == 0
    gic.cpuif_write(0, "ICC_AP1R3_EL1", 0xFFFF_FFFF)
    gic.cpuif_write(0, "ICC_RPR_EL1", 0)
    assert gic.save_state() == before


def test_constructor_checks():
    with pytest.raises(ValueError):
        GICv3([])
    with pytest.raises(ValueError):
        GICv3([0, 1 << 31])                   # same affinity (bit 31 is not affinity)
    with pytest.raises(ValueError):
        GICv3([0], num_spis=100)
    with pytest.raises(ValueError):
        GICv3([0], num_spis=992)


def test_set_irq_checks():
    gic, _ = make()
    with pytest.raises(ValueError):
        gic.set_irq(5, 1, cpu=0)              # SGIs have no wire
    with pytest.raises(ValueError):
        gic.set_irq(27, 1)                    # a PPI needs its CPU
    with pytest.raises(ValueError):
        gic.set_irq(288, 1)                   # past the 256 SPIs


# -- distributor registers ----------------------------------------------------------------

def test_gicd_reset_values_and_id_registers():
    gic, _ = make()
    d = gic.distributor
    assert d.read(GICD_CTLR, 4) == ARE | DS          # ARE and DS RAO, groups disabled
    typer = d.read(GICD_TYPER, 4)
    assert typer & 0x1F == 8                         # ITLinesNumber: INTIDs up to 287
    assert typer >> 5 & 7 == 0                       # CPUNumber: 0 with affinity routing
    assert not typer & 1 << 10                       # SecurityExtn RAZ with DS == 1
    assert not typer & (1 << 16 | 1 << 17 | 1 << 18)  # no MBIS, LPIS, DVIS
    assert typer >> 19 & 0x1F == 15                  # IDbits: 16-bit INTIDs, as QEMU
    assert typer & 1 << 24                           # A3V
    assert not typer & 1 << 25                       # No1N == 0: IRM=1 routing supported
    assert not typer & 1 << 26                       # RSS: Aff0 < 16 everywhere
    assert typer == 0x0178_0008
    assert d.read(GICD_IIDR, 4) == 0x43B
    assert d.read(GICD_STATUSR, 4) == 0
    assert d.read(PIDR2, 4) == 0x3B and d.read(PIDR2, 4) >> 4 == 3     # ArchRev 3
    assert d.read(PIDR0, 4) == 0x92 and d.read(PIDR4, 4) == 0x44
    assert [d.read(CIDR0 + 4 * k, 4) for k in range(4)] == [0x0D, 0xF0, 0x05, 0xB1]
    for n in range(9):
        for base in (GICD_IGROUPR, GICD_ISENABLER, GICD_ISPENDR, GICD_ISACTIVER):
            assert d.read(base + 4 * n, 4) == 0
    assert d.read(GICD_ICFGR + 8, 4) == 0            # SPIs level-sensitive
    assert d.read(GICD_IROUTER + 8 * 32, 8) == 0
    assert d.read(GICD_IPRIORITYR + 32, 4) == 0


def test_gicd_typer_follows_num_spis():
    assert GICv3([0], num_spis=64).distributor.read(GICD_TYPER, 4) & 0x1F == 2
    assert GICv3([0], num_spis=0).distributor.read(GICD_TYPER, 4) & 0x1F == 0
    assert GICv3([0], num_spis=960).distributor.read(GICD_TYPER, 4) & 0x1F == 30


def test_gicd_ctlr_single_security_state():
    gic, _ = make()
    d = gic.distributor
    d.write(GICD_CTLR, 4, 0xFFFF_FFFF)
    # only EnableGrp0/EnableGrp1 are writable; ARE_NS (5), EnableGrp1S (2), E1NWF (7) RES0
    assert d.read(GICD_CTLR, 4) == ARE | DS | EN_GRP0 | EN_GRP1
    d.write(GICD_CTLR, 4, 0)
    assert d.read(GICD_CTLR, 4) == ARE | DS          # RWP (31) reads 0: no waiting


def test_gicd_ds_makes_group_modifier_and_nsacr_raz_wi():
    gic, _ = make()
    d = gic.distributor
    for off in (GICD_IGRPMODR + 4, GICD_NSACR + 8, GICD_ITARGETSR + 32, GICD_SGIR + 0x10):
        d.write(off, 4, 0xFFFF_FFFF)
        assert d.read(off, 4) == 0
    d.write(GICD_IGROUPR + 4, 4, 0x1234_5678)          # IGROUPR is RW with DS == 1
    assert d.read(GICD_IGROUPR + 4, 4) == 0x1234_5678


def test_gicd_sgi_ppi_registers_are_raz_wi_with_are():
    gic, _ = make()
    d = gic.distributor
    for base in (GICD_IGROUPR, GICD_ISENABLER, GICD_ISPENDR, GICD_ISACTIVER):
        d.write(base, 4, 0xFFFF_FFFF)
        assert d.read(base, 4) == 0
    d.write(GICD_IPRIORITYR, 4, 0xFFFF_FFFF)
    d.write(GICD_IPRIORITYR + 31, 1, 0xFF)
    assert d.read(GICD_IPRIORITYR, 4) == 0 and d.read(GICD_IPRIORITYR + 31, 1) == 0
    d.write(GICD_ICFGR + 4, 4, 0xAAAA_AAAA)
    assert d.read(GICD_ICFGR + 4, 4) == 0
    d.write(GICD_IROUTER + 8 * 31, 8, 1)
    assert d.read(GICD_IROUTER + 8 * 31, 8) == 0
    assert rd(gic, 0, GICR_ISENABLER0) == 0          # nothing leaked into a redistributor


def test_gicd_unimplemented_spis_raz_wi():
    gic, _ = make(num_spis=64)                       # INTIDs 32-95
    d = gic.distributor
    d.write(GICD_ISENABLER + 8, 4, 0xFFFF_FFFF)
    d.write(GICD_ISENABLER + 12, 4, 0xFFFF_FFFF)
    assert d.read(GICD_ISENABLER + 8, 4) == 0xFFFF_FFFF
    assert d.read(GICD_ISENABLER + 12, 4) == 0
    d.write(GICD_IPRIORITYR + 96, 1, 0x80)
    assert d.read(GICD_IPRIORITYR + 96, 1) == 0
    d.write(GICD_IROUTER + 8 * 96, 8, 3)
    assert d.read(GICD_IROUTER + 8 * 96, 8) == 0


def test_gicd_bitmap_set_clear_pairs():
    gic, _ = make()
    d = gic.distributor
    for s, c in ((GICD_ISENABLER, GICD_ICENABLER), (GICD_ISPENDR, GICD_ICPENDR),
                 (GICD_ISACTIVER, GICD_ICACTIVER)):
        d.write(s + 4, 4, 0xF0F0)
        d.write(s + 4, 4, 0x000F)                    # writing 0 bits changes nothing
        assert d.read(s + 4, 4) == d.read(c + 4, 4) == 0xF0FF
        d.write(c + 4, 4, 0x00F1)
        assert d.read(s + 4, 4) == 0xF00E


def test_gicd_ipriorityr_byte_and_word_access():
    gic, _ = make()
    d = gic.distributor
    d.write(GICD_IPRIORITYR + 40, 4, 0x4433_2211)
    assert [d.read(GICD_IPRIORITYR + 40 + k, 1) for k in range(4)] == [0x11, 0x22, 0x33, 0x44]
    d.write(GICD_IPRIORITYR + 42, 1, 0xA8)
    assert d.read(GICD_IPRIORITYR + 40, 4) == 0x44A8_2211
    # halfword accesses are reserved: RAZ/WI
    d.write(GICD_IPRIORITYR + 40, 2, 0xFFFF)
    assert d.read(GICD_IPRIORITYR + 40, 2) == 0
    assert d.read(GICD_IPRIORITYR + 40, 4) == 0x44A8_2211


def test_gicd_icfgr_odd_bits_only():
    gic, _ = make()
    d = gic.distributor
    d.write(GICD_ICFGR + 8, 4, 0xFFFF_FFFF)           # INTIDs 32-47
    assert d.read(GICD_ICFGR + 8, 4) == 0xAAAA_AAAA
    d.write(GICD_ICFGR + 8, 4, 0x5555_5555)
    assert d.read(GICD_ICFGR + 8, 4) == 0
    d.write(GICD_ICFGR + 12, 4, 0x8000_0002)          # INTIDs 48 and 63
    assert d.read(GICD_ICFGR + 12, 4) == 0x8000_0002
    assert d.read(GICD_ICFGR + 8, 4) == 0


def test_gicd_irouter_64_bit_and_halves():
    gic, _ = make()
    d = gic.distributor
    off = GICD_IROUTER + 8 * 100
    d.write(off, 8, 0xFFFF_FFFF_FFFF_FFFF)
    assert d.read(off, 8) == 0xFF_80FF_FFFF          # Aff3, IRM, Aff2.Aff1.Aff0; RES0 rest
    assert d.read(off, 4) == 0x80FF_FFFF and d.read(off + 4, 4) == 0xFF
    d.write(off + 4, 4, 0x12)
    d.write(off, 4, 0x0003_0201)
    assert d.read(off, 8) == 0x12_0003_0201


def test_undefined_offsets_and_bad_accesses_are_raz_wi():
    gic, _ = make()
    d, r = gic.distributor, gic.redistributors
    before = gic.save_state()
    for off in (0xC, 0x14, 0x20, 0x40, 0x7C, 0x1000, 0x5FFC, 0x6000, 0x8000, 0xA000, 0xFFCC):
        for size in (1, 2, 4, 8):
            o = off & ~(size - 1)
            d.write(o, size, (1 << 8 * size) - 1)
            assert d.read(o, size) == 0
    # wrong widths on real registers
    assert d.read(GICD_CTLR, 8) == 0 and d.read(GICD_TYPER, 2) == 0
    assert d.read(GICD_TYPER, 1) == 0
    d.write(GICD_CTLR, 1, 0xFF)
    d.write(GICD_ISENABLER + 4, 8, 0xFFFF_FFFF_FFFF_FFFF)
    assert d.read(GICD_TYPER + 1, 4) == 0              # misaligned
    for off in (0x18, 0x40, 0x70, 0x78, 0x1000, 0xF000, SGI + 0x84, SGI + 0x420, SGI + 0xC08,
                SGI + 0xFFE8):
        for size in (1, 2, 4, 8):
            o = off & ~(size - 1)
            r.write(o, size, (1 << 8 * size) - 1)
            assert r.read(o, size) == 0
    assert r.read(GICR_WAKER, 8) == 0 and r.read(GICR_WAKER, 2) == 0
    # the read-only registers ignore writes
    d.write(GICD_TYPER, 4, 0)
    d.write(GICD_IIDR, 4, 0)
    d.write(PIDR2, 4, 0)
    r.write(GICR_TYPER, 8, 0)
    r.write(GICR_TYPER + 4, 4, 0)
    r.write(GICR_IIDR, 4, 0)
    assert d.read(GICD_TYPER, 4) == 0x0178_0008 and d.read(PIDR2, 4) == 0x3B
    assert r.read(GICR_TYPER, 8) >> 32 == 0 and r.read(GICR_IIDR, 4) == 0x43B
    assert gic.save_state() == before


# -- redistributor registers --------------------------------------------------------------

def test_gicr_typer_of_every_frame_including_unplugged():
    mpidrs = [virt_mpidr(i) for i in range(20)]         # two clusters
    gic, _ = make(mpidrs=mpidrs)
    for c in range(4, 20):
        gic.set_accessible(c, False)
    for i in range(20):
        typer = rd(gic, i, GICR_TYPER, 8)
        assert typer >> 32 == (i // 16) << 8 | (i % 16)          # Affinity_Value
        assert typer >> 8 & 0xFFFF == i                          # Processor_Number
        assert bool(typer & 1 << 4) == (i == 19)                 # Last
        assert typer >> 24 & 3 == 1                              # CommonLPIAff, as QEMU
        assert typer & 0b111111 == (0b10000 if i == 19 else 0)   # no PLPIS/VLPIS/DirectLPI/DPGS
        assert rd(gic, i, GICR_TYPER) == typer & 0xFFFF_FFFF
        assert rd(gic, i, GICR_TYPER + 4) == typer >> 32
        assert rd(gic, i, PIDR2) == 0x3B and rd(gic, i, PIDR0) == 0x93
        assert rd(gic, i, GICR_IIDR) == 0x43B
    # past the last frame: RAZ/WI (the virt region has room for 123 frames)
    assert gic.redistributors.read(20 * GICR_FRAME_SIZE + GICR_TYPER, 8) == 0
    assert gic.redistributors.size <= MEMMAP["gicr"].size


def test_gicr_typer_aff3():
    gic, _ = make(mpidrs=[0x12_0000_0000 | 0x0304_05, 0x12_0000_0000 | 0x0304_06])
    assert rd(gic, 0, GICR_TYPER, 8) >> 32 == 0x1203_0405
    assert bool(rd(gic, 1, GICR_TYPER, 8) & 1 << 4)


def test_gicr_reset_values():
    gic, _ = make()
    assert rd(gic, 0, GICR_CTLR) == 0
    assert rd(gic, 0, GICR_WAKER) == 0b110              # ProcessorSleep, ChildrenAsleep
    assert rd(gic, 0, GICR_STATUSR) == 0
    assert rd(gic, 0, GICR_IGROUPR0) == 0
    assert rd(gic, 0, GICR_ISENABLER0) == 0 and rd(gic, 0, GICR_ISPENDR0) == 0
    assert rd(gic, 0, GICR_ISACTIVER0) == 0
    assert rd(gic, 0, GICR_ICFGR0) == 0xAAAA_AAAA        # SGIs edge
    assert rd(gic, 0, GICR_ICFGR1) == 0                  # PPIs level
    assert rd(gic, 0, GICR_IPRIORITYR + 28) == 0


def test_gicr_registers():
    gic, _ = make()
    wr(gic, 1, GICR_CTLR, 0xFFFF_FFFF)                   # no LPIs, no DPG: nothing writable
    assert rd(gic, 1, GICR_CTLR) == 0
    wr(gic, 1, GICR_ICFGR0, 0)
    assert rd(gic, 1, GICR_ICFGR0) == 0xAAAA_AAAA
    wr(gic, 1, GICR_ICFGR1, 0xFFFF_FFFF)
    assert rd(gic, 1, GICR_ICFGR1) == 0xAAAA_AAAA
    for off in (GICR_IGRPMODR0, GICR_NSACR):
        wr(gic, 1, off, 0xFFFF_FFFF)
        assert rd(gic, 1, off) == 0
    wr(gic, 1, GICR_IGROUPR0, 0xDEAD_BEEF)
    assert rd(gic, 1, GICR_IGROUPR0) == 0xDEAD_BEEF
    wr(gic, 1, GICR_ISENABLER0, 0x0800_0001)
    wr(gic, 1, GICR_ISENABLER0, 0x0000_0002)
    assert rd(gic, 1, GICR_ICENABLER0) == 0x0800_0003
    wr(gic, 1, GICR_ICENABLER0, 1)
    assert rd(gic, 1, GICR_ISENABLER0) == 0x0800_0002
    wr(gic, 1, GICR_IPRIORITYR + 24, 0x8070_6050)
    assert rd(gic, 1, GICR_IPRIORITYR + 27, 1) == 0x80
    wr(gic, 1, GICR_IPRIORITYR + 25, 0x11, 1)
    assert rd(gic, 1, GICR_IPRIORITYR + 24) == 0x8070_1150
    assert rd(gic, 0, GICR_IGROUPR0) == 0 and rd(gic, 0, GICR_ISENABLER0) == 0   # banked


def test_gicr_waker_handshake():
    gic, _ = make()
    wr(gic, 0, GICR_WAKER, 0)                            # wake: ChildrenAsleep clears at once
    assert rd(gic, 0, GICR_WAKER) == 0
    wr(gic, 0, GICR_WAKER, 0b100)                        # ChildrenAsleep is read-only
    assert rd(gic, 0, GICR_WAKER) == 0
    wr(gic, 0, GICR_WAKER, 0b010)                        # sleep: ChildrenAsleep follows
    assert rd(gic, 0, GICR_WAKER) == 0b110
    assert rd(gic, 1, GICR_WAKER) == 0b110


def test_unplugged_frame_is_readable_and_writable():
    gic, lines = make()
    gic.set_accessible(3, False)
    wr(gic, 3, GICR_WAKER, 0)
    wr(gic, 3, GICR_IGROUPR0, 0xFFFF_FFFF)
    wr(gic, 3, GICR_ISENABLER0, 1 << 27)
    wr(gic, 3, GICR_IPRIORITYR + 27, 0x80, 1)
    assert rd(gic, 3, GICR_WAKER) == 0 and rd(gic, 3, GICR_ISENABLER0) == 1 << 27
    assert rd(gic, 3, GICR_IPRIORITYR + 27, 1) == 0x80
    assert rd(gic, 3, GICR_TYPER + 4) == 3


# -- CPU interface registers --------------------------------------------------------------

def test_icc_reset_values():
    gic, _ = make()
    r = lambda name: gic.cpuif_read(1, name)
    ctlr = r("ICC_CTLR_EL1")
    assert ctlr >> 8 & 7 == 4                            # PRIbits: 5 bits, 32 levels
    assert ctlr >> 11 & 7 == 1                           # IDbits as QEMU reports (24 bits)
    assert ctlr & 1 << 15                                # A3V
    assert not ctlr & (1 << 14 | 1 << 18 | 1 << 6 | 3)   # SEIS, RSS, PMHE, EOImode, CBPR
    assert r("ICC_SRE_EL1") == 0x7                       # SRE, DFB, DIB RAO/WI
    assert r("ICC_PMR_EL1") == 0
    assert r("ICC_BPR0_EL1") == 2 and r("ICC_BPR1_EL1") == 3    # the minimums
    assert r("ICC_IGRPEN0_EL1") == 0 and r("ICC_IGRPEN1_EL1") == 0
    assert r("ICC_AP0R0_EL1") == 0 and r("ICC_AP1R0_EL1") == 0
    assert r("ICC_RPR_EL1") == 0xFF
    assert r("ICC_HPPIR0_EL1") == r("ICC_HPPIR1_EL1") == 1023


def test_icc_register_writes():
    gic, _ = make()
    w = lambda name, v: gic.cpuif_write(0, name, v)
    r = lambda name: gic.cpuif_read(0, name)
    w("ICC_PMR_EL1", 0xFF)
    assert r("ICC_PMR_EL1") == 0xF8                      # unimplemented low bits RAZ
    w("ICC_PMR_EL1", 0x08)                               # Linux's group-0 probe value
    assert r("ICC_PMR_EL1") == 0x08
    w("ICC_SRE_EL1", 0)
    assert r("ICC_SRE_EL1") == 0x7
    w("ICC_CTLR_EL1", 0xFFFF_FFFF)
    assert r("ICC_CTLR_EL1") & 0xFF == 0b11              # only CBPR and EOImode writable
    assert r("ICC_CTLR_EL1") >> 8 == 0x8C                # read-only fields unchanged
    w("ICC_CTLR_EL1", 0)
    w("ICC_IGRPEN1_EL1", 0xFF)
    assert r("ICC_IGRPEN1_EL1") == 1
    w("ICC_AP1R0_EL1", 0x1_0000_0004)
    assert r("ICC_AP1R0_EL1") == 4
    w("ICC_AP1R0_EL1", 0)


def test_icc_bpr_minimums_and_cbpr():
    gic, _ = make()
    w = lambda name, v: gic.cpuif_write(0, name, v)
    r = lambda name: gic.cpuif_read(0, name)
    w("ICC_BPR0_EL1", 0)
    w("ICC_BPR1_EL1", 1)
    assert r("ICC_BPR0_EL1") == 2 and r("ICC_BPR1_EL1") == 3
    w("ICC_BPR0_EL1", 5)
    w("ICC_BPR1_EL1", 7)
    assert r("ICC_BPR0_EL1") == 5 and r("ICC_BPR1_EL1") == 7
    w("ICC_CTLR_EL1", 1)                                 # CBPR: BPR0 serves both groups
    assert r("ICC_BPR1_EL1") == 6                        # reads BPR0 + 1
    w("ICC_BPR1_EL1", 4)                                 # ignored
    w("ICC_BPR0_EL1", 7)
    assert r("ICC_BPR1_EL1") == 7                        # saturates at 7
    w("ICC_CTLR_EL1", 0)
    assert r("ICC_BPR1_EL1") == 7                        # BPR1's own value came back


# -- delivery: SPIs -----------------------------------------------------------------------

def test_spi_routed_by_irouter_to_one_cpu():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 40, cpu=2)
    assert lines.irq == [False] * 4
    gic.set_irq(40, 1)
    assert lines.irq == [False, False, True, False] and lines.fiq == [False] * 4
    assert gic.cpuif_read(2, "ICC_HPPIR1_EL1") == 40
    assert iar1(gic, 0) == 1023                          # not routed to CPU 0
    assert iar1(gic, 2) == 40
    assert lines.irq[2] is False                         # active now, nothing else pending
    assert gic.cpuif_read(2, "ICC_RPR_EL1") == 0xA0
    assert gic.distributor.read(GICD_ISACTIVER + 4, 4) == 1 << 8
    gic.set_irq(40, 0)
    eoi1(gic, 2, 40)
    assert gic.distributor.read(GICD_ISACTIVER + 4, 4) == 0
    assert gic.cpuif_read(2, "ICC_RPR_EL1") == 0xFF
    assert lines.irq == [False] * 4


def test_spi_reroute_moves_the_pending_interrupt():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 33, cpu=1)
    gic.set_irq(33, 1)
    assert lines.irq == [False, True, False, False]
    gic.distributor.write(GICD_IROUTER + 8 * 33, 4, 3)  # Aff0 = 3
    assert lines.irq == [False, False, False, True]
    # a route naming no PE: the SPI stays pending, delivered to no one
    gic.distributor.write(GICD_IROUTER + 8 * 33, 8, 0x0500)
    assert lines.irq == [False] * 4
    assert gic.distributor.read(GICD_ISPENDR + 4, 4) == 1 << 1
    assert all(iar1(gic, c) == 1023 for c in range(4))
    gic.distributor.write(GICD_IROUTER + 8 * 33, 8, 0)
    assert lines.irq == [True, False, False, False]
    assert iar1(gic, 0) == 33


def test_spi_routing_across_clusters():
    mpidrs = [virt_mpidr(i) for i in range(18)]
    gic, lines = make(mpidrs=mpidrs)
    linux_init(gic)
    spi_setup(gic, 50, cpu=17)                           # Aff1 = 1, Aff0 = 1
    assert gic.distributor.read(GICD_IROUTER + 8 * 50, 8) == 0x0101
    gic.set_irq(50, 1)
    assert [c for c in range(18) if lines.irq[c]] == [17]
    assert iar1(gic, 1) == 1023 and iar1(gic, 17) == 50


def test_spi_interrupt_routing_mode_any_participating_cpu():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 60, irm=True)
    wr(gic, 0, GICR_WAKER, 0b10)                         # CPU 0 asleep: not participating
    gic.cpuif_write(1, "ICC_IGRPEN1_EL1", 0)             # CPU 1 has Group 1 disabled
    gic.set_irq(60, 1)
    assert lines.irq == [False, False, True, True]
    assert iar1(gic, 3) == 60                            # the first to acknowledge takes it
    assert lines.irq == [False] * 4
    assert iar1(gic, 2) == 1023
    gic.set_irq(60, 0)
    eoi1(gic, 3, 60)
    gic.set_accessible(3, False)                         # unplugged: not participating
    gic.set_irq(60, 1)
    assert lines.irq == [False, False, True, False]
    wr(gic, 0, GICR_WAKER, 0)
    assert lines.irq == [True, False, True, False]


def test_spi_group0_raises_fiq():
    gic, lines = make()
    linux_init(gic)
    gic.distributor.write(GICD_IGROUPR + 4, 4, 0xFFFF_FFFE)   # INTID 32 is Group 0
    spi_setup(gic, 32, cpu=1)
    gic.set_irq(32, 1)
    assert lines.fiq == [False, True, False, False] and lines.irq == [False] * 4
    assert iar1(gic, 1) == 1023                          # IAR1 does not take Group 0
    assert gic.cpuif_read(1, "ICC_HPPIR1_EL1") == 1023
    assert gic.cpuif_read(1, "ICC_HPPIR0_EL1") == 32
    assert gic.cpuif_read(1, "ICC_IAR0_EL1") == 32
    assert gic.cpuif_read(1, "ICC_AP0R0_EL1") == 1 << (0xA0 >> 3)
    assert lines.fiq == [False] * 4
    gic.cpuif_write(1, "ICC_EOIR1_EL1", 32)              # wrong group: ignored
    assert gic.cpuif_read(1, "ICC_AP0R0_EL1") != 0
    gic.cpuif_write(1, "ICC_EOIR0_EL1", 32)
    assert gic.cpuif_read(1, "ICC_AP0R0_EL1") == 0
    assert gic.distributor.read(GICD_ISACTIVER + 4, 4) == 0


def test_group_enables():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 40, cpu=0)
    gic.set_irq(40, 1)
    assert lines.irq[0]
    gic.distributor.write(GICD_CTLR, 4, EN_GRP0)         # Group 1 off at the distributor
    assert not lines.irq[0] and iar1(gic, 0) == 1023
    gic.distributor.write(GICD_CTLR, 4, EN_GRP0 | EN_GRP1)
    assert lines.irq[0]
    gic.cpuif_write(0, "ICC_IGRPEN1_EL1", 0)             # and at the CPU interface
    assert not lines.irq[0] and gic.cpuif_read(0, "ICC_HPPIR1_EL1") == 1023
    gic.cpuif_write(0, "ICC_IGRPEN1_EL1", 1)
    gic.distributor.write(GICD_ICENABLER + 4, 4, 1 << 8)
    assert not lines.irq[0]
    assert gic.distributor.read(GICD_ISPENDR + 4, 4) == 1 << 8     # still pending
    gic.distributor.write(GICD_ISENABLER + 4, 4, 1 << 8)
    assert lines.irq[0]


# -- delivery: SGIs -----------------------------------------------------------------------

def test_sgi_by_target_list():
    gic, lines = make()
    linux_init(gic)
    for c in range(4):
        ppi_setup(gic, c, 3)
    gic.cpuif_write(0, "ICC_SGI1R_EL1", sgi1r(3, targets=0b0110))
    assert lines.irq == [False, True, True, False]
    assert rd(gic, 1, GICR_ISPENDR0) == 1 << 3 and rd(gic, 3, GICR_ISPENDR0) == 0
    assert iar1(gic, 1) == 3
    assert rd(gic, 1, GICR_ISACTIVER0) == 1 << 3 and rd(gic, 1, GICR_ISPENDR0) == 0
    eoi1(gic, 1, 3)
    assert rd(gic, 1, GICR_ISACTIVER0) == 0
    assert iar1(gic, 2) == 3
    eoi1(gic, 2, 3)
    assert lines.irq == [False] * 4
    # the sender can target itself
    gic.cpuif_write(0, "ICC_SGI1R_EL1", sgi1r(3, targets=0b0001))
    assert lines.irq == [True, False, False, False]


def test_sgi_affinity_fields():
    mpidrs = [0x0000, 0x0001, 0x0100, 0x0101, 0x01_0000, 0x01_0000_0000]
    gic, lines = make(mpidrs=mpidrs)
    linux_init(gic)
    for c in range(6):
        ppi_setup(gic, c, 5)
    w = lambda v: gic.cpuif_write(0, "ICC_SGI1R_EL1", v)
    w(sgi1r(5, targets=0b11, aff1=1))
    assert lines.irq == [False, False, True, True, False, False]
    w(sgi1r(5, targets=0b1, aff2=1))
    assert lines.irq[4] and not lines.irq[5]
    w(sgi1r(5, targets=0b1, aff3=1))
    assert lines.irq[5]
    assert not lines.irq[0] and not lines.irq[1]
    w(sgi1r(5, targets=0b1, aff1=7))                     # no such cluster: nobody
    assert rd(gic, 0, GICR_ISPENDR0) == 0


def test_sgi_range_selector():
    mpidrs = [0x00, 0x01, 0x11, 0x12]                    # Aff0 17 and 18 need RS = 1
    gic, lines = make(mpidrs=mpidrs)
    assert gic.distributor.read(GICD_TYPER, 4) & 1 << 26             # RSS
    assert gic.cpuif_read(0, "ICC_CTLR_EL1") & 1 << 18
    linux_init(gic)
    for c in range(4):
        ppi_setup(gic, c, 1)
    gic.cpuif_write(0, "ICC_SGI1R_EL1", sgi1r(1, targets=0b100, rs=1))   # Aff0 = 18
    assert lines.irq == [False, False, False, True]
    gic.cpuif_write(0, "ICC_SGI1R_EL1", sgi1r(1, targets=0b10, rs=0))    # Aff0 = 1
    assert lines.irq == [False, True, False, True]
    assert GICv3([0, 1]).distributor.read(GICD_TYPER, 4) & 1 << 26 == 0   # as QEMU


def test_sgi_broadcast_excludes_self_and_unplugged():
    gic, lines = make(ncpus=5)
    linux_init(gic)
    for c in range(5):
        ppi_setup(gic, c, 0)
    gic.set_accessible(4, False)
    gic.cpuif_write(2, "ICC_SGI1R_EL1", sgi1r(0, targets=0x0001, aff1=9, irm=True))
    assert lines.irq == [True, True, False, True, False]
    assert rd(gic, 4, GICR_ISPENDR0) == 0                # an unplugged PE takes no SGIs
    assert rd(gic, 2, GICR_ISPENDR0) == 0


def test_sgi_group_must_match_target_configuration():
    gic, lines = make()
    linux_init(gic)
    for c in range(4):
        ppi_setup(gic, c, 7)
    wr(gic, 1, GICR_IGROUPR0, 0xFFFF_FFFF & ~(1 << 7))   # SGI 7 is Group 0 on CPU 1
    gic.cpuif_write(0, "ICC_SGI1R_EL1", sgi1r(7, targets=0b0110))
    assert rd(gic, 1, GICR_ISPENDR0) == 0 and rd(gic, 2, GICR_ISPENDR0) == 1 << 7
    gic.cpuif_write(0, "ICC_SGI0R_EL1", sgi1r(7, targets=0b0110))
    assert rd(gic, 1, GICR_ISPENDR0) == 1 << 7
    assert lines.fiq == [False, True, False, False]
    assert gic.cpuif_read(1, "ICC_IAR0_EL1") == 7
    gic.cpuif_write(1, "ICC_EOIR0_EL1", 7)
    # ICC_ASGI1R_EL1 with DS == 1: Secure Group 1 is treated as Group 0 (as QEMU)
    gic.cpuif_write(0, "ICC_ASGI1R_EL1", sgi1r(7, targets=0b0110))
    assert rd(gic, 1, GICR_ISPENDR0) == 1 << 7
    assert lines.fiq[1] and not lines.fiq[2]


# -- delivery: PPIs, edge and level -------------------------------------------------------

def test_ppi_level_sensitive():
    gic, lines = make()
    linux_init(gic)
    ppi_setup(gic, 1, 27)
    gic.set_irq(27, 1, cpu=1)
    assert lines.irq == [False, True, False, False]
    assert rd(gic, 1, GICR_ISPENDR0) == 1 << 27 and rd(gic, 0, GICR_ISPENDR0) == 0
    assert iar1(gic, 1) == 27
    assert not lines.irq[1]                              # active (and still pending)
    assert rd(gic, 1, GICR_ISPENDR0) == 1 << 27 and rd(gic, 1, GICR_ISACTIVER0) == 1 << 27
    eoi1(gic, 1, 27)                                     # line still high: pending again
    assert lines.irq[1]
    gic.set_irq(27, 0, cpu=1)                            # the device drops the line
    assert not lines.irq[1] and rd(gic, 1, GICR_ISPENDR0) == 0
    # software pend with the line low: pending until acknowledged
    wr(gic, 1, GICR_ISPENDR0, 1 << 27)
    assert lines.irq[1]
    assert iar1(gic, 1) == 27
    eoi1(gic, 1, 27)
    assert not lines.irq[1]
    # clearing the latch does not clear a high level input
    gic.set_irq(27, 1, cpu=1)
    wr(gic, 1, GICR_ICPENDR0, 1 << 27)
    assert lines.irq[1] and rd(gic, 1, GICR_ISPENDR0) == 1 << 27


def test_ppi_edge_triggered():
    gic, lines = make()
    linux_init(gic)
    ppi_setup(gic, 0, 23, edge=True)
    gic.set_irq(23, 1, cpu=0)
    gic.set_irq(23, 0, cpu=0)
    assert lines.irq[0]                                  # the rising edge latched it
    assert iar1(gic, 0) == 23
    assert rd(gic, 0, GICR_ISPENDR0) == 0
    gic.set_irq(23, 1, cpu=0)                            # a new edge while active
    assert rd(gic, 0, GICR_ISPENDR0) == 1 << 23 and not lines.irq[0]
    eoi1(gic, 0, 23)
    assert lines.irq[0]
    assert iar1(gic, 0) == 23
    eoi1(gic, 0, 23)
    assert not lines.irq[0]
    gic.set_irq(23, 1, cpu=0)                            # no edge: line already high
    assert not lines.irq[0]


def test_ppis_are_per_cpu():
    gic, lines = make()
    linux_init(gic)
    for c in range(4):
        ppi_setup(gic, c, 30)
    gic.set_irq(30, 1, cpu=3)
    assert lines.irq == [False, False, False, True]
    assert iar1(gic, 0) == 1023 and iar1(gic, 3) == 30


def test_spi_edge_versus_level():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 70, cpu=0, edge=True)
    spi_setup(gic, 71, cpu=0, edge=False)
    gic.set_irq(71, 1)
    gic.set_irq(71, 0)                                   # level: gone with the line
    assert not lines.irq[0] and gic.distributor.read(GICD_ISPENDR + 8, 4) == 0
    gic.set_irq(70, 1)
    gic.set_irq(70, 0)                                   # edge: latched
    assert lines.irq[0] and gic.distributor.read(GICD_ISPENDR + 8, 4) == 1 << 6
    gic.distributor.write(GICD_ICPENDR + 8, 4, 1 << 6)
    assert not lines.irq[0]
    gic.set_irq(70, 1)
    assert iar1(gic, 0) == 70
    gic.set_irq(70, 0)
    gic.set_irq(70, 1)                                   # active and pending
    assert gic.distributor.read(GICD_ISPENDR + 8, 4) == 1 << 6
    assert gic.distributor.read(GICD_ISACTIVER + 8, 4) == 1 << 6
    assert not lines.irq[0]
    eoi1(gic, 0, 70)
    assert lines.irq[0] and iar1(gic, 0) == 70


# -- priorities ---------------------------------------------------------------------------

def test_priority_mask():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 40, cpu=0, prio=0x80)
    gic.cpuif_write(0, "ICC_PMR_EL1", 0x80)              # only priorities < PMR get through
    gic.set_irq(40, 1)
    assert not lines.irq[0]
    assert iar1(gic, 0) == 1023
    assert gic.cpuif_read(0, "ICC_HPPIR1_EL1") == 40     # HPPIR ignores the mask
    gic.cpuif_write(0, "ICC_PMR_EL1", 0x88)
    assert lines.irq[0]
    gic.cpuif_write(0, "ICC_PMR_EL1", 0)
    assert not lines.irq[0]


def test_highest_priority_wins_and_ties_go_to_lowest_intid():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 45, prio=0x90)
    spi_setup(gic, 44, prio=0x90)
    spi_setup(gic, 46, prio=0xA0)
    ppi_setup(gic, 0, 20, prio=0x90)
    for i in (44, 45, 46):
        gic.set_irq(i, 1)
    assert iar1(gic, 0) == 44
    gic.set_irq(20, 1, cpu=0)
    assert gic.cpuif_read(0, "ICC_HPPIR1_EL1") == 20
    ppi_setup(gic, 0, 21, prio=0x10)
    wr(gic, 0, GICR_ISPENDR0, 1 << 21)
    assert gic.cpuif_read(0, "ICC_HPPIR1_EL1") == 21


def test_preemption_and_running_priority_with_nested_interrupts():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 40, prio=0xA0)
    spi_setup(gic, 41, prio=0x80)
    spi_setup(gic, 42, prio=0x90)
    spi_setup(gic, 43, prio=0xA0)
    r = lambda name: gic.cpuif_read(0, name)
    gic.set_irq(40, 1)
    assert iar1(gic, 0) == 40
    assert r("ICC_RPR_EL1") == 0xA0 and r("ICC_AP1R0_EL1") == 1 << 20
    gic.set_irq(43, 1)                                   # same group priority: no preemption
    assert not lines.irq[0] and iar1(gic, 0) == 1023
    gic.set_irq(41, 1)                                   # higher priority: preempts
    assert lines.irq[0]
    assert iar1(gic, 0) == 41
    assert r("ICC_RPR_EL1") == 0x80 and r("ICC_AP1R0_EL1") == 1 << 20 | 1 << 16
    gic.set_irq(42, 1)                                   # 0x90 cannot preempt 0x80
    assert not lines.irq[0] and iar1(gic, 0) == 1023
    gic.set_irq(41, 0)
    eoi1(gic, 0, 41)                                     # back to 0xA0: 0x90 preempts
    assert r("ICC_RPR_EL1") == 0xA0 and lines.irq[0]
    assert iar1(gic, 0) == 42
    gic.set_irq(42, 0)
    eoi1(gic, 0, 42)
    gic.set_irq(40, 0)
    eoi1(gic, 0, 40)
    assert r("ICC_RPR_EL1") == 0xFF and r("ICC_AP1R0_EL1") == 0
    assert lines.irq[0] and iar1(gic, 0) == 43           # now 43 can go
    eoi1(gic, 0, 43)


def test_binary_point_sets_the_preemption_groups():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 40, prio=0xA8)
    spi_setup(gic, 41, prio=0x98)
    gic.cpuif_write(0, "ICC_BPR1_EL1", 6)                # group priority = bits [7:6]
    gic.set_irq(40, 1)
    assert iar1(gic, 0) == 40
    assert gic.cpuif_read(0, "ICC_AP1R0_EL1") == 1 << (0x80 >> 3)
    assert gic.cpuif_read(0, "ICC_RPR_EL1") == 0x80
    gic.set_irq(41, 1)                                   # 0x98 is in the same group: waits
    assert not lines.irq[0]
    gic.cpuif_write(0, "ICC_BPR1_EL1", 3)                # group priority = bits [7:3]
    assert lines.irq[0] is False                         # the running priority stays 0x80
    eoi1(gic, 0, 40)
    gic.set_irq(40, 0)
    assert lines.irq[0] and iar1(gic, 0) == 41
    assert gic.cpuif_read(0, "ICC_RPR_EL1") == 0x98
    gic.set_irq(40, 1)                                   # 0xA8 after 0x98: lower, waits
    assert not lines.irq[0]
    # with CBPR, Group 1 uses BPR0 (here bits [7:5]): 0x98 and 0x88 are one group
    eoi1(gic, 0, 41)
    gic.set_irq(41, 0)
    gic.set_irq(40, 0)
    gic.cpuif_write(0, "ICC_CTLR_EL1", 1)
    gic.cpuif_write(0, "ICC_BPR0_EL1", 4)
    spi_setup(gic, 42, prio=0x88)
    gic.set_irq(41, 1)
    assert iar1(gic, 0) == 41
    assert gic.cpuif_read(0, "ICC_RPR_EL1") == 0x80
    gic.set_irq(42, 1)
    assert not lines.irq[0]


# -- EOImode, DIR, spurious ---------------------------------------------------------------

def test_eoimode_splits_priority_drop_and_deactivation():
    gic, lines = make()
    linux_init(gic)
    gic.cpuif_write(0, "ICC_CTLR_EL1", 2)                # EOImode = 1, as Linux uses it
    spi_setup(gic, 40, edge=True)
    gic.set_irq(40, 1)
    gic.set_irq(40, 0)
    assert iar1(gic, 0) == 40
    eoi1(gic, 0, 40)                                     # priority drop only
    assert gic.cpuif_read(0, "ICC_RPR_EL1") == 0xFF
    assert gic.distributor.read(GICD_ISACTIVER + 4, 4) == 1 << 8
    gic.set_irq(40, 1)                                   # pending again but still active
    assert not lines.irq[0]
    gic.cpuif_write(0, "ICC_DIR_EL1", 40)
    assert gic.distributor.read(GICD_ISACTIVER + 4, 4) == 0
    assert lines.irq[0]
    assert iar1(gic, 0) == 40
    eoi1(gic, 0, 40)
    gic.cpuif_write(0, "ICC_DIR_EL1", 40)
    # a PPI deactivated through ICC_DIR_EL1 of its own CPU
    ppi_setup(gic, 0, 27)
    gic.set_irq(27, 1, cpu=0)
    assert iar1(gic, 0) == 27
    eoi1(gic, 0, 27)
    assert rd(gic, 0, GICR_ISACTIVER0) == 1 << 27
    gic.set_irq(27, 0, cpu=0)
    gic.cpuif_write(0, "ICC_DIR_EL1", 27)
    assert rd(gic, 0, GICR_ISACTIVER0) == 0


def test_dir_without_eoimode_is_ignored():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 40)
    gic.set_irq(40, 1)
    assert iar1(gic, 0) == 40
    gic.cpuif_write(0, "ICC_DIR_EL1", 40)
    assert gic.distributor.read(GICD_ISACTIVER + 4, 4) == 1 << 8
    eoi1(gic, 0, 40)
    assert gic.distributor.read(GICD_ISACTIVER + 4, 4) == 0


def test_spurious_interrupt_id():
    gic, lines = make()
    assert iar1(gic, 0) == 1023                          # nothing configured
    linux_init(gic)
    assert iar1(gic, 0) == 1023 and gic.cpuif_read(0, "ICC_IAR0_EL1") == 1023
    assert gic.cpuif_read(0, "ICC_HPPIR1_EL1") == 1023
    spi_setup(gic, 40)
    gic.set_irq(40, 1)
    assert gic.cpuif_read(0, "ICC_IAR0_EL1") == 1023     # Group 1 is not IAR0's
    eoi1(gic, 0, 1023)                                   # special INTIDs: ignored
    gic.cpuif_write(0, "ICC_EOIR1_EL1", 40)              # nothing active: ignored
    assert lines.irq[0] and gic.cpuif_read(0, "ICC_RPR_EL1") == 0xFF
    assert iar1(gic, 0) == 40
    assert iar1(gic, 0) == 1023                          # taken: spurious now
    eoi1(gic, 0, 40)


def test_pending_interrupt_of_a_disabled_group_does_not_hide_the_other():
    gic, lines = make()
    linux_init(gic)
    gic.distributor.write(GICD_IGROUPR + 4, 4, 0xFFFF_FFFE)   # 32: Group 0, 33: Group 1
    spi_setup(gic, 32, prio=0x10)
    spi_setup(gic, 33, prio=0x80)
    gic.cpuif_write(0, "ICC_IGRPEN0_EL1", 0)
    gic.set_irq(32, 1)
    gic.set_irq(33, 1)
    assert lines.irq[0] and not lines.fiq[0]
    assert iar1(gic, 0) == 33


# -- plug / unplug, reset, snapshots, callbacks -------------------------------------------

def test_set_accessible():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 40, cpu=2)
    ppi_setup(gic, 2, 27)
    gic.set_irq(40, 1)
    assert lines.irq[2]
    gic.set_accessible(2, False)
    assert lines.irq == [False] * 4
    assert gic.distributor.read(GICD_ISPENDR + 4, 4) == 1 << 8      # stays pending
    assert iar1(gic, 2) == 1023
    assert all(iar1(gic, c) == 1023 for c in (0, 1, 3))              # not sent elsewhere
    gic.set_irq(27, 1, cpu=2)
    assert lines.irq == [False] * 4
    assert rd(gic, 2, GICR_ISPENDR0) == 1 << 27
    gic.set_accessible(2, True)
    assert lines.irq[2]
    assert iar1(gic, 2) == 27 and iar1(gic, 2) == 1023               # nested: same priority
    eoi1(gic, 2, 27)
    gic.set_irq(27, 0, cpu=2)
    assert iar1(gic, 2) == 40


def test_callbacks_fire_only_on_changes():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 40)
    spi_setup(gic, 41, prio=0x90)
    n = lines.calls
    gic.set_irq(40, 1)
    assert lines.calls == n + 1
    gic.set_irq(41, 1)                                   # line already high
    gic.set_irq(40, 1)
    gic.distributor.write(GICD_ISENABLER + 4, 4, 1 << 8)
    assert lines.calls == n + 1
    gic.irq_out[0] = None                                # unwired lines are allowed
    gic.set_irq(40, 0)
    assert iar1(gic, 0) == 41


def test_reset_returns_everything_to_power_on():
    gic, lines = make()
    fresh = GICv3([virt_mpidr(i) for i in range(4)]).save_state()
    linux_init(gic)
    spi_setup(gic, 40)
    ppi_setup(gic, 1, 27)
    gic.set_irq(40, 1)
    gic.set_irq(27, 1, cpu=1)
    gic.cpuif_write(1, "ICC_CTLR_EL1", 3)
    assert iar1(gic, 0) == 40
    gic.reset()
    assert gic.save_state() == fresh
    assert lines.irq == [False] * 4 and lines.fiq == [False] * 4
    assert gic.cpuif_read(0, "ICC_RPR_EL1") == 0xFF


def test_cpuif_reset_only_touches_that_cpu_interface():
    gic, lines = make()
    linux_init(gic)
    spi_setup(gic, 40, cpu=1)
    gic.set_irq(40, 1)
    assert lines.irq[1]
    gic.cpuif_reset(1)                                   # e.g. the CPU's PSCI CPU_ON
    assert not lines.irq[1]
    assert gic.cpuif_read(1, "ICC_IGRPEN1_EL1") == 0 and gic.cpuif_read(0, "ICC_PMR_EL1") == 0xF0
    assert gic.distributor.read(GICD_ISPENDR + 4, 4) == 1 << 8
    assert rd(gic, 1, GICR_WAKER) == 0


def test_snapshot_round_trip_through_msgpack():
    gic, lines = make(ncpus=3)
    linux_init(gic)
    spi_setup(gic, 40, cpu=1)
    spi_setup(gic, 200, irm=True, edge=True)
    ppi_setup(gic, 2, 27)
    gic.distributor.write(GICD_IROUTER + 8 * 41, 8, 0x1_0000_0302)
    gic.set_irq(40, 1)
    gic.set_irq(27, 1, cpu=2)
    gic.set_irq(200, 1)
    gic.set_irq(200, 0)
    gic.cpuif_write(1, "ICC_CTLR_EL1", 2)
    assert iar1(gic, 1) == 40
    gic.set_accessible(0, False)
    state = msgpack.unpackb(msgpack.packb(gic.save_state()))
    assert set(state) == {"gicd", "gicr/0", "gicr/1", "gicr/2", "icc/0", "icc/1", "icc/2"}
    other, other_lines = make(ncpus=3)
    other.set_accessible(0, False)
    other.load_state(state)
    assert other.save_state() == gic.save_state()
    assert other_lines.irq == lines.irq and other_lines.fiq == lines.fiq
    for off in (GICD_ISPENDR + 4, GICD_ISACTIVER + 4, GICD_ISPENDR + 24, GICD_ICFGR + 48):
        assert other.distributor.read(off, 4) == gic.distributor.read(off, 4)
    assert other.distributor.read(GICD_IROUTER + 8 * 41, 8) == 0x1_0000_0302
    for c in range(3):
        for name in ("ICC_RPR_EL1", "ICC_HPPIR1_EL1", "ICC_CTLR_EL1", "ICC_AP1R0_EL1"):
            assert other.cpuif_read(c, name) == gic.cpuif_read(c, name)
    # the restored GIC carries on where the first one was
    assert iar1(other, 2) == 27
    eoi1(other, 1, 40)
    assert other.distributor.read(GICD_ISACTIVER + 4, 4) == 1 << 8   # EOImode: still active
    other.cpuif_write(1, "ICC_DIR_EL1", 40)
    assert other.distributor.read(GICD_ISACTIVER + 4, 4) == 0


def test_snapshot_load_is_all_or_nothing():
    gic, _ = make()
    linux_init(gic)
    before = gic.save_state()
    bad = make()[0].save_state()
    bad["icc/3"]["ICC_PMR_EL1"] = "x"
    with pytest.raises(ValueError):
        gic.load_state(bad)
    bad = make()[0].save_state()
    bad["gicd"]["GICD_IPRIORITYR"] = b"\0" * 3
    with pytest.raises(ValueError):
        gic.load_state(bad)
    bad = make()[0].save_state()
    del bad["gicr/2"]
    with pytest.raises(ValueError):
        gic.load_state(bad)
    assert gic.save_state() == before
    # values outside the architecture are brought back in
    odd = make()[0].save_state()
    odd["gicd"]["GICD_CTLR"] = 0xFFFF_FFFF
    odd["icc/0"]["ICC_BPR1_EL1"] = 0
    odd["gicr/0"]["GICR_WAKER"] = 0b100
    gic.load_state(odd)
    assert gic.distributor.read(GICD_CTLR, 4) == ARE | DS | EN_GRP0 | EN_GRP1
    assert gic.cpuif_read(0, "ICC_BPR1_EL1") == 3
    assert rd(gic, 0, GICR_WAKER) == 0


def test_state_is_declared_by_every_block():
    gic, _ = make()
    names = dict(gic.components())
    assert "GICD_ISPENDR" in names["gicd"].STATE and "GICR_WAKER" in names["gicr/0"].STATE
    assert "ICC_PMR_EL1" in names["icc/0"].STATE
    state = gic.save_state()
    assert len(state["gicd"]["GICD_ISENABLER"]) == 9      # register words <0>..<8>
    assert all(isinstance(w, int) and w < 1 << 32 for w in state["gicd"]["GICD_ISPENDR"])
