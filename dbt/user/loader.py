"""Loading a static AArch64 Linux ELF executable and building its initial stack.

Follows the kernel (fs/binfmt_elf.c, arch/arm64): PT_LOAD segments mapped page-aligned with
their permissions and a zeroed bss; a static-pie image (ET_DYN without PT_INTERP) is loaded at a
fixed bias.  The stack holds, from the top: the exec file name, the environment and argument
strings, the platform string, 16 random bytes, then (16-byte aligned) argc, argv[], NULL,
envp[], NULL and the auxiliary vector.
"""
from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from .mm import (PIE_BASE, PROT_EXEC, PROT_READ, PROT_WRITE, STACK_SIZE, STACK_TOP,
                 MemoryMap, page_down, page_up)

# auxiliary vector keys (include/uapi/linux/auxvec.h)
AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS = 0, 3, 4, 5, 6, 7, 8
AT_ENTRY = 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_PLATFORM, AT_HWCAP, AT_CLKTCK = 11, 12, 13, 14, 15, 16, 17
AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN, AT_MINSIGSTKSZ = 23, 25, 26, 31, 51

# arch/arm64/include/uapi/asm/hwcap.h
HWCAP_FP, HWCAP_ASIMD, HWCAP_EVTSTRM, HWCAP_CRC32, HWCAP_CPUID = 1, 1 << 1, 1 << 2, 1 << 7, 1 << 11
HWCAP = HWCAP_FP | HWCAP_ASIMD | HWCAP_CRC32
MINSIGSTKSZ = 5120
PLATFORM = b"aarch64"

PF_X, PF_W, PF_R = 1, 2, 4


class LoadError(Exception):
    """The file cannot be run; the message is shown to the user as is."""


@dataclass
class Image:
    path: str
    entry: int
    phdr: int
    phent: int
    phnum: int
    brk: int
    sp: int = 0
    bias: int = 0
    ranges: tuple = ()          # (start, end) of the mapped segments
    auxv: bytes = b""           # the auxiliary vector as written to the stack


def _prot(flags: int) -> int:
    return ((PROT_READ if flags & PF_R else 0) | (PROT_WRITE if flags & PF_W else 0)
            | (PROT_EXEC if flags & PF_X else 0))


@dataclass
class ElfFile:
    """A checked executable, not yet mapped."""
    path: str
    blob: bytes
    etype: str
    segments: list
    entry: int
    phoff: int
    phentsize: int
    phnum: int


