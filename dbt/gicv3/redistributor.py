"""GICv3 Redistributors (GICR_*, ARM IHI 0069 chapter 12.10): SGI and PPI state per PE.

There is one redistributor per *possible* CPU, each a 0x20000-byte frame: RD_base (control,
GICR_TYPER, GICR_WAKER, ID registers) followed by SGI_base (the SGI/PPI registers).  The
frames of CPUs that are not plugged answer like any other: Linux reads GICR_TYPER of every
frame at boot to find the Last one and to match affinities.

No LPIs (GICR_TYPER.PLPIS == 0), so GICR_CTLR has no writable bits and PROPBASER/PENDBASER
are reserved; DPGS == 0, so the GICR_CTLR.DPG* bits are RAZ/WI too.
"""
from dbt.machine.device import Device

from .common import (GIC_INTERNAL, IDREGS_BASE, IIDR, PIDR0_REDIST, UnimpLog, affinity32,
                     idreg, set_bits)

GICR_FRAME_SIZE = 0x20000      # RD_base + SGI_base, 64 KiB each
SGI_BASE = 0x10000

# RD_base registers.
GICR_CTLR, GICR_IIDR, GICR_TYPER, GICR_STATUSR, GICR_WAKER = 0x0, 0x4, 0x8, 0x10, 0x14

# SGI_base registers (offsets from SGI_base).
GICR_IGROUPR0, GICR_ISENABLER0, GICR_ICENABLER0 = 0x080, 0x100, 0x180
GICR_ISPENDR0, GICR_ICPENDR0, GICR_ISACTIVER0, GICR_ICACTIVER0 = 0x200, 0x280, 0x300, 0x380
GICR_IPRIORITYR = 0x400
GICR_ICFGR0, GICR_ICFGR1 = 0xC00, 0xC04
GICR_IGRPMODR0, GICR_NSACR = 0xD00, 0xE00

# GICR_TYPER fields.
TYPER_Last = 1 << 4
TYPER_Processor_Number_SHIFT = 8
TYPER_CommonLPIAff_SHIFT = 24     # 1, as QEMU: redistributors with the same Aff3 share LPIs

# GICR_WAKER.  The handshake completes at once: ChildrenAsleep follows ProcessorSleep.
WAKER_ProcessorSleep = 1 << 1
WAKER_ChildrenAsleep = 1 << 2

SGI_EDGE = 0xFFFF              # SGIs are always edge-triggered (GICR_ICFGR0 reads 0xAAAAAAAA)

_BITMAPS = {  # offset -> (attribute, operation)
    GICR_IGROUPR0: ("GICR_IGROUPR0", "replace"),
    GICR_ISENABLER0: ("GICR_ISENABLER0", "set"), GICR_ICENABLER0: ("GICR_ISENABLER0", "clear"),
    GICR_ISPENDR0: ("GICR_ISPENDR0", "set"), GICR_ICPENDR0: ("GICR_ISPENDR0", "clear"),
    GICR_ISACTIVER0: ("GICR_ISACTIVER0", "set"), GICR_ICACTIVER0: ("GICR_ISACTIVER0", "clear"),
}


