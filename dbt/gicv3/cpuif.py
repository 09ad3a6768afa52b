"""GICv3 CPU interface, system-register form (ICC_*_EL1, ARM IHI 0069 chapters 4 and 12.2).

One per PE.  It takes the highest priority pending interrupt (HPPI) its redistributor and the
distributor offer, decides whether it may be signalled (priority mask, running priority,
preemption by group priority), and drives the PE's IRQ and FIQ lines: with GICD_CTLR.DS == 1
and no EL3, Group 0 is FIQ and Group 1 is IRQ.

Implemented as QEMU's model reports for its Arm CPUs: 5 priority bits (32 levels), so the
active priorities of each group fit in ICC_AP0R0_EL1 / ICC_AP1R0_EL1 and ICC_AP<n>R{1,2,3}_EL1
do not exist (accesses are UNDEFINED: not in READABLE/WRITABLE); ICC_SRE_EL1 reads 0x7
(SRE, DFB, DIB all RAO/WI); ICC_CTLR_EL1.IDbits = 1 (24 bits) and A3V = 1; PMHE is RAZ/WI.
"""
from .common import (GIC_INTERNAL, GRP0, GRP1, IDLE_PRIORITY, INTID_SPURIOUS, MIN_BPR0,
                     MIN_BPR1, PRIBITS, PRIORITY_MASK, UnimpLog, set_bits)
from .distributor import CTLR_EnableGrp0, CTLR_EnableGrp1

# ICC_CTLR_EL1 fields.
CTLR_CBPR = 1 << 0
CTLR_EOImode = 1 << 1
CTLR_PMHE = 1 << 6
CTLR_PRIbits_SHIFT = 8
CTLR_IDbits_SHIFT = 11
CTLR_SEIS = 1 << 14
CTLR_A3V = 1 << 15
CTLR_RSS = 1 << 18
CTLR_WRITABLE = CTLR_CBPR | CTLR_EOImode

ICC_SRE_VALUE = 0x7             # SRE | DFB | DIB

# ICC_SGI0R_EL1 / ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 fields.
SGIR_TargetList_MASK = 0xFFFF
SGIR_Aff1_SHIFT, SGIR_INTID_SHIFT, SGIR_Aff2_SHIFT = 16, 24, 32
SGIR_IRM = 1 << 40
SGIR_RS_SHIFT, SGIR_Aff3_SHIFT = 44, 48

_APR_SHIFT = 8 - PRIBITS        # priority -> active-priority bit number

_unimp_access = UnimpLog("icc")


