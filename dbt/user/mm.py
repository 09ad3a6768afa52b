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
    def frames_left(self) -> int:
        space = self.space
        return space.ram.shape[0] // PAGE - space.next_frame + len(space.free_frames)

    def map(self, start: int, length: int, prot: int):
        """Map fresh zeroed pages (replacing whatever was there).  MemoryError when the range
        is outside the address space or guest RAM cannot hold it.

        PROT_NONE pages get no frame (a reservation costs nothing): the guest cannot touch
        them, and protect() gives them fresh zeroed frames when they become accessible."""
        end = start + page_up(length)
        if start < 0 or end > TASK_SIZE:
            raise MemoryError("outside the address space")
        hp = host_prot(prot)
        if hp and (end - start) // PAGE > self.frames_left() + self._mapped_pages(start, end):
            raise MemoryError("guest RAM exhausted")
        self._drop_code(start, end)
        if hp:
            self.space.map(start, end - start, hp)
        else:
            for s, e in list(self._pieces(start, end)):
                self.space.unmap(s, e - s)
        self._add(start, end)

    def _pieces(self, start: int, end: int):
        """The mapped parts of [start, end)."""
        i = max(bisect.bisect_right(self.starts, start) - 1, 0)
        while i < len(self.starts) and self.starts[i] < end:
            s, e = max(self.starts[i], start), min(self.ends[i], end)
            if s < e:
                yield s, e
            i += 1

    def _mapped_pages(self, start: int, end: int) -> int:
        return sum(e - s for s, e in self._pieces(start, end)) // PAGE

    def unmap(self, start: int, length: int):
        end = start + page_up(length)
        self._drop_code(start, end)
        for s, e in list(self._pieces(start, end)):
            self.space.unmap(s, e - s)
        self._remove(start, end)

    def protect(self, start: int, length: int, prot: int) -> bool:
        """False (ENOMEM) when part of the range is not mapped."""
        end = start + page_up(length)
        if not self.is_mapped(start, end):
            return False
        self._drop_code(start, end)
        hp = host_prot(prot)
        # runs of pages with a frame (reprotect) and without one (reserved: map when accessible)
        va = start
        while va < end:
            framed = bool(self.space.entry(va))
            run = va
            while run < end and bool(self.space.entry(run)) == framed:
                run += PAGE
            if framed:
                self.space.protect(va, run - va, hp)
            elif hp:
                if (run - va) // PAGE > self.frames_left():
                    raise MemoryError("guest RAM exhausted")
                self.space.map(va, run - va, hp)
            va = run
        return True

    def move(self, old: int, old_len: int, new: int):
        old_len = page_up(old_len)
        self._drop_code(old, old + old_len)
        self.space.move(old, new, old_len)
        self._remove(old, old + old_len)
        self._add(new, new + old_len)

    def regions(self):
        """(start, end, prot) runs of pages with the same protection, in address order."""
        for s, e in zip(self.starts, self.ends):
            run_start, run_prot = s, None
            for va in range(s, e, PAGE):
                prot = self.space.entry(va) & (PROT_READ | PROT_WRITE | PROT_EXEC)
                if run_prot is not None and (prot != run_prot or va == self.brk_start):
                    yield run_start, va, run_prot
                    run_start = va
                run_prot = prot
            yield run_start, e, run_prot

    def maps_text(self, exe: str = "", image_ranges=()) -> str:
        """The guest's /proc/self/maps."""
        lines = []
        for s, e, prot in self.regions():
            perms = "".join(c if prot & b else "-" for c, b in
                            (("r", PROT_READ), ("w", PROT_WRITE), ("x", PROT_EXEC))) + "p"
            name = ""
            if STACK_TOP - STACK_SIZE <= s < STACK_TOP:
                name = "[stack]"
            elif self.brk_start <= s < page_up(self.brk_cur):
                name = "[heap]"
            elif any(a <= s < b for a, b in image_ranges):
                name = exe
            lines.append(f"{s:08x}-{e:08x} {perms} 00000000 00:00 0"
                         + (" " * 10 + name if name else "") + "\n")
        return "".join(lines)

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
