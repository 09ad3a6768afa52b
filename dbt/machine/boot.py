"""Loading a guest the way QEMU's -kernel does, without firmware.

- An ELF is loaded at its segments' physical addresses and entered at its entry point.
- An arm64 Image (magic "ARM\\x64" at 0x38) is placed at a 2 MiB-aligned RAM address plus its
  header's text_offset, with image_size bytes kept free for it (bss included).
- Anything else is a raw binary loaded at RAM base + 0x80000.
The initrd and the device tree follow the kernel in RAM; the boot CPU starts at EL1h with the
MMU off and x0 = the device tree's address (the Linux boot protocol).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile
from elftools.common.exceptions import ELFError

from . import fdt
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


def boot(machine, kernel: bytes, initrd: bytes | None = None, append: str = "",
         dtb: bytes | None = None) -> Loaded:
    """Load kernel, initrd and device tree into the machine's RAM and start the boot CPU."""
    phys = machine.phys
    entry, (kstart, kend), kind = load_kernel(phys, kernel)
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
    return Loaded(entry, dtb_addr, (kstart, kend), initrd_span, kind)