class CPUInterface:
    STATE = ("ICC_CTLR_EL1", "ICC_PMR_EL1", "ICC_BPR0_EL1", "ICC_BPR1_EL1",
             "ICC_IGRPEN0_EL1", "ICC_IGRPEN1_EL1", "ICC_AP0R0_EL1", "ICC_AP1R0_EL1")

    def __init__(self, gic, index: int, rss: bool = False):
        self._gic = gic
        self.index = index
        self._ctlr_fixed = (PRIBITS - 1) << CTLR_PRIbits_SHIFT | 1 << CTLR_IDbits_SHIFT \
            | CTLR_A3V | (CTLR_RSS if rss else 0)
        # Derived state: the HPPI offered to this PE as (priority, INTID, group) and the
        # output lines.  Recomputed by update(); never saved.
        self.hppi = None
        self.irq_level = False
        self.fiq_level = False
        self.power_on()

    def power_on(self) -> None:
        """CPU interface reset values (the PE's reset domain, not the GIC's)."""
        self.ICC_CTLR_EL1 = self._ctlr_fixed
        self.ICC_PMR_EL1 = 0
        self.ICC_BPR0_EL1 = MIN_BPR0
        self.ICC_BPR1_EL1 = MIN_BPR1
        self.ICC_IGRPEN0_EL1 = 0
        self.ICC_IGRPEN1_EL1 = 0
        self.ICC_AP0R0_EL1 = 0
        self.ICC_AP1R0_EL1 = 0

    def post_load(self) -> None:
        """Re-impose what a loaded snapshot cannot change."""
        self.ICC_CTLR_EL1 = self._ctlr_fixed | (self.ICC_CTLR_EL1 & CTLR_WRITABLE)
        self.ICC_PMR_EL1 &= PRIORITY_MASK
        self.ICC_BPR0_EL1 = max(self.ICC_BPR0_EL1 & 7, MIN_BPR0)
        self.ICC_BPR1_EL1 = max(self.ICC_BPR1_EL1 & 7, MIN_BPR1)
        self.ICC_IGRPEN0_EL1 &= 1
        self.ICC_IGRPEN1_EL1 &= 1
        self.ICC_AP0R0_EL1 &= 0xFFFF_FFFF
        self.ICC_AP1R0_EL1 &= 0xFFFF_FFFF

    # -- register access (the GICv3 object adds the flush) ---------------------------------

    def read(self, name: str) -> int:
        fn = _READ.get(name)
        if fn is None:                  # UNDEFINED: the vCPU should check READABLE first
            _unimp_access("read", name)
            return 0
        return fn(self)

    def write(self, name: str, value: int) -> None:
        fn = _WRITE.get(name)
        if fn is None:                  # UNDEFINED: the vCPU should check WRITABLE first
            _unimp_access("write", name)
            return
        fn(self, value & 0xFFFF_FFFF_FFFF_FFFF)
        self._gic.mark(self.index)

    # -- delivery ------------------------------------------------------------------------

    def update(self) -> None:
        """Recompute the HPPI offered to this PE, then its IRQ/FIQ lines."""
        gic = self._gic
        hppi = None
        if gic.accessible[self.index]:
            ctlr = gic.distributor.GICD_CTLR
            # A group disabled at the distributor or at this CPU interface offers nothing.
            g0 = bool(self.ICC_IGRPEN0_EL1 and ctlr & CTLR_EnableGrp0)
            g1 = bool(self.ICC_IGRPEN1_EL1 and ctlr & CTLR_EnableGrp1)
            if g0 or g1:
                rd = gic.redistributors[self.index]
                hppi = rd.highest_pending(g0, g1)
                spi = gic.distributor.highest_pending(self.index, g0, g1, rd.awake)
                if spi is not None and (hppi is None or spi[0] < hppi[0]):
                    hppi = spi
        self.hppi = hppi
        self._drive()

    def _drive(self) -> None:
        irq = fiq = False
        h = self.hppi
        if h is not None and self._can_signal(h[0], h[2]):
            if h[2] == GRP1:
                irq = True
            else:
                fiq = True
        gic = self._gic
        if irq != self.irq_level:
            self.irq_level = irq
            out = gic.irq_out[self.index]
            if out is not None:
                out(irq)
        if fiq != self.fiq_level:
            self.fiq_level = fiq
            out = gic.fiq_out[self.index]
            if out is not None:
                out(fiq)

    def group_priority_mask(self, group: int) -> int:
        """Mask keeping the group priority bits (IHI 0069 GroupBits()): BPR0 for Group 0,
        BPR1 - 1 for Group 1 unless ICC_CTLR_EL1.CBPR makes BPR0 common."""
        if group == GRP1 and not self.ICC_CTLR_EL1 & CTLR_CBPR:
            bpr = self.ICC_BPR1_EL1 - 1
        else:
            bpr = self.ICC_BPR0_EL1
        return (0xFF << (bpr + 1)) & 0xFF

    def running_priority(self) -> int:
        """ICC_RPR_EL1: the group priority of the highest priority active interrupt."""
        apr = (self.ICC_AP0R0_EL1 | self.ICC_AP1R0_EL1) & 0xFFFF_FFFF
        if not apr:
            return IDLE_PRIORITY
        return ((apr & -apr).bit_length() - 1) << _APR_SHIFT

    def _can_signal(self, prio: int, group: int) -> bool:
        if prio >= self.ICC_PMR_EL1:
            return False
        rprio = self.running_priority()
        if rprio == IDLE_PRIORITY:
            return True
        # Only a higher group priority preempts; subpriority does not count.
        mask = self.group_priority_mask(group)
        return (prio & mask) < (rprio & mask)

    def _acknowledge(self, group: int) -> int:
        """ICC_IAR<n>_EL1: take the HPPI if it is of this group and may be signalled."""
        h = self.hppi
        if h is None or h[2] != group or not self._can_signal(h[0], group):
            return INTID_SPURIOUS
        prio, intid, _ = h
        bit = 1 << ((prio & self.group_priority_mask(group)) >> _APR_SHIFT)
        if group == GRP1:
            self.ICC_AP1R0_EL1 |= bit
        else:
            self.ICC_AP0R0_EL1 |= bit
        if intid < GIC_INTERNAL:
            self._gic.redistributors[self.index].acknowledge(intid)
        else:
            self._gic.distributor.acknowledge(intid)
        self.hppi = None                # stale until the next update()
        self._gic.mark(self.index)
        return intid

    def _hppir(self, group: int) -> int:
        h = self.hppi
        return h[1] if h is not None and h[2] == group else INTID_SPURIOUS

    def _highest_active_group(self):
        """The group owning the lowest set active-priority bit, or None (Group 0 on a tie)."""
        a0, a1 = self.ICC_AP0R0_EL1, self.ICC_AP1R0_EL1
        if not a0 and not a1:
            return None
        if not a1:
            return GRP0
        if not a0:
            return GRP1
        return GRP0 if (a0 & -a0) <= (a1 & -a1) else GRP1

    def _eoi(self, group: int, value: int) -> None:
        """ICC_EOIR<n>_EL1: drop the running priority (the lowest set active-priority bit,
        which nesting makes the one of this interrupt); also deactivate unless EOImode."""
        intid = value & 0xFF_FFFF
        if intid >= self._gic.num_irqs:          # special INTIDs 1020-1023, unimplemented
            return
        if self._highest_active_group() != group:
            return                               # nothing active in this group: ignored
        if group == GRP1:
            self.ICC_AP1R0_EL1 &= self.ICC_AP1R0_EL1 - 1
        else:
            self.ICC_AP0R0_EL1 &= self.ICC_AP0R0_EL1 - 1
        if not self.ICC_CTLR_EL1 & CTLR_EOImode:
            self._deactivate(intid)

    def _dir(self, value: int) -> None:
        """ICC_DIR_EL1: deactivation, effective only with EOImode == 1."""
        intid = value & 0xFF_FFFF
        if intid < self._gic.num_irqs and self.ICC_CTLR_EL1 & CTLR_EOImode:
            self._deactivate(intid)

    def _deactivate(self, intid: int) -> None:
        if intid < GIC_INTERNAL:
            self._gic.redistributors[self.index].deactivate(intid)
        else:
            self._gic.distributor.deactivate(intid)

    def _read_bpr1(self) -> int:
        if self.ICC_CTLR_EL1 & CTLR_CBPR:
            return min(self.ICC_BPR0_EL1 + 1, 7)
        return self.ICC_BPR1_EL1

    def _write_bpr0(self, v: int) -> None:
        self.ICC_BPR0_EL1 = max(v & 7, MIN_BPR0)

    def _write_bpr1(self, v: int) -> None:
        if not self.ICC_CTLR_EL1 & CTLR_CBPR:     # with CBPR, BPR1 writes are ignored
            self.ICC_BPR1_EL1 = max(v & 7, MIN_BPR1)

    def _write_ctlr(self, v: int) -> None:
        self.ICC_CTLR_EL1 = self._ctlr_fixed | (v & CTLR_WRITABLE)

    def _generate_sgi(self, value: int, group: int) -> None:
        gic = self._gic
        intid = value >> SGIR_INTID_SHIFT & 0xF
        if value & SGIR_IRM:                     # every PE but this one
            targets = [c for c in range(gic.num_cpus) if c != self.index]
        else:
            cluster = (value >> SGIR_Aff3_SHIFT & 0xFF) << 24 \
                | (value >> SGIR_Aff2_SHIFT & 0xFF) << 16 | (value >> SGIR_Aff1_SHIFT & 0xFF) << 8
            base = (value >> SGIR_RS_SHIFT & 0xF) * 16     # TargetList[n] is Aff0 RS*16+n
            targets = []
            for n in set_bits(value & SGIR_TargetList_MASK):
                c = gic.cpu_index(cluster | (base + n))
                if c >= 0:
                    targets.append(c)
        for c in targets:
            if gic.accessible[c]:               # an unplugged PE takes no SGIs
                gic.redistributors[c].send_sgi(intid, group)


