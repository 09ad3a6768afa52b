"""A Linux process's address space for user-mode emulation.

Guest pages map to 4 KiB frames of one numpy RAM array through a two-level page map (numpy, so
the Numba slow paths walk it natively).  The slow paths fill the vCPU's soft TLB; pages holding
translated code never get a write entry, so a store to them reaches the slow path, which tells
the runtime to invalidate that code.
"""
from __future__ import annotations

import numpy as np
from numba import carray, cfunc, njit, types

from ..cpu.state import ENV_SIZE, OFFSET, TLB_ENTRIES
from ..jit import exits
from ..jit.native import i64_ptr, u8_ptr
from ..cpu.mmu import note_code_write
from ..jit.symbols import export

PAGE_SHIFT = 12
PAGE = 1 << PAGE_SHIFT
L2_BITS = 18                  # one second-level table covers 1 GiB
VA_BITS = 48
L1_ENTRIES = 1 << (VA_BITS - PAGE_SHIFT - L2_BITS)

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
CODE = 8                      # page holds translated code: stores take the slow path

# memory-context array slots
MC_RAM, MC_L1, MC_L2, MC_RAM_SIZE, MC_CODE_BITS = 0, 1, 2, 3, 4
MC_SIZE = 5
# one bit per instruction slot of every frame: which words are inside translated blocks, so a
# store to a code page invalidates only when it really overwrites translated code
CODE_WORDS_PER_FRAME = PAGE // 4

_TLB_READ = OFFSET["TLB_READ"]
_TLB_WRITE = OFFSET["TLB_WRITE"]
_TLB_ADDEND = OFFSET["TLB_ADDEND"]
_MEM_CTX = OFFSET["MEM_CTX"]
_PENDING = OFFSET["PENDING"]
_EXIT_INFO = OFFSET["EXIT_INFO"]
_EXIT_INFO2 = OFFSET["EXIT_INFO2"]


@njit(cache=True, inline="always")
def _entry(mc, va):
    """The page-map entry for va: (frame + 1) << 12 | flags, or 0 when unmapped."""
    if va < 0 or (va >> VA_BITS) != 0:
        return 0
    l1 = carray(i64_ptr(mc[MC_L1]), (L1_ENTRIES,))
    blk = l1[va >> (PAGE_SHIFT + L2_BITS)]
    if blk == 0:
        return 0
    l2 = carray(i64_ptr(mc[MC_L2] + ((blk - 1) << (L2_BITS + 3))), (1 << L2_BITS,))
    return l2[(va >> PAGE_SHIFT) & ((1 << L2_BITS) - 1)]


@njit(cache=True, inline="always")
def _fill_tlb(env, mc, va, ent):
    page = va & ~(PAGE - 1)
    idx = (va >> PAGE_SHIFT) & (TLB_ENTRIES - 1)
    env[_TLB_ADDEND + idx] = mc[MC_RAM] + ((ent >> PAGE_SHIFT) - 1) * PAGE - page
    env[_TLB_READ + idx] = page if ent & PROT_READ else -1
    env[_TLB_WRITE + idx] = page if (ent & PROT_WRITE) and not (ent & CODE) else -1


@njit(cache=True, inline="always")
def _fault(env, va, kind):
    env[_PENDING] |= exits.PENDING_FAULT
    env[_EXIT_INFO] = va
    env[_EXIT_INFO2] = kind


@njit(cache=True)
def _host(mc, ent, va):
    return mc[MC_RAM] + ((ent >> PAGE_SHIFT) - 1) * PAGE + (va & (PAGE - 1))


@njit(cache=True, inline="always")
def _is_code(mc, ent, va):
    slot = ((ent >> PAGE_SHIFT) - 1) * CODE_WORDS_PER_FRAME + ((va & (PAGE - 1)) >> 2)
    bits = carray(i64_ptr(mc[MC_CODE_BITS] + (slot >> 6) * 8), (1,))
    return (bits[0] >> (slot & 63)) & 1


@export
@cfunc(types.int64(types.CPointer(types.int64), types.int64, types.int64), cache=True)
def slow_load(envp, va, nbytes):
    env = carray(envp, (ENV_SIZE,))
    mc = carray(i64_ptr(env[_MEM_CTX]), (MC_SIZE,))
    value = 0
    for i in range(nbytes):
        a = va + i
        ent = _entry(mc, a)
        if ent == 0 or not (ent & PROT_READ):
            _fault(env, a, exits.ACCESS_READ)
            return 0
        if i == 0:
            _fill_tlb(env, mc, a, ent)
        b = carray(u8_ptr(_host(mc, ent, a)), (1,))[0]
        value |= np.int64(b) << (8 * i)
    return value


