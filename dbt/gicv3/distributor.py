"""GICv3 Distributor (GICD_*, ARM IHI 0069 chapter 12.9): SPI state, priorities, routing.

Affinity routing is always on (GICD_CTLR.ARE RAO/WI) and the GIC has a single Security state
(GICD_CTLR.DS RAO/WI), so SGIs and PPIs live in the redistributors, the GICD registers for
INTIDs 0-31 are RAZ/WI, ITARGETSR/SGIR/[CS]PENDSGIR are RES0, and IGRPMODR/NSACR are RAZ/WI.

Per-INTID state is held as Python-int bitmaps indexed by INTID (bit n = INTID n), which makes
a 32-bit register a shift and a mask and "what is pending" a handful of big-int operations.
"""
from dbt.machine.device import Device

from .common import (GIC_INTERNAL, IDREGS_BASE, IIDR, MAX_SPIS, PIDR0_DIST, UnimpLog,
                     idreg, set_bits)

# Register offsets.
GICD_CTLR, GICD_TYPER, GICD_IIDR, GICD_STATUSR = 0x0000, 0x0004, 0x0008, 0x0010
GICD_IGROUPR, GICD_ISENABLER, GICD_ICENABLER = 0x0080, 0x0100, 0x0180
GICD_ISPENDR, GICD_ICPENDR, GICD_ISACTIVER, GICD_ICACTIVER = 0x0200, 0x0280, 0x0300, 0x0380
GICD_IPRIORITYR, GICD_ITARGETSR, GICD_ICFGR = 0x0400, 0x0800, 0x0C00
GICD_IGRPMODR, GICD_NSACR, GICD_SGIR = 0x0D00, 0x0E00, 0x0F00
GICD_CPENDSGIR, GICD_SPENDSGIR = 0x0F10, 0x0F20
GICD_IROUTER = 0x6000

# GICD_CTLR.  With DS == 1 the register has its single-Security-state layout: bit 1 is
# EnableGrp1 (EnableGrp1NS in the two-state layout), bit 4 is ARE (ARE_S), and the
# two-state-only bits EnableGrp1S (2) and ARE_NS (5) are RES0.
CTLR_EnableGrp0 = 1 << 0
CTLR_EnableGrp1 = CTLR_EnableGrp1NS = 1 << 1
CTLR_EnableGrp1S = 1 << 2            # RES0 with DS == 1
CTLR_ARE = CTLR_ARE_S = 1 << 4
CTLR_ARE_NS = 1 << 5                 # RES0 with DS == 1
CTLR_DS = 1 << 6
CTLR_E1NWF = 1 << 7                  # RAZ/WI: no 1-of-N wakeup
CTLR_RWP = 1 << 31                   # register writes take effect at once: always 0
CTLR_WRITABLE = CTLR_EnableGrp0 | CTLR_EnableGrp1

# GICD_TYPER fields.
TYPER_IDbits_SHIFT = 19
TYPER_A3V = 1 << 24
TYPER_No1N = 1 << 25
TYPER_RSS = 1 << 26
IDBITS = 16                          # INTID width QEMU reports (GICD_TYPER.IDbits = 15)

# GICD_IROUTER<n>: Aff0-2 [23:0], Interrupt_Routing_Mode [31], Aff3 [39:32]; the rest RES0.
IROUTER_IRM = 1 << 31
IROUTER_MASK = 0xFF_80FF_FFFF

# Cached routing of an SPI: a CPU index, or one of these.
ROUTE_NONE = -1                      # IROUTER names no implemented PE: the SPI stays pending
ROUTE_ANY = -2                       # Interrupt_Routing_Mode 1: any participating PE

_BITMAPS = {  # 1-bit-per-INTID banks: offset -> (attribute, operation)
    GICD_IGROUPR: ("_igroupr", "replace"),
    GICD_ISENABLER: ("_isenabler", "set"), GICD_ICENABLER: ("_isenabler", "clear"),
    GICD_ISPENDR: ("_ispendr", "set"), GICD_ICPENDR: ("_ispendr", "clear"),
    GICD_ISACTIVER: ("_isactiver", "set"), GICD_ICACTIVER: ("_isactiver", "clear"),
}


def _words(bitmap: int, n: int) -> list:
    return [bitmap >> 32 * i & 0xFFFF_FFFF for i in range(n)]