def _setter(name: str, mask: int):
    def write(c: CPUInterface, v: int) -> None:
        setattr(c, name, v & mask)
    return write


def _getter(name: str):
    return lambda c: getattr(c, name)


# The registers, by their names in dbt.cpu.sysregs.SYSREGS.  Any other ICC_* access, and a
# read of a write-only or a write of a read-only register, is UNDEFINED.
_READ = {
    "ICC_IAR0_EL1": lambda c: c._acknowledge(GRP0),
    "ICC_IAR1_EL1": lambda c: c._acknowledge(GRP1),
    "ICC_HPPIR0_EL1": lambda c: c._hppir(GRP0),
    "ICC_HPPIR1_EL1": lambda c: c._hppir(GRP1),
    "ICC_RPR_EL1": CPUInterface.running_priority,
    "ICC_PMR_EL1": _getter("ICC_PMR_EL1"),
    "ICC_BPR0_EL1": _getter("ICC_BPR0_EL1"),
    "ICC_BPR1_EL1": CPUInterface._read_bpr1,
    "ICC_CTLR_EL1": _getter("ICC_CTLR_EL1"),
    "ICC_SRE_EL1": lambda c: ICC_SRE_VALUE,
    "ICC_IGRPEN0_EL1": _getter("ICC_IGRPEN0_EL1"),
    "ICC_IGRPEN1_EL1": _getter("ICC_IGRPEN1_EL1"),
    "ICC_AP0R0_EL1": _getter("ICC_AP0R0_EL1"),
    "ICC_AP1R0_EL1": _getter("ICC_AP1R0_EL1"),
}
_WRITE = {
    "ICC_EOIR0_EL1": lambda c, v: c._eoi(GRP0, v),
    "ICC_EOIR1_EL1": lambda c, v: c._eoi(GRP1, v),
    "ICC_DIR_EL1": CPUInterface._dir,
    "ICC_PMR_EL1": _setter("ICC_PMR_EL1", PRIORITY_MASK),
    "ICC_BPR0_EL1": CPUInterface._write_bpr0,
    "ICC_BPR1_EL1": CPUInterface._write_bpr1,
    "ICC_CTLR_EL1": CPUInterface._write_ctlr,
    "ICC_SRE_EL1": lambda c, v: None,            # RAO/WI
    "ICC_IGRPEN0_EL1": _setter("ICC_IGRPEN0_EL1", 1),
    "ICC_IGRPEN1_EL1": _setter("ICC_IGRPEN1_EL1", 1),
    "ICC_AP0R0_EL1": _setter("ICC_AP0R0_EL1", 0xFFFF_FFFF),
    "ICC_AP1R0_EL1": _setter("ICC_AP1R0_EL1", 0xFFFF_FFFF),
    "ICC_SGI0R_EL1": lambda c, v: c._generate_sgi(v, GRP0),
    "ICC_SGI1R_EL1": lambda c, v: c._generate_sgi(v, GRP1),
    # "Group 1 for the other Security state": with DS == 1 the distributor treats Secure
    # Group 1 as Group 0, so these reach only PEs where the SGI is Group 0 (as QEMU).
    "ICC_ASGI1R_EL1": lambda c, v: c._generate_sgi(v, GRP0),
}
READABLE = frozenset(_READ)
WRITABLE = frozenset(_WRITE)
