"""Loading a guest the way QEMU's -kernel does, without firmware.

- An ELF is loaded at its segments' physical addresses and entered at its entry point.
- An arm64 Image (magic "ARM\\x64" at 0x38) is placed at a 2 MiB-aligned RAM address plus its
  header's text_offset, with image_size bytes kept free for it (bss included).
- Anything else is a raw binary loaded at RAM base + 0x80000.
The initrd and the device tree follow the kernel in RAM; the boot CPU starts at EL1h with the
MMU off and x0 = the device tree's address (the Linux boot protocol).

An arm64 Image without --dtb boots the ACPI way by default (`acpi=False`, or `acpi=off` on its
command line, keeps the device-tree boot): the loader leaves what the EFI stub would have left
(reference/LINUX_GUEST.md, "Booting it"; dbt/machine/efi.py), with no firmware running:

    top of RAM - TABLES_SIZE (256 KiB)   the ACPI tables (dbt.acpi, RSDP first)  ACPI reclaim
    below that, efi.REGION_SIZE (64 KiB) EFI system table, configuration table,
                                         memreserve record, memory map           runtime data
    the rest                             kernel, initrd, DTB, free RAM           conventional

The device tree then holds only /chosen (bootargs, initrd, linux,uefi-*) and the memory node,
and `acpi=force efi=noruntime` is added to the command line unless it already says so.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile
from elftools.common.exceptions import ELFError

from ..acpi import TABLES_SIZE, AcpiBoard, build_tables, default_base
from . import efi, fdt
from .memmap import RAM_BASE

RAW_OFFSET = 0x80000
IMAGE_MAGIC = b"ARM\x64"
MiB = 1 << 20


class BootError(Exception):
    """A guest image that cannot be booted (one line for the user)."""


@dataclass
class Loaded:
    entry: int
    dtb: int
    kernel: tuple[int, int]           # physical [start, end)
    initrd: tuple[int, int] | None
    kind: str                         # elf | image | raw
    acpi: bool = False                # booted the ACPI way (EFI hand-off, stub device tree)
    cmdline: str = ""                 # the command line handed to the guest
    tables: tuple[int, int] | None = None     # ACPI tables [start, end) (ACPI reclaim)
    rsdp: int | None = None
    efi: efi.EfiImage | None = None           # the EFI structures, when acpi


def _align(v, a):
    return (v + a - 1) // a * a


def load_elf(phys, data: bytes):
    try:
        elf = ELFFile(io.BytesIO(data))
    except ELFError as exc:
        raise BootError(f"not a valid ELF file: {exc}") from None
    if elf["e_machine"] != "EM_AARCH64":
        raise BootError(f"ELF for {elf['e_machine']}, not AArch64")
    lo, hi = None, None
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
            continue
        pa = seg["p_paddr"]
        body = seg.data() + bytes(seg["p_memsz"] - seg["p_filesz"])
        try:
            phys.write(pa, body)
        except Exception:
            raise BootError(f"ELF segment at {pa:#x}+{len(body):#x} lies outside RAM") from None
        phys.images.append((pa, body))
        lo = pa if lo is None else min(lo, pa)
        hi = pa + len(body) if hi is None else max(hi, pa + len(body))
    if lo is None:
        raise BootError("ELF has no loadable segments")
    return elf["e_entry"], (lo, hi)


def load_kernel(phys, data: bytes):
    """(entry, (start, end), kind) for any supported kernel file."""
    if data[:4] == b"\x7fELF":
        entry, span = load_elf(phys, data)
        return entry, span, "elf"
    if len(data) >= 0x40 and data[0x38:0x3C] == IMAGE_MAGIC:
        text_offset = int.from_bytes(data[0x08:0x10], "little")
        image_size = int.from_bytes(data[0x10:0x18], "little")
        if image_size == 0:           # pre-3.17 header: text_offset is not meaningful
            text_offset, image_size = RAW_OFFSET, len(data)
        elif text_offset < 2 * MiB:
            # as QEMU: keep the bottom 2 MiB free (the 2 MiB-aligned base is RAM + 2 MiB)
            text_offset += 2 * MiB
        start = RAM_BASE + text_offset
        _place(phys, start, data, "kernel Image")
        return start, (start, start + max(image_size, len(data))), "image"
    start = RAM_BASE + RAW_OFFSET
    _place(phys, start, data, "kernel")
    return start, (start, start + len(data)), "raw"


def _place(phys, pa, data, what):
    if pa + len(data) > phys.ram_base + phys.ram_size:
        raise BootError(f"{what} ({len(data)} bytes) does not fit in RAM at {pa:#x}; "
                        f"use a larger --memory")
    phys.write(pa, data)
    phys.images.append((pa, data))


def _options(append: str) -> list[str]:
    """The kernel's own parameters: everything before a lone `--` (the rest goes to init)."""
    words = append.split()
    return words[:words.index("--")] if "--" in words else words


def wants_acpi(kind: str, dtb: bytes | None, append: str, acpi: bool | None) -> bool:
    """acpi None: the ACPI boot for an arm64 Image given no device tree, unless its command line
    says acpi=off.  True and False force the choice."""
    off = "acpi=off" in _options(append)
    if acpi is None:
        return kind == "image" and dtb is None and not off
    if acpi:
        if dtb is not None:
            raise BootError("an ACPI boot builds its own device tree: drop --dtb or boot with "
                            "the device tree (no ACPI)")
        if off:
            raise BootError("an ACPI boot with acpi=off on the kernel command line would find "
                            "no devices: drop acpi=off or boot with the device tree")
    return bool(acpi)


