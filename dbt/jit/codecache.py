"""The code cache: compiles translated blocks with llvmlite's MCJIT, keeps the native hash
table the dispatcher probes, and owns chaining and invalidation.

Blocks are keyed by (pc, ctx): ctx holds everything else that changes the code (zero in user
mode).  Direct-branch exits have chain slots (module globals) the dispatcher fills; the cache
remembers, per target, which slots point at it, so invalidating a block unlinks every chain
into it before its code is freed.
"""
from __future__ import annotations

import ctypes
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import llvmlite.binding as llvm
import numpy as np

from . import diskcache
from .translate import NAME, block_phys

PAGE = 4096


def _init_llvm():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()


@dataclass
class Block:
    pc: int
    ctx: int
    end: int
    ninsns: int
    fn: int
    name: str
    own_slots: list = field(default_factory=list)     # (address, target pc) of its exits

    @property
    def phys(self) -> int:
        """Where its code lies in guest-physical memory (user mode: the PC)."""
        return block_phys(self.pc, self.ctx)

    @property
    def pages(self):
        start = self.phys
        return range(start // PAGE, (start + self.end - self.pc - 1) // PAGE + 1)


class CodeCache:
    # MCJIT frees code memory only with its engine: once this many modules have been
    # discarded, the next invalidation starts a fresh engine (QEMU flushes its code buffer when
    # full for the same reason)
    MAX_DEAD_MODULES = 16384
    # each linked object costs the process a few memory mappings, and Linux allows 65530
    # by default: past this many objects the engine is recycled before the next link
    MAX_OBJECTS = 12000

    def __init__(self, translator, codegen_opt: int = 0, size: int = 1 << 14, disk=None):
        """disk: a DiskCache to load and keep compiled blocks (None: compile everything)."""
        _init_llvm()
        self.translator = translator
        self.disk = disk
        self.loaded_names: set[str] = set()       # symbols this engine already holds
        self.disk_hits = 0
        self.codegen_opt = codegen_opt
        self._new_engine()
        self.dead_modules = 0
        self.objects = 0
        self.flushes = 0
        self.blocks: dict[tuple, Block] = {}
        self.by_page: dict[int, set] = defaultdict(set)
        self.slots_into: dict[tuple, set] = defaultdict(set)   # (target, ctx) -> slot addresses
        self.compile_seconds = []
        self.serial = 0
        self.last_new: list = []     # blocks the last translate_region added
        self._alloc(size)

    def _new_engine(self):
        # the engine takes ownership of its target machine: each engine gets its own
        # the host's own CPU and features: vector shuffles become pshufb & co., not byte moves
        # (the disk cache's fingerprint includes them, so objects never cross CPUs)
        self.tm = llvm.Target.from_default_triple().create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
            opt=self.codegen_opt, jit=True)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.tm)

    def _alloc(self, size):
        self.keys_pc = np.zeros(size, dtype=np.int64)
        self.keys_ctx = np.zeros(size, dtype=np.int64)
        self.fns = np.zeros(size, dtype=np.int64)

    # -- hash table (same hash as dispatch.lookup) --------------------------------------
    def _slot_index(self, pc, ctx):
        mask = self.keys_pc.shape[0] - 1
        spc = pc - (1 << 64) if pc >> 63 else pc
        h = ((spc >> 2) ^ (spc >> 17) ^ ctx) & mask
        while self.fns[h] != 0 and not (self.keys_pc[h] == spc and self.keys_ctx[h] == ctx):
            h = (h + 1) & mask
        return h, spc

    def _insert(self, block: Block):
        if 2 * (len(self.blocks) + 1) > self.keys_pc.shape[0]:
            self._rehash(self.keys_pc.shape[0] * 2)
        h, spc = self._slot_index(block.pc, block.ctx)
        self.keys_pc[h] = spc
        self.keys_ctx[h] = block.ctx
        self.fns[h] = block.fn

    def _home(self, spc, ctx):
        return ((spc >> 2) ^ (spc >> 17) ^ ctx) & (self.keys_pc.shape[0] - 1)

    def _remove(self, pc, ctx):
        """Delete one key, shifting later members of its probe run back into the hole (linear
        probing needs no tombstones then): O(run length), not a rebuild."""
        h, _ = self._slot_index(pc, ctx)
        if self.fns[h] == 0:
            return
        mask = self.keys_pc.shape[0] - 1
        hole = h
        j = (h + 1) & mask
        while self.fns[j] != 0:
            home = self._home(int(self.keys_pc[j]), int(self.keys_ctx[j]))
            # move j into the hole unless its home lies cyclically in (hole, j]
            if (j - home) & mask >= (j - hole) & mask:
                self.keys_pc[hole] = self.keys_pc[j]
                self.keys_ctx[hole] = self.keys_ctx[j]
                self.fns[hole] = self.fns[j]
                hole = j
            j = (j + 1) & mask
        self.keys_pc[hole] = 0
        self.keys_ctx[hole] = 0
        self.fns[hole] = 0

    def _rehash(self, size):
        self._alloc(size)
        for b in self.blocks.values():
            self._insert(b)

    # -- translation ----------------------------------------------------------------------
    def lookup(self, pc: int, ctx: int = 0):
        return self.blocks.get((pc, ctx))

    def translate(self, pc: int, ctx: int = 0, single_step: bool = False) -> Block:
        import time
        t0 = time.perf_counter()
        block = None if single_step else self._from_disk(pc, ctx)
        if block is None:
            block = self._compile(pc, ctx, single_step)
            self.compile_seconds.append(time.perf_counter() - t0)
        if not single_step:
            self.blocks[(pc, ctx)] = block
            self._insert(block)
            for page in block.pages:
                self.by_page[page].add((pc, ctx))
        return block

    def _words(self, pc: int, ctx: int, nbytes: int):
        out = bytearray()
        start = block_phys(pc, ctx)
        for a in range(start, start + nbytes, 4):
            w = self.translator.fetch(a)
            if w is None:
                return None
            out += w.to_bytes(4, "little")
        return bytes(out)

    def _from_disk(self, pc, ctx):
        if self.disk is None:
            return None
        for key, nbytes in self.disk.candidates(pc, ctx):
            if f"c{key}" in self.loaded_names:
                continue
            words = self._words(pc, ctx, nbytes)
            if words is None or diskcache.digest(pc, ctx, words) != key:
                continue
            found = self.disk.entry(key)
            if found is None:
                continue
            ninsns, name, slots, obj = found
            self.disk_hits += 1
            self._link(obj)
            return self._make_block(pc, ctx, pc + nbytes, ninsns, name, slots)
        return None

    def _compile(self, pc, ctx, single_step) -> Block:
        info = self.translator.translate(pc, ctx, single_step)
        nbytes = info.end - pc
        key = None
        if self.disk is not None and info.cacheable:
            words = self._words(pc, ctx, nbytes)
            if words is not None:
                key = diskcache.digest(pc, ctx, words)
        name = f"c{key}" if key else None
        if name is None or name in self.loaded_names:
            name, key = self._serial_name(pc), None
        slots = self._named_slots(info, name)
        obj = self._codegen(info.ir.replace(NAME, name))
        if key:
            self.disk.put(key, pc, ctx, nbytes, info.ninsns, name, slots, obj)
        self._link(obj)
        return self._make_block(pc, ctx, info.end, info.ninsns, name, slots)

    def translate_many(self, pcs, ctx: int = 0) -> list:
        """Translate several blocks into one object (one codegen and link for all: the
        per-module cost dominates small blocks).  Used where many blocks are known up front,
        such as the differential fuzzer."""
        import time
        t0 = time.perf_counter()
        infos = [self.translator.translate(pc, ctx) for pc in dict.fromkeys(pcs)
                 if (pc, ctx) not in self.blocks]
        if not infos:
            return []
        names = [self._serial_name(info.pc) for info in infos]
        self._link(self._codegen(self._module_ir(infos, names)))
        blocks = self._add_blocks(infos, names, ctx)
        self._charge(t0, len(infos))
        return blocks

    def translate_region(self, pc: int, ctx: int, limit: int = 32) -> Block:
        """Translate the block at pc together with the not-yet-translated blocks its direct
        branches reach on the same page (up to `limit` blocks, one object for all): fewer,
        larger objects cost less to compile and link, and keep the number of code mappings
        the JIT's memory manager makes far below the kernel's limit."""
        import time
        t0 = time.perf_counter()
        if self.objects >= self.MAX_OBJECTS:
            self.flush()
        self.last_new = []
        block = self._region_from_disk(pc, ctx)
        if block is not None:
            return block
        infos, queue, seen = [], [pc], set()
        while queue and len(infos) < limit:
            p = queue.pop(0)
            if p in seen or (p, ctx) in self.blocks:
                continue
            seen.add(p)
            info = self.translator.translate(p, ctx)
            infos.append(info)
            queue.extend(t for t in info.slots.values() if t >> 12 == pc >> 12)
        key = None
        if self.disk is not None and all(i.cacheable for i in infos):
            words = self._region_words(ctx, [(i.pc, i.end - i.pc) for i in infos])
            if words is not None:
                key = diskcache.digest(pc, ctx, words)
        if key and f"r{key}_0" not in self.loaded_names:
            names = [f"r{key}_{n}" for n in range(len(infos))]
        else:
            key, names = None, [self._serial_name(i.pc) for i in infos]
        obj = self._codegen(self._module_ir(infos, names))
        self._link(obj)
        blocks = self._add_blocks(infos, names, ctx)
        self.last_new = blocks
        if key:
            members = [[b.pc, b.end - b.pc, b.ninsns, b.name,
                        [[slot, target] for slot, target in self._named_slots(i, b.name).items()]]
                       for i, b in zip(infos, blocks)]
            self.disk.put_region(key, pc, ctx, members, obj)
        self._charge(t0, len(infos))
        return blocks[0]

    def _region_words(self, ctx, spans):
        out = bytearray()
        for pc, nbytes in spans:
            w = self._words(pc, ctx, nbytes)
            if w is None:
                return None
            out += w
        return bytes(out)

    def _region_from_disk(self, pc, ctx):
        if self.disk is None:
            return None
        for key, members in self.disk.region_candidates(pc, ctx):
            if f"r{key}_0" in self.loaded_names:
                continue
            words = self._region_words(ctx, [(m[0], m[1]) for m in members])
            if words is None or diskcache.digest(pc, ctx, words) != key:
                continue
            obj = self.disk.region_object(key)
            if obj is None:
                continue
            self.disk_hits += 1
            self._link(obj)
            head = None
            for m_pc, nbytes, ninsns, name, slots in members:
                b = self._make_block(m_pc, ctx, m_pc + nbytes, ninsns, name, dict(slots))
                if (m_pc, ctx) not in self.blocks:
                    self._register(b)
                    self.last_new.append(b)
                head = head or b
            return head
        return None

    @staticmethod
    def _module_ir(infos, names) -> str:
        decls, body = {}, []
        for info, name in zip(infos, names):
            for line in info.ir.replace(NAME, name).splitlines():
                # declarations and private constants (lookup tables) are shared by name
                if line.startswith("declare ") or (line.startswith("@") and " private " in line):
                    decls[line] = None
                else:
                    body.append(line)
        return "\n".join(list(decls) + body) + "\n"

    def _add_blocks(self, infos, names, ctx) -> list:
        blocks = []
        for info, name in zip(infos, names):
            block = self._make_block(info.pc, ctx, info.end, info.ninsns, name,
                                     self._named_slots(info, name))
            self._register(block)
            blocks.append(block)
        return blocks

    def _register(self, block):
        self.blocks[(block.pc, block.ctx)] = block
        self._insert(block)
        for page in block.pages:
            self.by_page[page].add((block.pc, block.ctx))

    def _charge(self, t0, n):
        import time
        per_block = (time.perf_counter() - t0) / n
        self.compile_seconds.extend([per_block] * n)

    def _serial_name(self, pc):
        self.serial += 1
        return f"b{self.serial}_{pc:x}"

    @staticmethod
    def _named_slots(info, name):
        return {slot.replace(NAME, name): target for slot, target in info.slots.items()}

    def _codegen(self, ir: str) -> bytes:
        module = llvm.parse_assembly(ir)
        # SROA alone turns the register allocas into SSA; heavier pipelines cost more
        # compile time (instcombine + simplifycfg: 2.9 ms against 1.5 ms a block) than they
        # save on first-tier code.
        fpm = llvm.create_new_function_pass_manager()
        fpm.add_sroa_pass()
        # a fresh pass builder each time: a shared one keeps every function's analyses and
        # grows slower with each module (measured: 3x after 3000 modules)
        pb = llvm.create_pass_builder(self.tm, llvm.create_pipeline_tuning_options(1))
        for f in module.functions:
            if not f.is_declaration:
                fpm.run(f, pb)
        pb.close()
        return self.tm.emit_object(module)

    def _link(self, obj: bytes):
        self.objects += 1
        self.engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self.engine.finalize_object()

    def _make_block(self, pc, ctx, end, ninsns, name, slots) -> Block:
        self.loaded_names.add(name)
        block = Block(pc, ctx, end, ninsns, self.engine.get_function_address(name), name)
        for slot, target in slots.items():
            addr = self.engine.get_global_value_address(slot)
            block.own_slots.append((addr, target))
            self.slots_into[(target, ctx)].add(addr)
        return block

    def discard(self, block: Block):
        """A block that was never inserted (single-step) is dead: count it for recycling."""
        for addr, target in block.own_slots:
            self.slots_into[(target, block.ctx)].discard(addr)
        self.dead_modules += 1
        if self.dead_modules > self.MAX_DEAD_MODULES:
            self.flush()

    # -- invalidation ---------------------------------------------------------------------
    def _unlink_into(self, key):
        for addr in self.slots_into.pop(key, ()):
            ctypes.c_int64.from_address(addr).value = 0

    def _drop(self, key):
        self._remove(*key)
        block = self.blocks.pop(key)
        self._unlink_into(key)
        for addr, target in block.own_slots:
            self.slots_into[(target, block.ctx)].discard(addr)
        for page in block.pages:
            self.by_page[page].discard(key)
        # object code cannot be unloaded from an MCJIT engine: it is released when the
        # engine is recycled (flush)
        self.dead_modules += 1

    def invalidate_range(self, start: int, length: int) -> int:
        """Drop every block with code in [start, start+length) (guest-physical addresses in
        system mode); returns how many."""
        keys = set()
        for page in range(start // PAGE, (start + length - 1) // PAGE + 1):
            for key in list(self.by_page.get(page, ())):
                b = self.blocks[key]
                if b.phys < start + length and b.phys + (b.end - b.pc) > start:
                    keys.add(key)
        for key in keys:
            self._drop(key)
        if self.dead_modules > self.MAX_DEAD_MODULES:
            self.flush()
        return len(keys)

    def invalidate_and_survivors(self, start: int, length: int):
        """invalidate_range, then what is left on the pages it touched, for the memory's
        code marks: {page: [(lo, hi), ...]}, or None when the whole cache was flushed."""
        flushes = self.flushes
        self.invalidate_range(start, length)
        if self.flushes != flushes:
            return None
        left = {}
        for page in range(start // PAGE, (start + length - 1) // PAGE + 1):
            left[page] = []
            for key in self.by_page.get(page, ()):
                b = self.blocks[key]
                left[page].append((max(b.phys, page * PAGE),
                                   min(b.phys + (b.end - b.pc), (page + 1) * PAGE)))
        return left

    def code_pages(self):
        return [p for p, keys in self.by_page.items() if keys]

    def flush(self):
        """Drop every block and start a fresh MCJIT engine, releasing all code memory."""
        self.blocks.clear()
        self.by_page.clear()
        self.slots_into.clear()
        self.engine.close()
        self._new_engine()
        self.loaded_names.clear()
        self.dead_modules = 0
        self.objects = 0
        self.flushes += 1
        self._rehash(self.keys_pc.shape[0])
