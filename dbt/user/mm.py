"""The guest process's virtual memory areas: which ranges are mapped, where new mappings go,
the program break, and keeping the code cache coherent when mappings change.

The AddressSpace holds the page map; this module remembers the mapped ranges (so a free gap is
found without walking pages) and tells the engine to drop translated code in ranges that are
unmapped, remapped or reprotected.
"""
from __future__ import annotations

import bisect

# the same values as addrspace.py (not imported here, so the loader can check a file before
# Numba is loaded)
PAGE = 4096
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
VA_BITS = 48

STACK_TOP = 0x7FFF_FFFF_F000
STACK_SIZE = 8 << 20
MMAP_TOP = STACK_TOP - STACK_SIZE - (16 << 20)     # mmap area grows down from here
MMAP_BOTTOM = 0x1_0000_0000
TASK_SIZE = 1 << VA_BITS
PIE_BASE = 0x55_5555_0000                           # where a static-pie image is loaded


def page_up(x: int) -> int:
    return (x + PAGE - 1) & ~(PAGE - 1)


def page_down(x: int) -> int:
    return x & ~(PAGE - 1)


def host_prot(prot: int) -> int:
    """Linux/arm64 semantics: any access makes the page readable (no write-only pages)."""
    prot &= PROT_READ | PROT_WRITE | PROT_EXEC
    return prot | PROT_READ if prot else 0


class MemoryMap:
    def __init__(self, space, engine=None):
        self.space = space
        self.engine = engine          # set once created: code-cache invalidation
        self.starts: list[int] = []   # disjoint, sorted mapped ranges [start, end)
        self.ends: list[int] = []
        self.brk_start = self.brk_cur = 0

    # -- range bookkeeping -------------------------------------------------------------------
    def _add(self, start: int, end: int):
        self._remove(start, end)
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        # merge with neighbours
        if i + 1 < len(self.starts) and self.starts[i + 1] == end:
            self.ends[i] = self.ends.pop(i + 1)
            self.starts.pop(i + 1)
        if i > 0 and self.ends[i - 1] == start:
            self.ends[i - 1] = self.ends.pop(i)
            self.starts.pop(i)

    def _remove(self, start: int, end: int):
        out_s, out_e = [], []
        for s, e in zip(self.starts, self.ends):
            if e <= start or s >= end:
                out_s.append(s)
                out_e.append(e)
                continue
            if s < start:
                out_s.append(s)
                out_e.append(start)
            if e > end:
                out_s.append(end)
                out_e.append(e)
        self.starts, self.ends = out_s, out_e

    def is_free(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start) - 1
        if i >= 0 and self.ends[i] > start:
            return False
        return i + 1 >= len(self.starts) or self.starts[i + 1] >= end

    def is_mapped(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and self.ends[i] >= end

    def find_free(self, length: int, hint: int = 0) -> int | None:
        """A free, page-aligned range of `length` bytes: at the hint if it is free, else the
        highest gap below MMAP_TOP."""
        if hint >= 0x10000 and hint + length <= TASK_SIZE:
            hint = page_down(hint)
            if self.is_free(hint, hint + length):
                return hint
        top = MMAP_TOP
        i = bisect.bisect_left(self.starts, top)     # ranges [0, i) start below top
        while True:
            below = max(self.ends[i - 1] if i > 0 else 0, MMAP_BOTTOM)
            if top - below >= length:
                return top - length
            if i == 0:
                return None
            i -= 1
            top = min(top, self.starts[i])
            if top <= MMAP_BOTTOM:
                return None

    # -- code cache coherence --------------------------------------------------------------
    def _drop_code(self, start: int, end: int):
        if self.engine is None:
            return
        for page in self.engine.cache.code_pages():
            if start <= page * PAGE < end:
                self.engine.invalidate(page * PAGE, PAGE)

    # -- operations ------------------------------------------------------------------------
    def map(self, start: int, length: int, prot: int):
        """Map fresh zeroed pages (replacing whatever was there)."""
        end = start + page_up(length)
        self._drop_code(start, end)
        self.space.map(start, end - start, host_prot(prot))
        self._add(start, end)

    def unmap(self, start: int, length: int):
        end = start + page_up(length)
        self._drop_code(start, end)
        self.space.unmap(start, end - start)
        self._remove(start, end)

    def protect(self, start: int, length: int, prot: int) -> bool:
        end = start + page_up(length)
        if not self.is_mapped(start, end):
            return False
        self._drop_code(start, end)
        return self.space.protect(start, end - start, host_prot(prot))

    def move(self, old: int, old_len: int, new: int):
        old_len = page_up(old_len)
        self._drop_code(old, old + old_len)
        self.space.move(old, new, old_len)
        self._remove(old, old + old_len)
        self._add(new, new + old_len)

    # -- program break -----------------------------------------------------------------------
    def set_brk_start(self, addr: int):
        self.brk_start = self.brk_cur = page_up(addr)

    def brk(self, addr: int) -> int:
        if addr < self.brk_start:
            return self.brk_cur
        old_top, new_top = page_up(self.brk_cur), page_up(addr)
        if new_top > old_top:
            if not self.is_free(old_top, new_top):
                return self.brk_cur
            try:
                self.map(old_top, new_top - old_top, PROT_READ | PROT_WRITE)
            except MemoryError:
                return self.brk_cur
        elif new_top < old_top:
            self.unmap(new_top, old_top - new_top)
        self.brk_cur = addr
        return addr