def acpi_cmdline(append: str) -> str:
    """`append` with acpi=force (ACPI although the stub device tree is not empty: it has a
    memory node) and efi=noruntime (there are no runtime services: the system table's pointer
    is NULL) added, unless it already has an acpi= option or noruntime in an efi= option; they
    go before a `--` so they stay kernel parameters."""
    opts = _options(append)
    extra = []
    if not any(w.startswith("acpi=") for w in opts):
        extra.append("acpi=force")
    if not any(w.startswith("efi=") and "noruntime" in w[4:].split(",") for w in opts):
        extra.append("efi=noruntime")
    if not extra:
        return append
    words = append.split()
    if "--" in words:
        at = words.index("--")
        return " ".join(words[:at] + extra + words[at:])
    return " ".join(words + extra)


def boot(machine, kernel: bytes, initrd: bytes | None = None, append: str = "",
         dtb: bytes | None = None, acpi: bool | None = None) -> Loaded:
    """Load kernel, initrd and device tree (and for an ACPI boot the ACPI and EFI tables) into
    the machine's RAM and start the boot CPU.  acpi: None picks (see wants_acpi), True/False
    force the ACPI or the device-tree boot."""
    phys = machine.phys
    entry, (kstart, kend), kind = load_kernel(phys, kernel)
    if wants_acpi(kind, dtb, append, acpi):
        return _boot_acpi(machine, entry, (kstart, kend), kind, initrd, append)
    cursor = _align(max(kend, RAM_BASE), 2 * MiB)
    initrd_span = None
    if initrd is not None:
        # as QEMU: at least 128 MiB (or half of RAM) above the kernel start, after its end
        start = max(_align(kend, 4096), min(kstart + 128 * MiB,
                                            RAM_BASE + phys.ram_size // 2))
        start = _align(start, 4096)
        _place(phys, start, initrd, "initrd")
        initrd_span = (start, start + len(initrd))
        cursor = _align(initrd_span[1], 2 * MiB)
    if dtb is None:
        cfg = machine.config
        cpus = [(i, machine.mpidrs[i]) for i in range(cfg.maxcpus) if machine.plugged(i)]
        dtb = fdt.build_dtb(cfg.memory, cpus, cfg.maxcpus, bootargs=append,
                            initrd=initrd_span, stdout_path=fdt.UART_PATH)
    dtb_addr = cursor
    if kind == "elf" and RAM_BASE + len(dtb) <= kstart:
        dtb_addr = RAM_BASE           # QEMU puts the DTB at the bottom of RAM for ELF guests
    _place(phys, dtb_addr, dtb, "device tree")
    machine.start(entry, dtb_addr)
    return Loaded(entry, dtb_addr, (kstart, kend), initrd_span, kind, cmdline=append)


def acpi_layout(memory: int) -> tuple[int, int]:
    """(EFI structures base, ACPI tables base) for `memory` bytes of RAM: the ACPI tables fill
    the top TABLES_SIZE bytes, the EFI region sits just below; RAM below that is the guest's."""
    tables = default_base(memory)
    return tables - efi.REGION_SIZE, tables


def _too_small(what: str, end: int, limit: int, memory: int) -> BootError:
    return BootError(f"{what} ends at {end:#x}, above {limit:#x} where the ACPI and EFI tables "
                     f"start: {memory >> 20} MiB of RAM is too small for this ACPI boot; use a "
                     f"larger --memory")


def _boot_acpi(machine, entry, span, kind, initrd, append) -> Loaded:
    phys, cfg = machine.phys, machine.config
    kstart, kend = span
    memory = phys.ram_size
    efi_base, tables_base = acpi_layout(memory)
    if efi_base < RAM_BASE or efi_base % efi.EFI_PAGE_SIZE:
        raise BootError(f"{memory >> 20} MiB of RAM leaves no room for the ACPI and EFI tables")
    limit = efi_base                  # everything the loader places must end below this
    if kend > limit:
        raise _too_small("the kernel (with its image_size)", kend, limit, memory)
    low = _align(kend, 4096)          # the first free byte above the kernel
    initrd_span = None
    if initrd is not None:
        # as the device-tree boot (and QEMU) where it fits; else right after the kernel
        start = _align(max(low, min(kstart + 128 * MiB, RAM_BASE + memory // 2)), 4096)
        if start + len(initrd) > limit:
            start = low
        if start + len(initrd) > limit:
            raise _too_small(f"the initrd ({len(initrd)} bytes at {start:#x})",
                             start + len(initrd), limit, memory)
        _place(phys, start, initrd, "initrd")
        initrd_span = (start, start + len(initrd))
        low = _align(initrd_span[1], 4096)

    image = build_tables(AcpiBoard(possible=cfg.maxcpus, present=cfg.smp, memory=memory),
                         tables_base)
    _place(phys, tables_base, image.data, "ACPI tables")
    handoff = efi.build_efi(efi_base, memory, image.rsdp,
                            (tables_base, tables_base + TABLES_SIZE), ram_base=RAM_BASE)
    _place(phys, efi_base, handoff.data, "EFI tables")

    cmdline = acpi_cmdline(append)
    dtb = efi.stub_dtb(memory, cmdline, initrd_span, handoff.uefi_properties())
    dtb_addr = _align(low, 2 * MiB)   # a 2 MiB block of its own when there is room
    if dtb_addr + len(dtb) > limit:
        dtb_addr = low
    if dtb_addr + len(dtb) > limit:
        raise _too_small("the device tree", dtb_addr + len(dtb), limit, memory)
    _place(phys, dtb_addr, dtb, "device tree")
    machine.start(entry, dtb_addr)
    return Loaded(entry, dtb_addr, span, initrd_span, kind, acpi=True, cmdline=cmdline,
                  tables=(tables_base, tables_base + TABLES_SIZE), rsdp=image.rsdp,
                  efi=handoff)