def _bitmap(words) -> int:
    return sum((w & 0xFFFF_FFFF) << 32 * i for i, w in enumerate(words))


def _bitmap_state(attr: str, doc: str):
    """A 1-bit-per-INTID bitmap kept as one Python int (fast to combine), seen by snapshots
    as its 32-bit register words <n> = INTIDs 32n..32n+31, so every value fits msgpack."""
    return property(lambda self: _words(getattr(self, attr), self.num_irqs // 32),
                    lambda self, words: setattr(self, attr, _bitmap(words) & self._spis),
                    doc=doc)


class Distributor(Device):
    STATE = ("GICD_CTLR", "GICD_IGROUPR", "GICD_ISENABLER", "GICD_ISPENDR", "GICD_ISACTIVER",
             "GICD_ICFGR", "GICD_IPRIORITYR", "GICD_IROUTER", "level")

    GICD_IGROUPR = _bitmap_state("_igroupr", "GICD_IGROUPR<n>: 1 = Group 1")
    GICD_ISENABLER = _bitmap_state("_isenabler", "GICD_ISENABLER<n>: enables")
    GICD_ISPENDR = _bitmap_state("_ispendr", "the pending latch (edge, or software pend)")
    GICD_ISACTIVER = _bitmap_state("_isactiver", "GICD_ISACTIVER<n>: active")
    GICD_ICFGR = _bitmap_state("_edge", "Int_config[1] of each INTID: 1 = edge-triggered")
    level = _bitmap_state("_level", "the SPI input wires")

    def __init__(self, gic, num_spis: int, rss: bool = False):
        if num_spis % 32 or not 0 <= num_spis <= MAX_SPIS:
            raise ValueError(f"num_spis must be a multiple of 32 in 0..{MAX_SPIS}")
        self._gic = gic
        self.num_spis = num_spis
        self.num_irqs = GIC_INTERNAL + num_spis
        self._spis = ((1 << self.num_irqs) - 1) & ~0xFFFF_FFFF     # implemented SPIs
        # ITLinesNumber = (max SPI INTID + 1) / 32 - 1; CPUNumber 0 and SecurityExtn 0
        # (affinity routing, DS == 1); no LPIs, MBIs, NMIs or extended SPIs.  No1N is 0:
        # Interrupt_Routing_Mode 1 is implemented (QEMU reports No1N == 1 and ignores IRM).
        self.typer = (self.num_irqs // 32 - 1) | (IDBITS - 1) << TYPER_IDbits_SHIFT \
            | TYPER_A3V | (TYPER_RSS if rss else 0)
        self._route = [ROUTE_NONE] * self.num_irqs
        self._unimp = UnimpLog("gicd")
        self.power_on()

    def power_on(self) -> None:
        """Reset values; the caller recomputes routing and delivery."""
        self.GICD_CTLR = CTLR_ARE | CTLR_DS
        self._igroupr = 0              # Group 0 until software says otherwise
        self._isenabler = 0
        self._ispendr = 0
        self._isactiver = 0
        self._edge = 0                 # level-sensitive
        self.GICD_IPRIORITYR = bytearray(self.num_irqs)
        self.GICD_IROUTER = [0] * self.num_irqs
        self._level = 0

    def post_load(self) -> None:
        """Re-impose what a loaded snapshot cannot change, then rebuild the routing cache."""
        self.GICD_CTLR = (self.GICD_CTLR & CTLR_WRITABLE) | CTLR_ARE | CTLR_DS
        self.GICD_IROUTER = [r & IROUTER_MASK for r in self.GICD_IROUTER]
        self.rebuild_routes()

    def reset(self) -> None:
        self.power_on()
        self.rebuild_routes()
        self._gic.mark_all()
        self._gic.flush()

    # -- routing -------------------------------------------------------------------------

    def _route_of(self, irouter: int) -> int:
        if irouter & IROUTER_IRM:
            return ROUTE_ANY
        aff = (irouter & 0xFF_FFFF) | (irouter >> 8 & 0xFF00_0000)
        return self._gic.cpu_index(aff)

    def rebuild_routes(self) -> None:
        for i in range(GIC_INTERNAL, self.num_irqs):
            self._route[i] = self._route_of(self.GICD_IROUTER[i])

    def _mark_route(self, r: int) -> None:
        if r >= 0:
            self._gic.mark(r)
        elif r == ROUTE_ANY:
            self._gic.mark_all()

    def _mark_spis(self, bits: int) -> None:
        """Recompute delivery for the PEs the SPIs in `bits` are routed to."""
        for i in set_bits(bits):
            self._mark_route(self._route[i])

    # -- wires and CPU interface operations ---------------------------------------------------

    def set_level(self, intid: int, level: bool) -> None:
        bit = 1 << intid
        if level:
            if self._level & bit:
                return
            self._level |= bit
            if self._edge & bit:           # a rising edge latches pending
                self._ispendr |= bit
        else:
            if not self._level & bit:
                return
            self._level &= ~bit
            if self._edge & bit:           # a falling edge changes nothing
                return
        self._mark_route(self._route[intid])

    def acknowledge(self, intid: int) -> None:
        """Pending -> active (an ICC_IAR read); a level input that is still high keeps the
        interrupt active and pending."""
        bit = 1 << intid
        self._ispendr &= ~bit
        self._isactiver |= bit
        self._mark_route(self._route[intid])

    def deactivate(self, intid: int) -> None:
        bit = 1 << intid
        if self._isactiver & bit:
            self._isactiver &= ~bit
            self._mark_route(self._route[intid])

    def pending_view(self) -> int:
        """GICD_ISPENDR as read: the latch, or the input for level-sensitive SPIs."""
        return self._ispendr | (self._level & ~self._edge)

    def highest_pending(self, cpu: int, g0: bool, g1: bool, participating: bool):
        """(priority, INTID, group) of the best SPI this PE may take, or None.  Ties go to
        the lowest INTID.  `g0`/`g1`: the group is enabled here and at the CPU interface;
        `participating`: the PE takes Interrupt_Routing_Mode 1 SPIs."""
        grp = self._igroupr
        allow = (grp if g1 else 0) | ((self._spis & ~grp) if g0 else 0)
        pend = self.pending_view() & self._isenabler & ~self._isactiver & allow
        best_p, best_i = 0x100, -1
        route, prio = self._route, self.GICD_IPRIORITYR
        for i in set_bits(pend):
            r = route[i]
            if r == cpu or (r == ROUTE_ANY and participating):
                p = prio[i]
                if p < best_p:
                    best_p, best_i = p, i
        return None if best_i < 0 else (best_p, best_i, grp >> best_i & 1)

    # -- MMIO ----------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        v = None
        if size in (1, 4, 8) and not offset & (size - 1):
            if size == 4:
                v = self._read32(offset)
            elif size == 8:
                if GICD_IROUTER + 8 * GIC_INTERNAL <= offset < GICD_IROUTER + 8 * 1020:
                    v = self._irouter((offset - GICD_IROUTER) >> 3)
            elif GICD_IPRIORITYR <= offset < GICD_IPRIORITYR + 1020:
                v = self._priority(offset - GICD_IPRIORITYR)
        if v is None:
            self._unimp("read", offset, size)
            return 0
        return v

    def write(self, offset: int, size: int, value: int) -> None:
        done = False
        if size in (1, 4, 8) and not offset & (size - 1):
            value &= (1 << 8 * size) - 1
            if size == 4:
                done = self._write32(offset, value)
            elif size == 8:
                if GICD_IROUTER + 8 * GIC_INTERNAL <= offset < GICD_IROUTER + 8 * 1020:
                    self._set_irouter((offset - GICD_IROUTER) >> 3, value)
                    done = True
            elif GICD_IPRIORITYR <= offset < GICD_IPRIORITYR + 1020:
                self._set_priority(offset - GICD_IPRIORITYR, value)
                done = True
        if not done:
            self._unimp("write", offset, size)
        self._gic.flush()

    def _priority(self, intid: int) -> int:
        return self.GICD_IPRIORITYR[intid] if self._spis >> intid & 1 else 0

    def _set_priority(self, intid: int, value: int) -> None:
        if self._spis >> intid & 1 and self.GICD_IPRIORITYR[intid] != value:
            self.GICD_IPRIORITYR[intid] = value
            self._mark_route(self._route[intid])

    def _irouter(self, intid: int) -> int:
        return self.GICD_IROUTER[intid] if self._spis >> intid & 1 else 0

    def _set_irouter(self, intid: int, value: int) -> None:
        if not self._spis >> intid & 1:
            return
        old = self._route[intid]
        self.GICD_IROUTER[intid] = value & IROUTER_MASK
        self._route[intid] = new = self._route_of(self.GICD_IROUTER[intid])
        if new != old:
            self._mark_route(old)
        self._mark_route(new)

    def _bitmap_view(self, attr: str) -> int:
        return self.pending_view() if attr == "_ispendr" else getattr(self, attr)

    def _read32(self, off: int):
        if off < GICD_IGROUPR:
            if off == GICD_CTLR:
                return self.GICD_CTLR
            if off == GICD_TYPER:
                return self.typer
            if off == GICD_IIDR:
                return IIDR
            if off == GICD_STATUSR:
                return 0               # no error reporting
            return None
        if off < GICD_IPRIORITYR:
            attr = _BITMAPS[off & ~0x7F][0]
            shift = (off & 0x7F) * 8
            return (self._bitmap_view(attr) & self._spis) >> shift & 0xFFFF_FFFF
        if off < GICD_ITARGETSR:
            base = off - GICD_IPRIORITYR
            return sum(self._priority(base + k) << 8 * k for k in range(4))
        if off < GICD_ICFGR:
            return 0                   # GICD_ITARGETSR: RES0 with affinity routing
        if off < GICD_IGRPMODR:
            base = (off - GICD_ICFGR) * 4
            edge = (self._edge & self._spis) >> base
            return sum((edge >> k & 1) << (2 * k + 1) for k in range(16))
        if off < GICD_SGIR:
            return 0                   # GICD_IGRPMODR, GICD_NSACR: RAZ/WI with DS == 1
        if off < GICD_SGIR + 0x30:
            return 0                   # GICD_SGIR (WO), [CS]PENDSGIR: RES0 with ARE
        if GICD_IROUTER + 8 * GIC_INTERNAL <= off < GICD_IROUTER + 8 * 1020:
            return self._irouter((off - GICD_IROUTER) >> 3) >> (32 if off & 4 else 0) \
                & 0xFFFF_FFFF
        if off >= IDREGS_BASE:
            return idreg(off, PIDR0_DIST)
        return None

    def _write32(self, off: int, v: int) -> bool:
        if off < GICD_IGROUPR:
            if off == GICD_CTLR:
                new = (self.GICD_CTLR & ~CTLR_WRITABLE) | (v & CTLR_WRITABLE)
                if new != self.GICD_CTLR:
                    self.GICD_CTLR = new
                    self._gic.mark_all()
                return True
            return off in (GICD_TYPER, GICD_IIDR, GICD_STATUSR)      # read-only / RAZ/WI
        if off < GICD_IPRIORITYR:
            attr, op = _BITMAPS[off & ~0x7F]
            shift = (off & 0x7F) * 8
            mask = self._spis & 0xFFFF_FFFF << shift
            bits = v << shift & mask
            old = getattr(self, attr)
            if op == "set":
                new = old | bits
            elif op == "clear":
                new = old & ~bits
            else:
                new = (old & ~mask) | bits
            if new != old:
                setattr(self, attr, new)
                self._mark_spis(old ^ new)
            return True
        if off < GICD_ITARGETSR:
            base = off - GICD_IPRIORITYR
            for k in range(4):
                self._set_priority(base + k, v >> 8 * k & 0xFF)
            return True
        if off < GICD_ICFGR:
            return True                # GICD_ITARGETSR: RES0 with affinity routing
        if off < GICD_IGRPMODR:
            base = (off - GICD_ICFGR) * 4
            mask = self._spis & 0xFFFF << base
            edge = sum((v >> (2 * k + 1) & 1) << k for k in range(16)) << base & mask
            old = self._edge
            new = (old & ~mask) | edge
            if new != old:
                self._edge = new
                self._mark_spis(old ^ new)
            return True
        if off < GICD_SGIR + 0x30:
            return True                # IGRPMODR, NSACR (DS == 1), SGIR, [CS]PENDSGIR (ARE)
        if GICD_IROUTER + 8 * GIC_INTERNAL <= off < GICD_IROUTER + 8 * 1020:
            intid, hi = (off - GICD_IROUTER) >> 3, 32 if off & 4 else 0
            cur = self._irouter(intid)
            self._set_irouter(intid, (cur & ~(0xFFFF_FFFF << hi)) | v << hi)
            return True
        return off >= IDREGS_BASE      # ID registers are read-only