class Redistributor(Device):
    """The frame of one PE; offsets are relative to its RD_base."""
    # GICR_ICFGR holds Int_config[1] (1 = edge) of INTIDs 0-31, i.e. GICR_ICFGR0 and
    # GICR_ICFGR1 folded to one bit each; `level` holds the PPI input wires.
    STATE = ("GICR_WAKER", "GICR_IGROUPR0", "GICR_ISENABLER0", "GICR_ISPENDR0",
             "GICR_ISACTIVER0", "GICR_ICFGR", "GICR_IPRIORITYR", "level")

    def __init__(self, gic, index: int, mpidr: int, last: bool):
        self._gic = gic
        self.index = index
        self.mpidr = mpidr
        self.GICR_TYPER = affinity32(mpidr) << 32 | 1 << TYPER_CommonLPIAff_SHIFT \
            | index << TYPER_Processor_Number_SHIFT | (TYPER_Last if last else 0)
        self._unimp = UnimpLog(f"gicr{index}")
        self.power_on()

    def power_on(self) -> None:
        self.GICR_WAKER = WAKER_ProcessorSleep | WAKER_ChildrenAsleep
        self.GICR_IGROUPR0 = 0
        self.GICR_ISENABLER0 = 0
        self.GICR_ISPENDR0 = 0
        self.GICR_ISACTIVER0 = 0
        self.GICR_ICFGR = SGI_EDGE     # PPIs level-sensitive
        self.GICR_IPRIORITYR = bytearray(GIC_INTERNAL)
        self.level = 0

    def post_load(self) -> None:
        """Re-impose what a loaded snapshot cannot change."""
        sleep = self.GICR_WAKER & WAKER_ProcessorSleep
        self.GICR_WAKER = sleep | (WAKER_ChildrenAsleep if sleep else 0)
        self.GICR_ICFGR = (self.GICR_ICFGR & 0xFFFF_0000) | SGI_EDGE
        for name in ("GICR_IGROUPR0", "GICR_ISENABLER0", "GICR_ISPENDR0", "GICR_ISACTIVER0",
                     "level"):
            setattr(self, name, getattr(self, name) & 0xFFFF_FFFF)

    def reset(self) -> None:
        self.power_on()
        self._gic.mark(self.index)
        self._gic.flush()

    # -- wires, SGIs and CPU interface operations -----------------------------------------

    def set_level(self, intid: int, level: bool) -> None:
        bit = 1 << intid
        if level:
            if self.level & bit:
                return
            self.level |= bit
            if self.GICR_ICFGR & bit:
                self.GICR_ISPENDR0 |= bit
        else:
            if not self.level & bit:
                return
            self.level &= ~bit
            if self.GICR_ICFGR & bit:
                return
        self._gic.mark(self.index)

    def send_sgi(self, intid: int, group: int) -> None:
        """An SGI of `group` arrives: it is taken only if this SGI is configured in that
        group here (IHI 0069 "Forwarding an SGI to a target PE")."""
        if (self.GICR_IGROUPR0 >> intid & 1) == group:
            self.GICR_ISPENDR0 |= 1 << intid
            self._gic.mark(self.index)

    def acknowledge(self, intid: int) -> None:
        bit = 1 << intid
        self.GICR_ISPENDR0 &= ~bit
        self.GICR_ISACTIVER0 |= bit
        self._gic.mark(self.index)

    def deactivate(self, intid: int) -> None:
        self.GICR_ISACTIVER0 &= ~(1 << intid)
        self._gic.mark(self.index)

    def pending_view(self) -> int:
        return self.GICR_ISPENDR0 | (self.level & ~self.GICR_ICFGR)

    def highest_pending(self, g0: bool, g1: bool):
        """(priority, INTID, group) of the best SGI/PPI, or None; ties go to the lowest INTID."""
        grp = self.GICR_IGROUPR0
        allow = (grp if g1 else 0) | ((~grp & 0xFFFF_FFFF) if g0 else 0)
        pend = self.pending_view() & self.GICR_ISENABLER0 & ~self.GICR_ISACTIVER0 & allow
        best_p, best_i = 0x100, -1
        prio = self.GICR_IPRIORITYR
        for i in set_bits(pend):
            if prio[i] < best_p:
                best_p, best_i = prio[i], i
        return None if best_i < 0 else (best_p, best_i, grp >> best_i & 1)

    @property
    def awake(self) -> bool:
        return not self.GICR_WAKER & WAKER_ProcessorSleep

    # -- MMIO ----------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        v = None
        if size in (1, 4, 8) and not offset & (size - 1):
            if offset < SGI_BASE:
                if size == 4:
                    v = self._rd_read32(offset)
                elif size == 8 and offset == GICR_TYPER:
                    v = self.GICR_TYPER
            else:
                off = offset - SGI_BASE
                if size == 4:
                    v = self._sgi_read32(off)
                elif size == 1 and GICR_IPRIORITYR <= off < GICR_IPRIORITYR + GIC_INTERNAL:
                    v = self.GICR_IPRIORITYR[off - GICR_IPRIORITYR]
        if v is None:
            self._unimp("read", offset, size)
            return 0
        return v

    def write(self, offset: int, size: int, value: int) -> None:
        done = False
        if size in (1, 4, 8) and not offset & (size - 1):
            value &= (1 << 8 * size) - 1
            if offset < SGI_BASE:
                if size == 4:
                    done = self._rd_write32(offset, value)
                elif size == 8:
                    done = offset == GICR_TYPER            # read-only
            else:
                off = offset - SGI_BASE
                if size == 4:
                    done = self._sgi_write32(off, value)
                elif size == 1 and GICR_IPRIORITYR <= off < GICR_IPRIORITYR + GIC_INTERNAL:
                    self._set_priority(off - GICR_IPRIORITYR, value)
                    done = True
        if not done:
            self._unimp("write", offset, size)
        self._gic.flush()

    def _rd_read32(self, off: int):
        if off in (GICR_CTLR, GICR_STATUSR):
            return 0
        if off == GICR_IIDR:
            return IIDR
        if off == GICR_TYPER:
            return self.GICR_TYPER & 0xFFFF_FFFF
        if off == GICR_TYPER + 4:
            return self.GICR_TYPER >> 32
        if off == GICR_WAKER:
            return self.GICR_WAKER
        if off >= IDREGS_BASE:
            return idreg(off, PIDR0_REDIST)
        return None

    def _rd_write32(self, off: int, v: int) -> bool:
        if off == GICR_WAKER:
            sleep = v & WAKER_ProcessorSleep
            new = sleep | (WAKER_ChildrenAsleep if sleep else 0)
            if new != self.GICR_WAKER:
                self.GICR_WAKER = new
                self._gic.mark(self.index)     # participation in 1-of-N routing changed
            return True
        # GICR_CTLR has no writable bits here; the rest is read-only.
        return off in (GICR_CTLR, GICR_IIDR, GICR_TYPER, GICR_TYPER + 4, GICR_STATUSR) \
            or off >= IDREGS_BASE

    def _sgi_read32(self, off: int):
        if off in _BITMAPS:
            attr = _BITMAPS[off][0]
            return self.pending_view() if attr == "GICR_ISPENDR0" else getattr(self, attr)
        if GICR_IPRIORITYR <= off < GICR_IPRIORITYR + GIC_INTERNAL:
            base = off - GICR_IPRIORITYR
            return int.from_bytes(self.GICR_IPRIORITYR[base:base + 4], "little")
        if off in (GICR_ICFGR0, GICR_ICFGR1):
            edge = self.GICR_ICFGR >> (16 if off == GICR_ICFGR1 else 0)
            return sum((edge >> k & 1) << (2 * k + 1) for k in range(16))
        if off in (GICR_IGRPMODR0, GICR_NSACR):
            return 0                   # RAZ/WI with DS == 1
        return None

    def _sgi_write32(self, off: int, v: int) -> bool:
        if off in _BITMAPS:
            attr, op = _BITMAPS[off]
            old = getattr(self, attr)
            new = old | v if op == "set" else old & ~v if op == "clear" else v
            if new != old:
                setattr(self, attr, new)
                self._gic.mark(self.index)
            return True
        if GICR_IPRIORITYR <= off < GICR_IPRIORITYR + GIC_INTERNAL:
            base = off - GICR_IPRIORITYR
            for k in range(4):
                self._set_priority(base + k, v >> 8 * k & 0xFF)
            return True
        if off == GICR_ICFGR1:         # PPI configuration; GICR_ICFGR0 (SGIs) is fixed
            edge = sum((v >> (2 * k + 1) & 1) << k for k in range(16))
            new = (self.GICR_ICFGR & 0xFFFF) | edge << 16
            if new != self.GICR_ICFGR:
                self.GICR_ICFGR = new
                self._gic.mark(self.index)
            return True
        return off in (GICR_ICFGR0, GICR_IGRPMODR0, GICR_NSACR)

    def _set_priority(self, intid: int, value: int) -> None:
        if self.GICR_IPRIORITYR[intid] != value:
            self.GICR_IPRIORITYR[intid] = value
            self._gic.mark(self.index)


class RedistributorRegion(Device):
    """The redistributor region as one MMIO device: frame i (CPU index i) at i * 0x20000.
    Also a sequence of the frames.  Offsets past the last frame are RAZ/WI."""
    STATE = ()

    def __init__(self, frames: list):
        self.frames = list(frames)
        self._unimp = UnimpLog("gicr")

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> Redistributor:
        return self.frames[i]

    def __iter__(self):
        return iter(self.frames)

    @property
    def size(self) -> int:
        return len(self.frames) * GICR_FRAME_SIZE

    def read(self, offset: int, size: int) -> int:
        i, off = divmod(offset, GICR_FRAME_SIZE)
        if i < len(self.frames):
            return self.frames[i].read(off, size)
        self._unimp("read", offset, size)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        i, off = divmod(offset, GICR_FRAME_SIZE)
        if i < len(self.frames):
            self.frames[i].write(off, size, value)
        else:
            self._unimp("write", offset, size)

    def reset(self) -> None:
        for f in self.frames:
            f.reset()
