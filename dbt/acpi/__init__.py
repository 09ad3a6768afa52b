"""ACPI for the virt board: the tables a guest booted the ACPI way finds through the RSDP.

    image = build_tables(AcpiBoard(possible=8, present=4, memory=512 << 20),
                         default_base(512 << 20))
    memory.write(image.base, image.data)      # the RSDP is at image.rsdp

The image is one contiguous blob: RSDP, XSDT, FADT, MADT, GTDT, SPCR, PPTT, DSDT, each
8-byte aligned, with every pointer already the table's guest-physical address.  The tables
describe every *possible* CPU and do not depend on `present`: which CPUs are plugged is read
at run time through _STA (CSTA), never baked into a table, so a hot-plug needs no rebuild.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..machine.memmap import RAM_BASE
from . import tables
from .dsdt import GED_EVT_CPU_HOTPLUG, GED_EVT_PWR_DOWN, dsdt

__all__ = ["AcpiBoard", "AcpiImage", "build_tables", "default_base", "dump", "TABLES_SIZE",
           "MAX_POSSIBLE", "GED_EVT_PWR_DOWN", "GED_EVT_CPU_HOTPLUG"]

MAX_POSSIBLE = 512
# An upper bound on the image for MAX_POSSIBLE CPUs (about 150 KiB), page aligned; the boot
# code reserves this much at the top of RAM.
TABLES_SIZE = 0x40000
TABLE_ALIGN = 8


@dataclass
class AcpiBoard:
    possible: int            # --maxcpus
    present: int             # --smp (CPUs 0..present-1 are cold-plugged)
    memory: int              # RAM bytes at memmap RAM_BASE


@dataclass
class AcpiImage:
    data: bytes              # everything, to be copied to guest physical address `base`
    base: int
    rsdp: int                # physical address of the RSDP (inside data)
    tables: dict[str, bytes] = field(default_factory=dict)   # signature -> bytes as placed


def default_base(memory: int) -> int:
    """The tables sit at the top of RAM."""
    return RAM_BASE + memory - TABLES_SIZE


def _check(board: AcpiBoard, base: int) -> None:
    if not 1 <= board.possible <= MAX_POSSIBLE:
        raise ValueError(f"possible CPUs {board.possible} not in 1..{MAX_POSSIBLE}")
    if not 1 <= board.present <= board.possible:
        raise ValueError(f"present CPUs {board.present} not in 1..{board.possible}")
    if base % TABLE_ALIGN or base < 0:
        raise ValueError(f"tables base {base:#x} is not {TABLE_ALIGN}-byte aligned")


def build_tables(board: AcpiBoard, base: int) -> AcpiImage:
    _check(board, base)
    # position-independent tables first; XSDT and FADT point at them, the RSDP at the XSDT
    listed = [("APIC", tables.madt(board.possible)), ("GTDT", tables.gtdt()),
              ("SPCR", tables.spcr()), ("PPTT", tables.pptt(board.possible))]
    dsdt_table = dsdt(board.possible)

    def aligned(n: int) -> int:
        return -(-n // TABLE_ALIGN) * TABLE_ALIGN

    xsdt_size = tables.HEADER.size + 8 * (1 + len(listed))
    offset = aligned(36)                                        # after the RSDP
    xsdt_at, offset = offset, aligned(offset + xsdt_size)
    fadt_at, offset = offset, aligned(offset + tables.FADT_LENGTH)
    placed = {}
    for sig, table in listed:
        placed[sig], offset = offset, aligned(offset + len(table))
    dsdt_at = offset

    fadt_table = tables.fadt(base + dsdt_at)
    xsdt_table = tables.xsdt([base + fadt_at] + [base + placed[sig] for sig, _ in listed])
    out = {"RSDP": (0, tables.rsdp(base + xsdt_at)), "XSDT": (xsdt_at, xsdt_table),
           "FACP": (fadt_at, fadt_table)}
    out.update((sig, (placed[sig], table)) for sig, table in listed)
    out["DSDT"] = (dsdt_at, dsdt_table)

    data = bytearray(dsdt_at + len(dsdt_table))
    for at, table in out.values():
        data[at:at + len(table)] = table
    if len(data) > TABLES_SIZE:
        raise ValueError(f"ACPI tables need {len(data)} bytes, more than {TABLES_SIZE}")
    return AcpiImage(bytes(data), base, base, {sig: t for sig, (_, t) in out.items()})


def dump(board: AcpiBoard, out_dir: str, base: int | None = None) -> list[str]:
    """Write out_dir/<SIG>.dat for every table (RSDP.dat too); return the paths."""
    image = build_tables(board, default_base(board.memory) if base is None else base)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for sig, table in image.tables.items():
        path = os.path.join(out_dir, f"{sig}.dat")
        with open(path, "wb") as f:
            f.write(table)
        paths.append(path)
    return paths
