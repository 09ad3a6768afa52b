"""One vCPU's execution engine: the code cache, the dispatcher, and the exits Python handles.

`run(budget)` executes until an exit that its owner (user-mode runner or machine) must see,
translating missing blocks and invalidating overwritten code on the way.
"""
from __future__ import annotations

import numpy as np

from ..cpu.state import OFFSET, CPUState
from ..frontend.a64 import decoder
from . import exits
from .codecache import PAGE, CodeCache
from .diskcache import DiskCache
from .dispatch import run as dispatch_run
from .translate import Translator


class Engine:
    def __init__(self, space, state: CPUState | None = None, ctx: int = 0,
                 disk_cache: bool = True):
        """space: the memory model (slow-path addresses, fetch, set_code)."""
        self.space = space
        self.state = state or CPUState()
        self.env = self.state.env
        self.envi = self.env.view(np.int64)
        self.env_addr = self.env.ctypes.data
        space.attach(self.envi)
        self.translator = Translator(decoder(), space, space.fetch)
        disk = DiskCache.shared() if disk_cache and DiskCache.enabled() else None
        self.cache = CodeCache(self.translator, disk=disk)
        self.ctx = ctx
        self.executed = 0
        self.single_step = False

    def _translate(self, pc):
        block = self.cache.translate(pc, self.ctx)
        self.space.mark_code(pc, block.end)
        return block

    def pretranslate(self, pcs):
        """Translate the blocks at pcs together (one compile for all)."""
        self._apply_code_writes()
        for block in self.cache.translate_many(pcs, self.ctx):
            self.space.mark_code(block.pc, block.end)

    def _apply_pending_code_write(self):
        """Stores went over translated code (the block that did it has stopped, even when a
        later access of the same instruction faulted): drop that code."""
        envi = self.envi
        if envi[OFFSET["PENDING"]] & exits.PENDING_CODE_WRITE:
            envi[OFFSET["PENDING"]] &= ~exits.PENDING_CODE_WRITE
            lo, hi = int(envi[OFFSET["CODE_WRITE_LO"]]), int(envi[OFFSET["CODE_WRITE_HI"]])
            self.invalidate(lo, hi - lo)

    def _apply_code_writes(self):
        for addr, length in self.space.code_written:
            self.invalidate(addr, length)
        self.space.code_written.clear()

    def invalidate(self, addr: int, length: int = 1):
        """Forget translated code overlapping [addr, addr+length) (the guest wrote over it),
        then re-mark what remains on those pages."""
        left = self.cache.invalidate_and_survivors(addr, length)
        if left is None:
            self.space.clear_all_code()
            return
        for page, ranges in left.items():
            self.space.clear_code(page * PAGE)
            for lo, hi in ranges:
                self.space.mark_code(lo, hi)

    def run(self, budget: int) -> int:
        """Run at most `budget` instructions; returns the exit code that stopped execution
        (BUDGET when the budget ran out)."""
        envi = self.envi
        envi[OFFSET["BUDGET"]] = budget
        try:
            while True:
                self._apply_code_writes()
                if self.single_step:
                    code = self._step()
                else:
                    code = dispatch_run(envi, self.env_addr, self.cache.keys_pc,
                                        self.cache.keys_ctx, self.cache.fns, self.ctx)
                if code == exits.MISS:
                    self._translate(int(self.env[OFFSET["PC"]]))
                    continue
                self._apply_pending_code_write()
                if code == exits.CODE_WRITE:
                    continue
                if code == exits.FAULT:
                    envi[OFFSET["PENDING"]] = 0
                if code == exits.STEP:
                    if envi[OFFSET["BUDGET"]] > 0:
                        continue
                    code = exits.BUDGET
                return code
        finally:
            self.executed += budget - int(envi[OFFSET["BUDGET"]])

    def _step(self) -> int:
        """Single-step mode: translate one instruction, run it, throw the code away."""
        if self.envi[OFFSET["BUDGET"]] <= 0:
            return exits.BUDGET
        block = self.cache.translate(int(self.env[OFFSET["PC"]]), self.ctx, single_step=True)
        code = call_block_py(block.fn, self.env_addr)
        self.cache.discard(block)
        # a branch ends its one-instruction block like any other: the step is done
        return exits.STEP if code in (exits.LINK, exits.LOOKUP) else code


def call_block_py(fn: int, env_addr: int) -> int:
    import ctypes
    return ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)(fn)(env_addr)
