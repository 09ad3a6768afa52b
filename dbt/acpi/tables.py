"""The static ACPI tables of the virt board: RSDP, XSDT, FADT, MADT, GTDT, SPCR and PPTT
(ACPI 6.5 chapter 5 unless a comment says otherwise).  Each builder returns the table's bytes
with a correct checksum; addresses come from dbt/machine/memmap, MPIDRs from cpuslots.mpidr_of.

Nothing here depends on which CPUs are plugged: every *possible* CPU is described once, and
the plugged set is reported at run time by the DSDT's _STA (see dsdt.py).
"""
from __future__ import annotations

import struct

from ..machine import memmap
from ..machine.memmap import MEMMAP, gicr_frames
from ..machine.cpuslots import mpidr_of

OEM_ID = b"DBTVM "
OEM_TABLE_ID = b"DBTVMVRT"
OEM_REVISION = 1
CREATOR_ID = b"DBTV"
CREATOR_REVISION = 1

HEADER = struct.Struct("<4sIBB6s8sI4sI")       # 5.2.6 System Description Table Header


def checksum(data: bytes) -> int:
    """The byte that makes `data` (with this byte as 0) sum to 0 mod 256."""
    return -sum(data) & 0xFF


def sdt(signature: bytes, revision: int, body: bytes) -> bytes:
    """A System Description Table: header + body, length and checksum filled in."""
    length = HEADER.size + len(body)
    head = HEADER.pack(signature, length, revision, 0, OEM_ID, OEM_TABLE_ID, OEM_REVISION,
                       CREATOR_ID, CREATOR_REVISION)
    table = bytearray(head + body)
    table[9] = checksum(table)
    return bytes(table)


def gas(space: int, bit_width: int, access_size: int, address: int) -> bytes:
    """5.2.3.2 Generic Address Structure (bit offset 0)."""
    return struct.pack("<BBBBQ", space, bit_width, 0, access_size, address)


GAS_SYSTEM_MEMORY = 0
GAS_ACCESS_BYTE = 1


# -- 5.2.5.3 RSDP and 5.2.8 XSDT ---------------------------------------------------------------
def rsdp(xsdt_address: int) -> bytes:
    """Revision 2 (ACPI 2.0+) RSDP, 36 bytes: the first checksum covers the ACPI 1.0 part
    (20 bytes), the extended one all 36."""
    head = struct.pack("<8sB6sBI", b"RSD PTR ", 0, OEM_ID, 2, 0)
    table = bytearray(head + struct.pack("<IQB3s", 36, xsdt_address, 0, b"\0\0\0"))
    table[8] = checksum(table[:20])
    table[32] = checksum(table)
    return bytes(table)


def xsdt(addresses: list[int]) -> bytes:
    return sdt(b"XSDT", 1, struct.pack(f"<{len(addresses)}Q", *addresses))


# -- 5.2.9 FADT -------------------------------------------------------------------------------
FADT_REVISION, FADT_MINOR_REVISION = 6, 5          # ACPI 6.5; Linux arm64 wants >= 5.1
FADT_HW_REDUCED_ACPI = 1 << 20
ARM_BOOT_ARCH_PSCI_COMPLIANT = 1 << 0
ARM_BOOT_ARCH_PSCI_USE_HVC = 1 << 1                # the board's PSCI conduit is HVC (fdt.py)
FADT_LENGTH = 276


def fadt(dsdt_address: int) -> bytes:
    """A hardware-reduced FADT: no fixed hardware, no FACS, only flags, the ARM boot
    architecture flags and X_DSDT.  The 32-bit DSDT field stays 0 because X_DSDT is set."""
    body = bytearray(FADT_LENGTH - HEADER.size)

    def put(offset: int, fmt: str, value: int):
        struct.pack_into(fmt, body, offset - HEADER.size, value)

    put(112, "<I", FADT_HW_REDUCED_ACPI)                       # Flags
    put(129, "<H", ARM_BOOT_ARCH_PSCI_COMPLIANT | ARM_BOOT_ARCH_PSCI_USE_HVC)
    put(131, "<B", FADT_MINOR_REVISION)
    put(140, "<Q", dsdt_address)                               # X_DSDT
    return sdt(b"FACP", FADT_REVISION, bytes(body))


# -- 5.2.12 MADT ------------------------------------------------------------------------------
# Revision 5 (ACPI 6.3/6.4): the newest whose GICC structure is 80 bytes.  ACPI 6.5 moved the
# MADT to revision 6 with an 82-byte GICC (TRBE interrupt), and ACPICA picks the GICC layout
# from the MADT revision, so revision 6 with 80-byte entries would be misread.  Linux 6.12
# arm64 does not look at the MADT revision for the GICC flags at all: arch/arm64/kernel/smp.c
# (acpi_map_gic_cpu_interface), drivers/acpi/processor_core.c (map_gicc_mpidr) and
# drivers/irqchip/irq-gic-v3.c (gic_acpi_parse_madt_gicc) each take a GICC that has Enabled
# OR Online-Capable set; only x86's LAPIC path gates the online-capable bit on revision >= 5.
# GICC length just has to be >= 76 (BAD_MADT_GICC_ENTRY in arch/arm64/include/asm/acpi.h).
MADT_REVISION = 5
GICC_LENGTH = 80
GICC_ENABLED = 1 << 0
GICC_ONLINE_CAPABLE = 1 << 3           # ACPI 6.5 Table 5.37; exclusive of Enabled
GIC_VERSION_3 = 3
MADT_TYPE_GICC, MADT_TYPE_GICD, MADT_TYPE_GICR = 0x0B, 0x0C, 0x0E

