"""The virt board's memory map and interrupt assignment, declared once.

Device setup, the device tree and the ACPI tables all read this table, so an address or an
interrupt number is written in exactly one place.  Addresses follow QEMU's "virt" machine
(hw/arm/virt.c) so that guests built for it run unchanged.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    name: str
    base: int
    size: int
    spi: int | None = None      # SPI number (GIC INTID = 32 + spi), for devices that interrupt

    @property
    def end(self) -> int:
        return self.base + self.size

    @property
    def intid(self) -> int:
        return 32 + self.spi


GICR_FRAME_SIZE = 0x20000       # RD_base + SGI_base, 64 KiB each

MEMMAP = {r.name: r for r in (
    Region("gicd", 0x0800_0000, 0x1_0000),
    # QEMU's low redistributor region: 123 frames.  maxcpus above that is refused.
    Region("gicr", 0x080A_0000, 0x00F6_0000),
    Region("uart", 0x0900_0000, 0x1000, spi=1),
    Region("ged", 0x0908_0000, 0x4, spi=9),
    Region("cpuhp", 0x090C_0000, 0xC),
    Region("ram", 0x4000_0000, 0),          # size from --memory
)}

RAM_BASE = MEMMAP["ram"].base
MAX_CPUS = MEMMAP["gicr"].size // GICR_FRAME_SIZE

# Private peripheral interrupts (INTIDs), as the virt board wires them.
PPI_VTIMER = 27         # EL1 virtual timer
PPI_PTIMER = 30         # EL1 physical timer (non-secure)
PPI_HTIMER = 26         # EL2 physical timer (no EL2 here; listed for the device tree)
PPI_STIMER = 29         # secure physical timer (listed for the device tree)
PPI_PMU = 23

# the timer frequency QEMU's virt reports on this QEMU version (CNTFRQ_EL0)
CNTFRQ = 62_500_000


def gicr_frames(possible_cpus: int) -> int:
    """Bytes of the redistributor region used by `possible_cpus` frames."""
    return possible_cpus * GICR_FRAME_SIZE
