"""Translated code shared by every vCPU of a machine.

Blocks are keyed by (virtual PC, physical page | translation context), so code stays valid
across address-space switches and TLB flushes and is shared by all vCPUs; a store over it
(noticed through the per-word code bitmap of physical memory) drops it.
"""
from __future__ import annotations

from ..frontend.a64 import decoder
from .codecache import PAGE, CodeCache
from .diskcache import DiskCache
from .translate import Translator


class SharedCode:
    def __init__(self, phys, disk_cache: bool = True):
        self.phys = phys
        self.translator = Translator(decoder(), phys, phys.fetch)
        disk = DiskCache.shared() if disk_cache and DiskCache.enabled() else None
        self.cache = CodeCache(self.translator, disk=disk)

    def translate(self, pc: int, key: int, single_step: bool = False):
        if single_step:
            return self.cache.translate(pc, key, single_step=True)
        before = set(self.cache.blocks)
        flushes = self.cache.flushes
        block = self.cache.translate_region(pc, key)
        if self.cache.flushes != flushes:
            self.phys.clear_all_code()
            before = set()
        new = [b for k, b in self.cache.blocks.items() if k not in before] \
            if len(self.cache.blocks) - len(before) > 1 else [block]
        self.phys.mark_code([(b.phys, b.phys + (b.end - b.pc)) for b in new])
        return block

    def apply_code_writes(self):
        """Python-side writes (loaders, devices) that went over translated code."""
        for addr, length in self.phys.code_written:
            self.invalidate(addr, length)
        self.phys.code_written.clear()

    def invalidate(self, addr: int, length: int = 1):
        """Forget translated code overlapping physical [addr, addr+length), then re-mark what
        remains on those pages."""
        flushes = self.cache.flushes
        self.cache.invalidate_range(addr, length)
        if self.cache.flushes != flushes:
            self.phys.clear_all_code()
            return
        for page in range(addr // PAGE, (addr + length - 1) // PAGE + 1):
            self.phys.clear_code(page * PAGE)
            for key in self.cache.by_page.get(page, ()):
                b = self.cache.blocks[key]
                lo = max(b.phys, page * PAGE)
                hi = min(b.phys + (b.end - b.pc), (page + 1) * PAGE)
                self.phys.mark_code([(lo, hi)])