GICC = struct.Struct("<BBHIIIIIQQQQIQQBBH")
GICD = struct.Struct("<BBHIQIB3s")
GICR = struct.Struct("<BBHQI")
assert GICC.size == GICC_LENGTH and GICD.size == 24 and GICR.size == 16


def gicc(index: int, flags: int) -> bytes:
    """5.2.12.14 GICC of possible CPU `index`: UID = CPU interface number = index.  The GICR
    base is 0 because GICR structures describe the redistributors (always-on), which is what
    lets Linux bring up a CPU that was not Enabled at boot.  No PMU, no EL2: the performance
    and VGIC maintenance interrupts are 0."""
    return GICC.pack(MADT_TYPE_GICC, GICC_LENGTH, 0, index, index, flags, 0, 0, 0, 0, 0, 0, 0,
                     0, mpidr_of(index), 0, 0, 0)


def gicc_flags(index: int) -> int:
    """The boot CPU is Enabled; every other possible CPU, cold-plugged or not, is
    Online-Capable, so any of them can be unplugged later (LINUX_GUEST.md)."""
    return GICC_ENABLED if index == 0 else GICC_ONLINE_CAPABLE


def madt(possible: int) -> bytes:
    body = struct.pack("<II", 0, 0)        # Local Interrupt Controller Address, Flags
    body += GICD.pack(MADT_TYPE_GICD, GICD.size, 0, 0, MEMMAP["gicd"].base, 0, GIC_VERSION_3,
                      b"\0\0\0")
    body += b"".join(gicc(i, gicc_flags(i)) for i in range(possible))
    body += GICR.pack(MADT_TYPE_GICR, GICR.size, 0, MEMMAP["gicr"].base, gicr_frames(possible))
    return sdt(b"APIC", MADT_REVISION, body)


# -- 5.2.25 GTDT ------------------------------------------------------------------------------
GTDT_INTERRUPT_MODE_LEVEL = 0          # bit 0 clear: level; bit 1 clear: active high
GTDT_ALWAYS_ON = 1 << 2
NO_MMIO_BASE = 0xFFFF_FFFF_FFFF_FFFF    # CntControlBase/CntReadBase "not provided"


def gtdt() -> bytes:
    """Revision 2 (ACPI 6.0-6.2 layout, 96 bytes), the architected timers only, flags as
    QEMU's virt sets them: level, active high, "always on" on the non-secure EL1 timer."""
    level = GTDT_INTERRUPT_MODE_LEVEL
    body = struct.pack("<QI", NO_MMIO_BASE, 0)
    body += struct.pack("<8I",
                        memmap.PPI_STIMER, level,
                        memmap.PPI_PTIMER, level | GTDT_ALWAYS_ON,
                        memmap.PPI_VTIMER, level,
                        memmap.PPI_HTIMER, level)
    body += struct.pack("<QII", NO_MMIO_BASE, 0, 0)      # no platform timers
    return sdt(b"GTDT", 2, body)


# -- SPCR (Microsoft's Serial Port Console Redirection Table, revision 2) --------------------
SPCR_INTERFACE_PL011 = 3
SPCR_INTERRUPT_GIC = 1 << 3
SPCR_BAUD_115200 = 7
SPCR_FLOW_RTS_CTS = 1 << 1


def spcr() -> bytes:
    """The PL011 as QEMU's virt describes it (byte-access register GAS, GIC interrupt,
    RTS/CTS, VT100, not PCI), 115200 8N1.  (QEMU writes baud code 3, 9600; a PL011 model
    ignores the divisor either way.)"""
    uart = MEMMAP["uart"]
    body = struct.pack("<B3s", SPCR_INTERFACE_PL011, b"\0\0\0")
    body += gas(GAS_SYSTEM_MEMORY, 8, GAS_ACCESS_BYTE, uart.base)
    body += struct.pack("<BBI", SPCR_INTERRUPT_GIC, 0, uart.intid)
    body += struct.pack("<6B", SPCR_BAUD_115200, 0, 1, SPCR_FLOW_RTS_CTS, 0, 0)
    body += struct.pack("<HHBBBIBI", 0xFFFF, 0xFFFF, 0, 0, 0, 0, 0, 0)
    return sdt(b"SPCR", 2, body)


# -- 5.2.30 PPTT ------------------------------------------------------------------------------
PPTT_PHYSICAL_PACKAGE = 1 << 0
PPTT_ACPI_PROCESSOR_ID_VALID = 1 << 1
PPTT_LEAF_NODE = 1 << 3
PROCESSOR_NODE = struct.Struct("<BBHIIII")    # type 0, no private resources


def pptt(possible: int) -> bytes:
    """QEMU virt's default topology for -smp N,maxcpus=M: one socket, one cluster, M cores
    of one thread each.  Parent references are offsets from the start of the table; a leaf's
    ACPI Processor ID is the CPU index, the GICC's ACPI Processor UID."""
    nodes = []

    def node(flags: int, parent: int, acpi_id: int) -> int:
        offset = HEADER.size + PROCESSOR_NODE.size * len(nodes)
        nodes.append(PROCESSOR_NODE.pack(0, PROCESSOR_NODE.size, 0, flags, parent, acpi_id, 0))
        return offset

    socket = node(PPTT_PHYSICAL_PACKAGE, 0, 0)
    cluster = node(0, socket, 0)
    for i in range(possible):
        node(PPTT_ACPI_PROCESSOR_ID_VALID | PPTT_LEAF_NODE, cluster, i)
    return sdt(b"PPTT", 2, b"".join(nodes))
