"""Facts shared by the GICv3 blocks (ARM IHI 0069): INTID ranges, groups, identification
registers, and the affinity packing the distributor and redistributors compare.

The model is a GICv3 with affinity routing always on and a single Security state
(GICD_CTLR.DS == 1), as QEMU's "virt" board without EL3.  With DS == 1 there are two
interrupt groups, Group 0 (signalled as FIQ) and Group 1 (signalled as IRQ); the group
modifier and non-secure access control registers are RAZ/WI.
"""
import logging

GIC_INTERNAL = 32           # SGIs 0-15 and PPIs 16-31, banked per redistributor
NUM_SGIS = 16
INTID_SPURIOUS = 1023
INTID_SPECIAL = 1020        # 1020-1023 are special INTIDs, never real interrupts
MAX_SPIS = 960              # INTIDs stop at 1019; SPIs come in blocks of 32

GRP0, GRP1 = 0, 1

# Lowest (idle) priority: what ICC_RPR_EL1 reads with nothing active.
IDLE_PRIORITY = 0xFF

# Physical priority bits of the CPU interface (ICC_CTLR_EL1.PRIbits + 1): 32 levels, as QEMU
# gives its Arm CPUs.  Preemption bits equal priority bits below 8, so one APR register per
# group (ICC_AP0R0_EL1, ICC_AP1R0_EL1) holds every active priority.
PRIBITS = 5
PRIORITY_MASK = (0xFF << (8 - PRIBITS)) & 0xFF
MIN_BPR0 = 7 - PRIBITS           # ICC_BPR0_EL1 minimum: group priority [7:3]
MIN_BPR1 = MIN_BPR0 + 1          # ICC_BPR1_EL1 minimum (Non-secure Group 1 view)

# GICD_IIDR / GICR_IIDR: Implementer 0x43B (Arm), ProductID 0, r0p0; QEMU reports the same.
IIDR = 0x43B

# CoreSight identification registers at 0xFFD0-0xFFFC of GICD and GICR RD_base:
# PIDR4-7, PIDR0-3, CIDR0-3.  PIDR2[7:4] ArchRev = 3 (GICv3); PIDR0 names the block.
IDREGS_BASE = 0xFFD0
PIDR0_DIST, PIDR0_REDIST = 0x92, 0x93
_IDREGS = (0x44, 0x00, 0x00, 0x00, None, 0xB4, 0x3B, 0x00, 0x0D, 0xF0, 0x05, 0xB1)

_unimp = logging.getLogger("dbt.unimp")


def idreg(offset: int, pidr0: int) -> int:
    """Value of the ID register at `offset` (0xFFD0-0xFFFC, word aligned)."""
    v = _IDREGS[(offset - IDREGS_BASE) >> 2]
    return pidr0 if v is None else v


def set_bits(x: int):
    """INTIDs (bit positions) set in bitmap `x`, lowest first."""
    while x:
        low = x & -x
        yield low.bit_length() - 1
        x ^= low


def affinity32(mpidr: int) -> int:
    """MPIDR_EL1 affinity packed as GICR_TYPER.Affinity_Value: Aff3.Aff2.Aff1.Aff0."""
    return (mpidr >> 8 & 0xFF00_0000) | (mpidr & 0xFF_FFFF)


class UnimpLog:
    """Logs each reserved offset (or unimplemented register name) once per block under the
    `dbt.unimp` logger."""

    def __init__(self, block: str):
        self._block = block
        self._seen = set()

    def __call__(self, kind: str, where, size: int = 0) -> None:
        key = (kind, where, size)
        if key not in self._seen:
            self._seen.add(key)
            if isinstance(where, str):
                _unimp.info("%s: %s of unimplemented %s", self._block, kind, where)
            else:
                _unimp.info("%s: %s of reserved offset %#x (size %d)", self._block, kind,
                            where, size)