def parse_elf(path: str) -> ElfFile:
    """Read and check an executable; raises LoadError with a one-line reason."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise LoadError(f"{path}: {e.strerror}") from None
    if blob[:4] != b"\x7fELF":
        raise LoadError(f"{path}: not an ELF executable")
    try:
        elf = ELFFile(io.BytesIO(blob))
        machine, etype = elf["e_machine"], elf["e_type"]
        segments = [seg.header for seg in elf.iter_segments()]
    except (ELFError, struct.error, ValueError, KeyError) as e:
        raise LoadError(f"{path}: malformed ELF file ({e})") from None
    if elf.elfclass != 64 or not elf.little_endian or machine != "EM_AARCH64":
        raise LoadError(f"{path}: not an AArch64 little-endian ELF64 executable "
                        f"(machine {machine}, class {elf.elfclass})")
    if any(s.p_type == "PT_INTERP" for s in segments):
        raise LoadError(f"{path}: dynamically linked executables are not supported "
                        "(build with -static)")
    if etype not in ("ET_EXEC", "ET_DYN"):
        raise LoadError(f"{path}: not an executable (type {etype})")
    loads = [s for s in segments if s.p_type == "PT_LOAD" and s.p_memsz]
    if not loads:
        raise LoadError(f"{path}: no loadable segments")
    for s in loads:
        if s.p_filesz > s.p_memsz or s.p_offset + s.p_filesz > len(blob):
            raise LoadError(f"{path}: truncated or malformed segment")
    return ElfFile(path, blob, etype, segments, elf["e_entry"], elf["e_phoff"],
                   elf["e_phentsize"], elf["e_phnum"])


def load_elf(mm: MemoryMap, elf: ElfFile) -> Image:
    """Map the segments of a checked executable."""
    path, blob, segments = elf.path, elf.blob, elf.segments
    loads = [s for s in segments if s.p_type == "PT_LOAD" and s.p_memsz]
    etype = elf.etype
    bias = PIE_BASE - page_down(min(s.p_vaddr for s in loads)) if etype == "ET_DYN" else 0

    # page protections: the union of the segments touching each page
    pages: dict[int, int] = {}
    for s in loads:
        for va in range(page_down(s.p_vaddr + bias), page_up(s.p_vaddr + bias + s.p_memsz), 4096):
            pages[va] = pages.get(va, 0) | _prot(s.p_flags)
    try:
        for va in sorted(pages):
            mm.map(va, 4096, PROT_READ | PROT_WRITE)
        for s in loads:
            # like the kernel's file mapping, the first page also holds the file bytes before
            # the segment start (the ELF and program headers, for the text segment)
            head = (s.p_vaddr + bias) & 0xFFF
            off = s.p_offset - head
            if off >= 0 and s.p_filesz:
                mm.space.write(s.p_vaddr + bias - head, blob[off:s.p_offset + s.p_filesz],
                               force=True)
            elif s.p_filesz:
                mm.space.write(s.p_vaddr + bias, blob[s.p_offset:s.p_offset + s.p_filesz],
                               force=True)
        for va, prot in pages.items():
            mm.protect(va, 4096, prot)
    except MemoryError as e:
        raise LoadError(f"{path}: cannot map segments ({e})") from None

    phdr = next((s.p_vaddr for s in segments if s.p_type == "PT_PHDR"), None)
    if phdr is None:
        phoff = elf.phoff
        phdr = next((s.p_vaddr + phoff - s.p_offset for s in loads
                     if s.p_offset <= phoff < s.p_offset + s.p_filesz), 0)
    end = max(s.p_vaddr + s.p_memsz for s in loads) + bias
    mm.set_brk_start(end)
    ranges = tuple((page_down(s.p_vaddr + bias), page_up(s.p_vaddr + bias + s.p_memsz))
                   for s in loads)
    return Image(path, elf.entry + bias, phdr + bias if phdr else 0, elf.phentsize, elf.phnum,
                 mm.brk_start, bias=bias, ranges=ranges)


def setup_stack(mm: MemoryMap, image: Image, argv: list[str], envp: list[str],
                execfn: str | None = None) -> int:
    """Map the stack and write the start-up block; returns the initial SP."""
    mm.map(STACK_TOP - STACK_SIZE, STACK_SIZE, PROT_READ | PROT_WRITE)
    space = mm.space

    def enc(s):
        return (s if isinstance(s, bytes) else os.fsencode(s)) + b"\0"

    p = STACK_TOP - 8                      # the kernel leaves a null word at the very top

    def push(data: bytes) -> int:
        nonlocal p
        p -= len(data)
        space.write(p, data)
        return p

    execfn_addr = push(enc(execfn if execfn is not None else image.path))
    env_addrs = [push(enc(s)) for s in reversed(envp)][::-1]
    arg_addrs = [push(enc(s)) for s in reversed(argv)][::-1]
    p &= ~15
    platform = push(enc(PLATFORM))
    rand = push(os.urandom(16))
    p &= ~15

    uid, gid = os.getuid(), os.getgid()
    auxv = [
        (AT_MINSIGSTKSZ, MINSIGSTKSZ),
        (AT_HWCAP, HWCAP), (AT_PAGESZ, 4096), (AT_CLKTCK, 100),
        (AT_PHDR, image.phdr), (AT_PHENT, image.phent), (AT_PHNUM, image.phnum),
        (AT_BASE, 0), (AT_FLAGS, 0), (AT_ENTRY, image.entry),
        (AT_UID, uid), (AT_EUID, os.geteuid()), (AT_GID, gid), (AT_EGID, os.getegid()),
        (AT_SECURE, 0), (AT_RANDOM, rand), (AT_HWCAP2, 0),
        (AT_EXECFN, execfn_addr), (AT_PLATFORM, platform), (AT_NULL, 0),
    ]
    flat = [x for kv in auxv for x in kv]
    image.auxv = struct.pack(f"<{len(flat)}Q", *flat)
    words = [len(argv)] + arg_addrs + [0] + env_addrs + [0] + flat
    sp = (p - 8 * len(words)) & ~15
    space.write(sp, struct.pack(f"<{len(words)}Q", *words))
    image.sp = sp
    return sp