@export
@cfunc(types.int64(types.CPointer(types.int64), types.int64, types.int64, types.int64), cache=True)
def slow_store(envp, va, nbytes, value):
    env = carray(envp, (ENV_SIZE,))
    mc = carray(i64_ptr(env[_MEM_CTX]), (MC_SIZE,))
    # check every byte first: a faulting store changes nothing
    code = 0
    for i in range(nbytes):
        ent = _entry(mc, va + i)
        if ent == 0 or not (ent & PROT_WRITE):
            _fault(env, va + i, exits.ACCESS_WRITE)
            return 1
        if ent & CODE and _is_code(mc, ent, va + i):
            code = 2
    for i in range(nbytes):
        a = va + i
        ent = _entry(mc, a)
        if i == 0:
            _fill_tlb(env, mc, a, ent)
        carray(u8_ptr(_host(mc, ent, a)), (1,))[0] = np.uint8((value >> (8 * i)) & 0xFF)
    if code:
        note_code_write(env, va, nbytes)
    return code


class GuestFault(Exception):
    def __init__(self, addr, kind):
        super().__init__(f"guest access to unmapped address {addr:#x}")
        self.addr = addr
        self.kind = kind


class AddressSpace:
    def __init__(self, ram_bytes: int = 4 << 30, l2_tables: int = 64):
        self.ram = np.zeros(ram_bytes, dtype=np.uint8)        # pages committed on first touch
        self.l1 = np.zeros(L1_ENTRIES, dtype=np.int64)
        self.l2 = np.zeros((l2_tables, 1 << L2_BITS), dtype=np.int64)
        self.l2_used = 0
        self.next_frame = 0
        self.free_frames: list[int] = []
        self.code_bits = np.zeros(ram_bytes // PAGE * CODE_WORDS_PER_FRAME // 64, dtype=np.uint64)
        self.mc = np.zeros(MC_SIZE, dtype=np.int64)
        self.mc[MC_CODE_BITS] = self.code_bits.ctypes.data
        self.mc[MC_RAM] = self.ram.ctypes.data
        self.mc[MC_L1] = self.l1.ctypes.data
        self.mc[MC_L2] = self.l2.ctypes.data
        self.mc[MC_RAM_SIZE] = ram_bytes
        self.load_fn = slow_load
        self.store_fn = slow_store
        self.envs = []          # vCPU envs whose TLBs must hear of changes
        self.code_written = []  # guest addresses of code pages written from Python

    def attach(self, env):
        env[_MEM_CTX] = self.mc.ctypes.data
        self.envs.append(env)

    # -- page map -------------------------------------------------------------------------
    def _l2_for(self, va, create):
        if va < 0 or va >> VA_BITS:
            if create:
                raise ValueError(f"address {va:#x} is outside the {VA_BITS}-bit address space")
            return None
        i = va >> (PAGE_SHIFT + L2_BITS)
        blk = int(self.l1[i])
        if blk == 0:
            if not create:
                return None
            if self.l2_used == self.l2.shape[0]:
                raise MemoryError("address space: out of second-level tables")
            self.l2_used += 1
            blk = self.l1[i] = self.l2_used
        return self.l2[blk - 1]

    def entry(self, va: int) -> int:
        if va < 0 or va >> VA_BITS:
            return 0
        l2 = self._l2_for(va, False)
        return 0 if l2 is None else int(l2[(va >> PAGE_SHIFT) & ((1 << L2_BITS) - 1)])

    def _frame(self) -> int:
        if self.free_frames:
            f = self.free_frames.pop()
            self.ram[f * PAGE:(f + 1) * PAGE] = 0
            return f
        f = self.next_frame
        if (f + 1) * PAGE > self.ram.shape[0]:
            raise MemoryError("guest RAM exhausted")
        self.next_frame += 1
        return f

    def map(self, start: int, length: int, prot: int):
        """Map fresh zeroed pages over [start, start+length) (replacing what was there)."""
        self.unmap(start, length)
        for va in range(start, start + length, PAGE):
            l2 = self._l2_for(va, True)
            l2[(va >> PAGE_SHIFT) & ((1 << L2_BITS) - 1)] = ((self._frame() + 1) << PAGE_SHIFT) | prot
        self.flush_tlbs()

    def unmap(self, start: int, length: int):
        for va in range(start, start + length, PAGE):
            l2 = self._l2_for(va, False)
            if l2 is None:
                continue
            k = (va >> PAGE_SHIFT) & ((1 << L2_BITS) - 1)
            ent = int(l2[k])
            if ent:
                if ent & CODE:
                    self._clear_code_bits(ent)
                    self.code_written.append((va, PAGE))
                self.free_frames.append((ent >> PAGE_SHIFT) - 1)
                l2[k] = 0
        self.flush_tlbs()

    def protect(self, start: int, length: int, prot: int) -> bool:
        for va in range(start, start + length, PAGE):
            if not self.entry(va):
                return False
        for va in range(start, start + length, PAGE):
            l2 = self._l2_for(va, False)
            k = (va >> PAGE_SHIFT) & ((1 << L2_BITS) - 1)
            l2[k] = (int(l2[k]) & ~0xFFF) | prot | (int(l2[k]) & CODE)
        self.flush_tlbs()
        return True

    def _clear_code_bits(self, ent):
        frame = (ent >> PAGE_SHIFT) - 1
        w = CODE_WORDS_PER_FRAME // 64
        self.code_bits[frame * w:(frame + 1) * w] = 0

    def mark_code(self, start: int, end: int):
        """Translated code now covers [start, end): stores there must invalidate it."""
        va = start
        while va < end:
            l2 = self._l2_for(va, False)
            k = (va >> PAGE_SHIFT) & ((1 << L2_BITS) - 1)
            ent = 0 if l2 is None else int(l2[k])
            stop = min(end, (va | (PAGE - 1)) + 1)
            if ent:
                l2[k] = ent | CODE
                frame = (ent >> PAGE_SHIFT) - 1
                for word in range((va & (PAGE - 1)) >> 2, ((stop - 1) & (PAGE - 1)) // 4 + 1):
                    slot = frame * CODE_WORDS_PER_FRAME + word
                    self.code_bits[slot >> 6] |= np.uint64(1 << (slot & 63))
                idx = (va >> PAGE_SHIFT) & (TLB_ENTRIES - 1)
                for env in self.envs:
                    if env[_TLB_WRITE + idx] == va & ~(PAGE - 1):
                        env[_TLB_WRITE + idx] = -1
            va = stop

    def clear_all_code(self):
        """The code cache was flushed: no page holds translated code any more."""
        self.code_bits[:] = 0
        for blk in range(self.l2_used):
            self.l2[blk] &= ~CODE

    def clear_code(self, page_va: int):
        """No translated code left in this page: stores may take the fast path again."""
        l2 = self._l2_for(page_va, False)
        if l2 is None:
            return
        k = (page_va >> PAGE_SHIFT) & ((1 << L2_BITS) - 1)
        ent = int(l2[k])
        if ent:
            self._clear_code_bits(ent)
            l2[k] = ent & ~CODE

    def flush_tlbs(self):
        for env in self.envs:
            env[_TLB_READ:_TLB_READ + TLB_ENTRIES] = -1
            env[_TLB_WRITE:_TLB_WRITE + TLB_ENTRIES] = -1

    def is_mapped(self, start, length) -> bool:
        return all(self.entry(va) for va in range(start & ~(PAGE - 1), start + length, PAGE))

    # -- Python-side access (loader, syscalls) ----------------------------------------------
    def _pieces(self, va: int, length: int, need: int):
        while length > 0:
            ent = self.entry(va)
            if not ent or not (ent & need):
                raise GuestFault(va, need)
            off = va & (PAGE - 1)
            n = min(length, PAGE - off)
            host = ((ent >> PAGE_SHIFT) - 1) * PAGE + off
            yield host, n, ent
            va += n
            length -= n

    def read(self, va: int, length: int) -> bytes:
        return b"".join(self.ram[h:h + n].tobytes() for h, n, _ in self._pieces(va, length, PROT_READ))

    def write(self, va: int, data: bytes, force: bool = False):
        """Write guest memory; force ignores write protection (the loader)."""
        pos = 0
        for h, n, ent in self._pieces(va, len(data), PROT_READ if force else PROT_WRITE):
            self.ram[h:h + n] = np.frombuffer(data, dtype=np.uint8, count=n, offset=pos)
            if ent & CODE:
                self.code_written.append((va + pos, n))
            pos += n

    def read_u32(self, va: int) -> int:
        return int.from_bytes(self.read(va, 4), "little")

    def fetch(self, pc: int):
        """The instruction word at pc, or None when pc is not executable."""
        ent = self.entry(pc)
        if not ent or not (ent & PROT_EXEC) or pc & 3:
            return None
        h = ((ent >> PAGE_SHIFT) - 1) * PAGE + (pc & (PAGE - 1))
        return int(self.ram[h:h + 4].view(np.uint32)[0])

    def read_cstr(self, va: int, limit: int = 4096) -> bytes:
        out = bytearray()
        while len(out) < limit:
            chunk = self.read(va, min(64, PAGE - (va & (PAGE - 1))))
            z = chunk.find(b"\0")
            if z >= 0:
                return bytes(out + chunk[:z])
            out += chunk
            va += len(chunk)
        return bytes(out)


    def move(self, old: int, new: int, length: int):
        """Move the pages of [old, old+length) to [new, new+length) without copying: the frames
        keep their contents (mremap).  The destination must be unmapped; ranges may not
        overlap."""
        mask = (1 << L2_BITS) - 1
        for off in range(0, length, PAGE):
            src = self._l2_for(old + off, False)
            k = ((old + off) >> PAGE_SHIFT) & mask
            ent = 0 if src is None else int(src[k])
            if src is not None:
                src[k] = 0
            dst = self._l2_for(new + off, True)
            dst[((new + off) >> PAGE_SHIFT) & mask] = ent & ~CODE
        self.flush_tlbs()
