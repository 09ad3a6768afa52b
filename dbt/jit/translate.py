"""Block translation: decode A64 words from the table, run each row's semantics against the
block builder, and produce one LLVM function per guest basic block.

A block ends at a branch, an exception-generating or system instruction that must leave, a page
boundary, MAX_INSNS, or after one instruction in single-step mode.  Every exit is typed (see
exits.py); direct branches get chain slots that the dispatcher fills on first use.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..cpu.exceptions import (CTX_ALIGN, CTX_DEBUG, CTX_EL, CTX_FP_TRAP, CTX_MMU_OFF, CTX_SYSTEM,
                              EC_FP, IL, ISS_FP_TRAP)
from ..cpu.state import GPR, OFFSET, VREG
from ..frontend.semantics import HANDLERS
from ..frontend.semantics.system import uses_fp
from . import exits
from .emitter import I1, I8, I16, I32, I64, I128, INT_OF_BYTES, Emitter, Value

MAX_INSNS = 64
# the function's name in the IR until the code cache names it (see CodeCache.translate)
NAME = "DBTBLOCK"


@dataclass
class ExitSite:
    label: str
    code: int
    pc: object              # int or Value
    completed: int          # instructions of the block that completed before this exit
    info: object = None
    slot: str | None = None  # chain slot global, for direct branches
    info2: int | None = None


@dataclass
class BlockInfo:
    """What the code cache needs to know about a translated block."""
    pc: int
    ctx: int
    name: str
    ninsns: int
    end: int                # address after the last instruction
    ir: str
    slots: dict = field(default_factory=dict)   # slot global name -> target pc


class MemoryModel:
    """The slow paths a block calls on a soft-TLB miss; supplied by the machine or user mode
    as numba cfuncs."""
    load_fn: object     # i64 (i64* env, i64 va, i64 nbytes): value, env[PENDING] on fault
    store_fn: object    # i64 (i64* env, i64 va, i64 nbytes, i64 value): 0 ok, 1 fault, 2 code


class BlockBuilder:
    """What a semantics handler sees: the guest view (registers, flags, memory, exits) over
    the emitter."""

    def __init__(self, name: str, mem: MemoryModel, ctx: int = 0):
        self.e = Emitter(name)
        # system mode (ctx != 0): the exception level and MMU state the block runs under
        self.ctx = ctx
        self.system = bool(ctx & CTX_SYSTEM)
        self.el = ctx & CTX_EL
        self.mmu = self.el              # the TLB (MMU index) accesses use; LDTR/STTR use 0
        self.mmu_off = bool(ctx & CTX_MMU_OFF)
        # accesses that must be aligned: Device memory (MMU off) or SCTLR_EL1.A
        self.aligned = bool(ctx & (CTX_MMU_OFF | CTX_ALIGN))
        self.align_check = bool(ctx & CTX_ALIGN)
        # breakpoints/watchpoints armed: the dispatcher sees every instruction, the slow path
        # every access
        self.debug = bool(ctx & CTX_DEBUG)
        self.mem = mem
        self.exits: list[ExitSite] = []
        self.slots: dict[str, int] = {}
        self.pend = self.e.local(I1, "false")
        self.pc = 0
        self.start_pc = None
        self.single_step = False
        self.word = 0
        self.index = 0
        self.has_store = False

    # -- general registers ----------------------------------------------------------------
    def X(self, n: int, sf: int = 1) -> Value:
        """X[n] (or W[n] when sf is 0); register 31 reads as zero."""
        ty = I64 if sf else I32
        if n == 31:
            return self.e.c(ty, 0)
        return self.e.trunc(self.e.get(GPR[n]), ty)

    def set_X(self, n: int, v: Value):
        if n != 31:
            self.e.set(GPR[n], self.e.zext(v, I64))

    def XSP(self, n: int, sf: int = 1) -> Value:
        """X[n] where register 31 is SP."""
        if n == 31:
            return self.e.trunc(self.e.get(OFFSET["SP"]), I64 if sf else I32)
        return self.X(n, sf)

    def set_XSP(self, n: int, v: Value):
        if n == 31:
            self.e.set(OFFSET["SP"], self.e.zext(v, I64))
        else:
            self.set_X(n, v)

    # -- SIMD&FP registers ----------------------------------------------------------------
    def Vreg(self, n: int) -> Value:
        return self.e.get(VREG[n], I128)

    def set_Vreg(self, n: int, v: Value):
        """Write the whole 128-bit register; narrower values are zero-extended (as scalar
        writes clear the upper bits)."""
        e = self.e
        if v.ty != I128:
            v = e.zext(e.bitcast(v, f"i{_bits(v.ty)}"), I128)
        e.set(VREG[n], v)

    # -- flags ----------------------------------------------------------------------------
    def flag(self, name: str) -> Value:
        return self.e.get(OFFSET[name], I1)

    def set_flag(self, name: str, v: Value):
        self.e.set(OFFSET[name], v)

    def set_nzcv(self, n, z, c, v):
        for name, val in (("N", n), ("Z", z), ("C", c), ("V", v)):
            self.set_flag(name, val)

    def set_nzcv_const(self, nzcv: int):
        e = self.e
        self.set_nzcv(*(e.c(I1, (nzcv >> b) & 1) for b in (3, 2, 1, 0)))

    def condition_holds(self, cond: int) -> Value:
        """ConditionHolds() from the manual."""
        e = self.e
        base = cond >> 1
        if base == 0:
            r = self.flag("Z")
        elif base == 1:
            r = self.flag("C")
        elif base == 2:
            r = self.flag("N")
        elif base == 3:
            r = self.flag("V")
        elif base == 4:
            r = e.and_(self.flag("C"), e.not_(self.flag("Z")))
        elif base == 5:
            r = e.icmp("eq", self.flag("N"), self.flag("V"))
        elif base == 6:
            r = e.and_(e.icmp("eq", self.flag("N"), self.flag("V")), e.not_(self.flag("Z")))
        else:
            return e.c(I1, 1)
        if cond & 1 and cond != 15:
            r = e.not_(r)
        return r

    # -- memory ---------------------------------------------------------------------------
    def tlb_lookup(self, va: Value, nbytes: int, kind: str):
        """(hit, host address) in this block's TLB (its MMU index); with the MMU off every
        access is to Device memory, so only aligned ones may take the fast path."""
        hit, host = self.e.tlb_lookup(va, nbytes, f"TLB{self.mmu}_{kind}", aligned=self.aligned)
        if self.debug:
            hit = self.e.c(I1, 0)
        return hit, host

    def _size_arg(self, nbytes):
        """The slow paths' size argument: in system mode it also names the MMU index."""
        if not self.system:
            return self.e.c(I64, nbytes)
        return self.e.c(I64, nbytes | (self.mmu << MMU_SHIFT) | (ALIGN_FLAG if self.align_check else 0)
                        | (DEBUG_FLAG if self.debug else 0))

    def load(self, va: Value, nbytes: int) -> Value:
        """Load nbytes (1..16) at va, little-endian, as an integer of that size."""
        e = self.e
        if nbytes == 16:
            lo = self.load(va, 8)
            hi = self.load(e.add(va, e.c(I64, 8)), 8)
            return e.or_(e.zext(lo, I128), e.shl(e.zext(hi, I128), e.c(I128, 64)))
        ty = INT_OF_BYTES[nbytes]
        hit, host = self.tlb_lookup(va, nbytes, "READ")
        fast, slow, ok, join = e.label("ldf"), e.label("lds"), e.label("ldo"), e.label("ldj")
        e.cbr(hit, fast, slow)
        e.start(fast)
        p = e.tmp()
        e.emit(f"{p} = inttoptr i64 {host.ref} to {ty}*")
        v1 = e._op(f"load {ty}, {ty}* {p}, align 1", ty)
        e.br(join)
        e.start(slow)
        r = e.call_native(self.mem.load_fn, I64, Value("%env", "i64*"), va, self._size_arg(nbytes))
        pending = e.and_(e.env_load(OFFSET["PENDING"]), e.c(I64, exits.PENDING_FAULT))
        bad = e.icmp("ne", pending, e.c(I64, 0))
        e.cbr(bad, self.exit_label(exits.FAULT, self.pc, self.index), ok)
        e.start(ok)
        v2 = e.trunc(r, ty)
        e.br(join)
        e.start(join)
        return e._op(f"phi {ty} [{v1.ref}, %{fast}], [{v2.ref}, %{ok}]", ty)

    def store(self, va: Value, nbytes: int, v: Value):
        e = self.e
        self.has_store = True
        if nbytes == 16:
            self.store(va, 8, e.trunc(v, I64))
            self.store(e.add(va, e.c(I64, 8)), 8, e.trunc(e.lshr(v, e.c(I128, 64)), I64))
            return
        ty = INT_OF_BYTES[nbytes]
        v = e.resize(v, ty)
        hit, host = self.tlb_lookup(va, nbytes, "WRITE")
        fast, slow, ok, join = e.label("stf"), e.label("sts"), e.label("sto"), e.label("stj")
        e.cbr(hit, fast, slow)
        e.start(fast)
        p = e.tmp()
        e.emit(f"{p} = inttoptr i64 {host.ref} to {ty}*")
        e.emit(f"store {ty} {v.ref}, {ty}* {p}, align 1")
        e.br(join)
        e.start(slow)
        st = e.call_native(self.mem.store_fn, I64, Value("%env", "i64*"), va, self._size_arg(nbytes),
                           e.zext(v, I64))
        e.cbr(e.icmp("eq", st, e.c(I64, 1)), self.exit_label(exits.FAULT, self.pc, self.index), ok)
        e.start(ok)
        old = e._op(f"load i1, i1* {self.pend}", I1)
        e.emit(f"store i1 {e.or_(old, e.icmp('eq', st, e.c(I64, 2))).ref}, i1* {self.pend}")
        e.br(join)
        e.start(join)

    # -- exits ----------------------------------------------------------------------------
    def exit_label(self, code: int, pc, completed: int, info=None, slot=None) -> str:
        label = self.e.label("exit")
        self.exits.append(ExitSite(label, code, pc, completed, info, slot))
        return label

    def exit(self, code: int, pc=None, info=None, completed=None, info2=None):
        """End the block here with `code`; pc defaults to this instruction."""
        if completed is None:
            completed = self.index if pc is None or pc == self.pc else self.index + 1
        label = self.exit_label(code, self.pc if pc is None else pc, completed, info)
        self.exits[-1].info2 = info2
        self.e.br(label)

    def goto(self, target: int):
        """Direct branch to a constant address: a chainable exit, or, for a branch back to
        the block's own start, a loop inside the block (guest registers stay in host
        registers across iterations; the budget is still charged and checked each time)."""
        if target == self.start_pc and not self.single_step and not self.debug:
            e = self.e
            again, leave = e.label("again"), e.label("leave")
            budget = e.env_load(OFFSET["BUDGET"])
            e.cbr(e.icmp("sgt", budget, e.c(I64, 0)), again, leave)
            e.start(again)
            e.env_store(OFFSET["BUDGET"], e.sub(budget, e.c(I64, self.index + 1)))
            e.br("I0")
            e.start(leave)
        if self.system and ((target ^ self.start_pc) >> 12 or self.debug):
            # another page may map elsewhere by the time this runs: look it up each time
            self.e.br(self.exit_label(exits.LOOKUP, target & 0xFFFFFFFFFFFFFFFF, self.index + 1))
            return
        slot = f"slot_{self.e.name}_{len(self.slots)}"
        self.slots[slot] = target & 0xFFFFFFFFFFFFFFFF
        self.e.br(self.exit_label(exits.LINK, target, self.index + 1, slot=slot))

    def goto_cond(self, cond: Value, target: int, fallthrough: int):
        e = self.e
        taken, not_taken = e.label("tk"), e.label("nt")
        e.cbr(cond, taken, not_taken)
        e.start(taken)
        self.goto(target)
        e.start(not_taken)
        self.goto(fallthrough)

    def goto_indirect(self, target: Value):
        self.e.br(self.exit_label(exits.LOOKUP, target, self.index + 1))

    def undefined(self):
        self.exit(exits.UNDEFINED, info=self.word)

    # -- block assembly -------------------------------------------------------------------
    def finish(self, ninsns: int) -> str:
        e = self.e
        lines = []
        phis_code, phis_pc, phis_gb = [], [], []
        for site in self.exits:
            lines.append(f"{site.label}:")
            if site.info is not None:
                info = site.info if isinstance(site.info, Value) else e.c(I64, site.info)
                lines.append(f"  %{site.label}_ip = getelementptr i64, i64* %env, i64 {OFFSET['EXIT_INFO']}")
                lines.append(f"  store i64 {info.ref}, i64* %{site.label}_ip, align 8")
            if site.info2 is not None:
                lines.append(f"  %{site.label}_ip2 = getelementptr i64, i64* %env, i64 {OFFSET['EXIT_INFO2']}")
                lines.append(f"  store i64 {site.info2}, i64* %{site.label}_ip2, align 8")
            if site.slot:
                # the chain slot's address goes through env, not a phi: a global's address
                # keeps LLVM's fast instruction selector off every block it flows through
                lines.append(f"  %{site.label}_ls = getelementptr i64, i64* %env, i64 {OFFSET['LINK_SLOT']}")
                lines.append(f"  store i64 ptrtoint (i64* @{site.slot} to i64), i64* %{site.label}_ls")
            lines.append("  br label %epilogue")
            pc = site.pc.ref if isinstance(site.pc, Value) else str(e.c(I64, site.pc).ref)
            phis_code.append(f"[{site.code}, %{site.label}]")
            phis_pc.append(f"[{pc}, %{site.label}]")
            # the prologue charged the whole block: give back what did not complete
            phis_gb.append(f"[{ninsns - site.completed}, %{site.label}]")
        lines.append("epilogue:")
        lines.append(f"  %code = phi i64 {', '.join(phis_code)}")
        lines.append(f"  %npc = phi i64 {', '.join(phis_pc)}")
        if any(ninsns != site.completed for site in self.exits):
            lines += [f"  %gb = phi i64 {', '.join(phis_gb)}",
                      f"  %gbp = getelementptr i64, i64* %env, i64 {OFFSET['BUDGET']}",
                      "  %gbb = load i64, i64* %gbp",
                      "  %gbb2 = add i64 %gbb, %gb",
                      "  store i64 %gbb2, i64* %gbp"]
        lines.extend(e.writeback_lines())
        lines.append(f"  %pcp = getelementptr i64, i64* %env, i64 {OFFSET['PC']}")
        lines.append("  store i64 %npc, i64* %pcp, align 8")
        if self.slots:
            lines += [
                f"  %islink = icmp eq i64 %code, {exits.LINK}",
                "  br i1 %islink, label %chain, label %return",
                "chain:",
                f"  %bp = getelementptr i64, i64* %env, i64 {OFFSET['BUDGET']}",
                "  %b = load i64, i64* %bp",
                "  %bok = icmp sgt i64 %b, 0",
                f"  %lsp = getelementptr i64, i64* %env, i64 {OFFSET['LINK_SLOT']}",
                "  %slot = load i64, i64* %lsp",
                "  %slotp = inttoptr i64 %slot to i64*",
                "  %next = load i64, i64* %slotp",
                "  %linked = icmp ne i64 %next, 0",
                "  %go = and i1 %bok, %linked",
                "  br i1 %go, label %tail, label %askdispatch",
                "tail:",
                "  %nextf = inttoptr i64 %next to i64 (i64*)*",
                "  %r = musttail call i64 %nextf(i64* %env)",
                "  ret i64 %r",
                "askdispatch:",
                "  ret i64 %code",
            ]
        else:
            lines.append("  br label %return")
        lines += ["return:", "  ret i64 %code"]
        for slot in self.slots:
            e.globals.append(f"@{slot} = global i64 0, align 8")
        prologue = [
            f"%budgetp = getelementptr i64, i64* %env, i64 {OFFSET['BUDGET']}",
            "%budget = load i64, i64* %budgetp",
            f"%budget2 = sub i64 %budget, {ninsns}",
            "store i64 %budget2, i64* %budgetp",
        ]
        return e.emit_module("I0", prologue, lines)


