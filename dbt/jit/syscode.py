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
    def __init__(self, phys, disk_cache: bool = True, clock=None):
        self.phys = phys
        self.clock = clock          # paused while compiling (see Clock.pause)
        self.translator = Translator(decoder(), phys, phys.fetch)
        disk = DiskCache.shared() if disk_cache and DiskCache.enabled() else None
        self.cache = CodeCache(self.translator, disk=disk)
        self.log_asm = None         # -d in_asm: callable(text) for each new block
        self._disasm = None

    def translate(self, pc: int, key: int, single_step: bool = False):
        if single_step:
            return self.cache.translate(pc, key, single_step=True)
        flushes = self.cache.flushes
        if self.clock is not None:
            self.clock.pause()
        try:
            block = self.cache.translate_region(pc, key)
        finally:
            if self.clock is not None:
                self.clock.resume()
        if self.cache.flushes != flushes:
            self.phys.clear_all_code()
        new = self.cache.last_new
        self.phys.mark_code([(b.phys, b.phys + (b.end - b.pc)) for b in new])
        if self.log_asm is not None:
            for b in new:
                self._log_block(b)
        return block

    def _log_block(self, b):
        from ..frontend.disasm import Disassembler
        if self._disasm is None:
            self._disasm = Disassembler(self.translator.decoder)
        lines = [f"IN: pc {b.pc:#x} (phys {b.phys:#x}, ctx {b.ctx & 0xFFF:#x})"]
        for off in range(0, b.end - b.pc, 4):
            word = self.phys.fetch(b.phys + off)
            lines.append(f"  {b.pc + off:#018x}:  {word:08x}  {self._disasm.text(word, b.pc + off)}")
        self.log_asm("\n".join(lines))

    def apply_code_writes(self):
        """Python-side writes (loaders, devices) that went over translated code."""
        for addr, length in self.phys.code_written:
            self.invalidate(addr, length)
        self.phys.code_written.clear()

    def invalidate(self, addr: int, length: int = 1):
        """Forget translated code overlapping physical [addr, addr+length), then re-mark what
        remains on those pages."""
        left = self.cache.invalidate_and_survivors(addr, length)
        if left is None:
            self.phys.clear_all_code()
            return
        for page, ranges in left.items():
            self.phys.clear_code(page * PAGE)
            self.phys.mark_code(ranges)