PHYS_MASK = ~0xFFF
# the system slow paths' size argument: nbytes | MMU index << MMU_SHIFT | ALIGN_FLAG
MMU_SHIFT = 8
ALIGN_FLAG = 1 << 12
DEBUG_FLAG = 1 << 13


def block_phys(pc: int, ctx: int) -> int:
    """The physical address of a block's code: system-mode contexts carry the physical page
    (blocks are keyed by virtual PC and physical page); in user mode it is the PC."""
    page = ctx & PHYS_MASK
    return page | (pc & 0xFFF) if page else pc


def _bits(ty):
    from .emitter import bits
    return bits(ty)


class Translator:
    def __init__(self, decoder, mem: MemoryModel, fetch):
        """fetch(pc) -> the instruction word at pc, or None if it cannot be fetched."""
        self.decoder = decoder
        self.mem = mem
        self.fetch = fetch
        self.count = 0

    def translate(self, pc: int, ctx: int = 0, single_step: bool = False) -> BlockInfo:
        """Translate the block at pc.  Its IR names the function and its chain slots after
        NAME, for the code cache to replace."""
        self.count += 1
        name = NAME
        t = BlockBuilder(name, self.mem, ctx)
        t.start_pc, t.single_step = pc, single_step
        e = t.e
        e.start("I0")
        start = pc
        n = 0
        while True:
            t.pc, t.index, t.has_store = pc, n, False
            word = self.fetch(block_phys(pc, ctx))
            if word is None:
                t.exit(exits.FAULT, info=pc, info2=exits.ACCESS_EXEC)
                ended = True
            else:
                t.word = word
                hit = self.decoder.decode(word)
                if hit is None:
                    t.undefined()
                    ended = True
                else:
                    row, fields = hit
                    handler = HANDLERS.get(row.sem)
                    if ctx & CTX_FP_TRAP and uses_fp(row):
                        t.exit(exits.EXCEPTION, info=(EC_FP << 26) | IL | ISS_FP_TRAP)
                        ended = True
                    elif handler is None:
                        t.undefined()
                        ended = True
                    else:
                        ended = handler(t, **fields, **row.args) is False
            if t.has_store and not ended:
                cw, nxt = e.label("cw"), e.label("I")
                flag = e._op(f"load i1, i1* {t.pend}", I1)
                e.cbr(flag, cw, nxt)
                e.start(cw)
                t.exit(exits.CODE_WRITE, pc=pc + 4)
                e.start(nxt)
            n += 1
            pc += 4
            if ended:
                break
            if single_step or n >= MAX_INSNS or (pc & 0xFFF) == 0 or t.debug:
                t.goto(pc) if not single_step else t.exit(exits.STEP, pc=pc)
                break
        ir = t.finish(n)
        info = BlockInfo(start, ctx, name, n, pc, ir, dict(t.slots))
        info.cacheable = not e.uncacheable and not single_step
        return info


__all__ = ["Translator", "BlockBuilder", "BlockInfo", "MemoryModel", "I8", "I16", "I32", "I64",
           "I128", "I1"]
