"""The small IR the semantics are written against, emitted directly as LLVM IR text.

An Emitter builds one block function `i64 @name(i64* %env)`.  Values are typed SSA names.
Guest registers live in allocas for the length of the block: loaded once on entry, written back
once on exit, so LLVM's SROA turns them into SSA values (the get/set elimination of dynarmic's
IR, done by LLVM).  Memory accesses inline the soft-TLB hit path and call a Numba slow path.
"""
from __future__ import annotations

from ..cpu.state import OFFSET, TLB_ENTRIES

I1, I8, I16, I32, I64, I128 = "i1", "i8", "i16", "i32", "i64", "i128"
INT_BITS = {I1: 1, I8: 8, I16: 16, I32: 32, I64: 64, I128: 128}
INT_OF_BYTES = {1: I8, 2: I16, 4: I32, 8: I64, 16: I128}
# 64-bit lanes widened for exact arithmetic.  The x86 back end aborts on some operations of
# this one-lane type (add(zext x, sext x) becomes a v1i128 shift it cannot scalarize), so
# the Emitter does its arithmetic on the scalar i128 and keeps the vector type at the edges.
V1I128 = "<1 x i128>"


class Value:
    __slots__ = ("ref", "ty")

    def __init__(self, ref: str, ty: str):
        self.ref = ref
        self.ty = ty

    def __repr__(self):
        return f"{self.ty} {self.ref}"


def bits(ty: str) -> int:
    if ty in INT_BITS:
        return INT_BITS[ty]
    if ty == "float":
        return 32
    if ty == "double":
        return 64
    if ty == "half":
        return 16
    if ty.startswith("<"):
        n, elt = ty[1:-1].split(" x ")
        return int(n) * bits(elt)
    raise ValueError(ty)


class Emitter:
    def __init__(self, name: str):
        self.name = name
        self.lines: list[str] = []
        self.decls: dict[str, str] = {}
        self.globals: list[str] = []
        self.counter = 0
        self.slots: dict[tuple, str] = {}       # (offset, ty) -> alloca name
        self.written: set[tuple] = set()
        self.locals: list[tuple] = []           # (name, ty, initial value) block-local allocas
        self.uncacheable = False
        self.block = None

    # -- names, constants, blocks ---------------------------------------------------------
    def tmp(self) -> str:
        self.counter += 1
        return f"%t{self.counter}"

    def label(self, hint: str = "L") -> str:
        self.counter += 1
        return f"{hint}{self.counter}"

    def emit(self, text: str):
        self.lines.append("  " + text)

    def start(self, label: str):
        self.lines.append(f"{label}:")
        self.block = label

    def br(self, label: str):
        self.emit(f"br label %{label}")

    def cbr(self, cond: Value, t: str, f: str):
        self.emit(f"br i1 {cond.ref}, label %{t}, label %{f}")

    @staticmethod
    def c(ty: str, v: int) -> Value:
        if ty == I1:
            return Value("true" if v else "false", I1)
        b = INT_BITS[ty]
        v &= (1 << b) - 1
        if v >> (b - 1):
            v -= 1 << b
        return Value(str(v), ty)

    def _op(self, text: str, ty: str) -> Value:
        r = self.tmp()
        self.emit(f"{r} = {text}")
        return Value(r, ty)

    # -- integer arithmetic ---------------------------------------------------------------
    def binop(self, op: str, a: Value, b: Value) -> Value:
        """Any LLVM binary operator (add, fadd, shl, ...), on scalars or vectors."""
        assert a.ty == b.ty, (op, a, b)
        if a.ty == V1I128:
            return self._one_lane(self.binop(op, self._lane(a), self._lane(b)))
        return self._op(f"{op} {a.ty} {a.ref}, {b.ref}", a.ty)

    def _lane(self, v: Value) -> Value:
        """The scalar of a one-lane vector (see V1I128)."""
        n, elt = self.elem(v.ty)
        assert n == 1, v
        return self._op(f"bitcast {v.ty} {v.ref} to {elt}", elt)

    def _one_lane(self, v: Value) -> Value:
        ty = self.vec(1, v.ty)
        if v.ty == I1:
            return self._op(f"insertelement {ty} undef, i1 {v.ref}, i32 0", ty)
        return self._op(f"bitcast {v.ty} {v.ref} to {ty}", ty)

    def add(self, a, b): return self.binop("add", a, b)
    def sub(self, a, b): return self.binop("sub", a, b)
    def mul(self, a, b): return self.binop("mul", a, b)
    def and_(self, a, b): return self.binop("and", a, b)
    def or_(self, a, b): return self.binop("or", a, b)
    def xor(self, a, b): return self.binop("xor", a, b)
    def shl(self, a, b): return self.binop("shl", a, b)
    def lshr(self, a, b): return self.binop("lshr", a, b)
    def ashr(self, a, b): return self.binop("ashr", a, b)
    def udiv(self, a, b): return self.binop("udiv", a, b)
    def sdiv(self, a, b): return self.binop("sdiv", a, b)

    def not_(self, a: Value) -> Value:
        if a.ty.startswith("<"):
            return self.xor(a, self.splat(a.ty, -1))
        return self.xor(a, self.c(a.ty, -1))

    def neg(self, a: Value) -> Value:
        if a.ty.startswith("<"):
            return self.sub(self.splat(a.ty, 0), a)
        return self.sub(self.c(a.ty, 0), a)

    def icmp(self, pred: str, a: Value, b: Value) -> Value:
        assert a.ty == b.ty, (pred, a, b)
        return self._op(f"icmp {pred} {a.ty} {a.ref}, {b.ref}", I1)

    def select(self, c: Value, a: Value, b: Value) -> Value:
        assert a.ty == b.ty
        return self._op(f"select i1 {c.ref}, {a.ty} {a.ref}, {b.ty} {b.ref}", a.ty)

    def zext(self, v: Value, ty: str) -> Value:
        return self.cast("zext", v, ty)

    def sext(self, v: Value, ty: str) -> Value:
        return self.cast("sext", v, ty)

    def trunc(self, v: Value, ty: str) -> Value:
        return self.cast("trunc", v, ty)

    def resize(self, v: Value, ty: str, signed: bool = False) -> Value:
        """Integer v to type ty: truncate, or zero/sign extend."""
        if bits(v.ty) > bits(ty):
            return self.trunc(v, ty)
        return self.sext(v, ty) if signed else self.zext(v, ty)

    def bitcast(self, v: Value, ty: str) -> Value:
        if v.ty == ty:
            return v
        return self._op(f"bitcast {v.ty} {v.ref} to {ty}", ty)

    def intrinsic(self, name: str, ret: str, *args: Value) -> Value:
        """Call an LLVM intrinsic, e.g. intrinsic("llvm.ctlz.i64", I64, v, false)."""
        if ret == V1I128 and name.endswith(".v1i128"):
            lanes = [self._lane(a) if a.ty == V1I128 else a for a in args]
            return self._one_lane(self.intrinsic(name[:-len("v1i128")] + I128, I128, *lanes))
        self.decls[name] = f"declare {ret} @{name}({', '.join(a.ty for a in args)})"
        return self._op(f"call {ret} @{name}({', '.join(repr(a) for a in args)})", ret)

    def extractvalue(self, agg: Value, idx: int, ty: str) -> Value:
        return self._op(f"extractvalue {agg.ty} {agg.ref}, {idx}", ty)

    def call_native(self, fn, ret: str, *args: Value) -> Value | None:
        """Call a native helper (a Numba cfunc) through the env's helper table (see
        symbols.py)."""
        from .symbols import native
        fnty = f"{ret} ({', '.join(a.ty for a in args)})"
        addr = self.env_load(OFFSET["HELPERS"] + native(fn))
        callee = self.tmp()
        self.emit(f"{callee} = inttoptr i64 {addr.ref} to {fnty}*")
        text = f"call {ret} {callee}({', '.join(repr(a) for a in args)})"
        if ret == "void":
            self.emit(text)
            return None
        return self._op(text, ret)

    def call_addr(self, addr: int, ret: str, *args: Value) -> Value | None:
        """Call native code by raw address.  The block then cannot be kept in the on-disk
        cache (the address is only valid in this process): prefer call_native."""
        self.uncacheable = True
        fnty = f"{ret} ({', '.join(a.ty for a in args)})"
        callee = f"inttoptr (i64 {addr} to {fnty}*)"
        text = f"call {fnty} {callee}({', '.join(repr(a) for a in args)})"
        if ret == "void":
            self.emit(text)
            return None
        return self._op(text, ret)

    # -- vectors and floating point --------------------------------------------------------
    @staticmethod
    def vec(n: int, elt: str) -> str:
        """The LLVM vector type of n elements: vec(4, I32) == '<4 x i32>'."""
        return f"<{n} x {elt}>"

    @staticmethod
    def elem(ty: str) -> tuple[int, str]:
        n, elt = ty[1:-1].split(" x ")
        return int(n), elt

    def splat(self, ty: str, v: int) -> Value:
        """A constant vector with every integer lane v."""
        n, elt = self.elem(ty)
        c = self.c(elt, v).ref
        return Value("<" + ", ".join(f"{elt} {c}" for _ in range(n)) + ">", ty)

    def const_vec(self, ty: str, values) -> Value:
        n, elt = self.elem(ty)
        values = list(values)
        assert len(values) == n
        return Value("<" + ", ".join(f"{elt} {self.c(elt, v).ref}" for v in values) + ">", ty)

    def splat_value(self, v: Value, n: int) -> Value:
        """Broadcast a scalar Value to every lane of an n-lane vector."""
        ty = self.vec(n, v.ty)
        one = self._op(f"insertelement {ty} undef, {v.ty} {v.ref}, i32 0", ty)
        return self._op(f"shufflevector {ty} {one.ref}, {ty} undef, <{n} x i32> zeroinitializer", ty)

    def extract(self, vec: Value, idx: int) -> Value:
        _, elt = self.elem(vec.ty)
        return self._op(f"extractelement {vec.ty} {vec.ref}, i32 {idx}", elt)

    def insert(self, vec: Value, v: Value, idx: int) -> Value:
        return self._op(f"insertelement {vec.ty} {vec.ref}, {v.ty} {v.ref}, i32 {idx}", vec.ty)

    def shuffle(self, a: Value, b: Value, mask) -> Value:
        """shufflevector: lanes of a are 0..n-1, lanes of b are n..2n-1."""
        _, elt = self.elem(a.ty)
        mask = list(mask)
        ty = self.vec(len(mask), elt)
        m = "<" + ", ".join(f"i32 {i}" for i in mask) + ">"
        return self._op(f"shufflevector {a.ty} {a.ref}, {b.ty} {b.ref}, <{len(mask)} x i32> {m}", ty)

    def cast(self, op: str, v: Value, ty: str) -> Value:
        """Any LLVM cast: zext, sext, trunc, fptrunc, fpext, fptosi, fptoui, sitofp, uitofp,
        bitcast, on scalars or vectors."""
        if v.ty == ty and op in ("bitcast", "zext", "sext", "trunc"):
            return v
        if V1I128 in (v.ty, ty) and op != "bitcast":
            return self._one_lane(self.cast(op, self._lane(v), self.elem(ty)[1]))
        return self._op(f"{op} {v.ty} {v.ref} to {ty}", ty)

    def fcmp(self, pred: str, a: Value, b: Value) -> Value:
        ty = I1 if not a.ty.startswith("<") else self.vec(self.elem(a.ty)[0], I1)
        return self._op(f"fcmp {pred} {a.ty} {a.ref}, {b.ref}", ty)

    def vicmp(self, pred: str, a: Value, b: Value) -> Value:
        """Lane-wise integer compare of two vectors: an <n x i1> mask."""
        n, _ = self.elem(a.ty)
        if a.ty == V1I128:
            return self._one_lane(self.icmp(pred, self._lane(a), self._lane(b)))
        return self._op(f"icmp {pred} {a.ty} {a.ref}, {b.ref}", self.vec(n, I1))

    def vselect(self, mask: Value, a: Value, b: Value) -> Value:
        if a.ty == V1I128:
            m = self.extract(mask, 0)
            return self._one_lane(self.select(m, self._lane(a), self._lane(b)))
        return self._op(f"select {mask.ty} {mask.ref}, {a.ty} {a.ref}, {b.ty} {b.ref}", a.ty)

    def reduce(self, op: str, v: Value) -> Value:
        """llvm.vector.reduce.<op> (add, mul, and, or, xor, smax, smin, umax, umin)."""
        n, elt = self.elem(v.ty)
        return self.intrinsic(f"llvm.vector.reduce.{op}.v{n}{elt}", elt, v)

    @staticmethod
    def mangle(ty: str) -> str:
        """The intrinsic-name suffix of a type: i32, v4i32, f64, v2f64."""
        short = {"float": "f32", "double": "f64", "half": "f16"}
        if ty.startswith("<"):
            n, elt = ty[1:-1].split(" x ")
            return f"v{n}{short.get(elt, elt)}"
        return short.get(ty, ty)

    # -- env (vCPU state) access ----------------------------------------------------------
    def env_ptr(self, offset: int, ty: str = I64) -> str:
        p = self.tmp()
        self.emit(f"{p} = getelementptr i64, i64* %env, i64 {offset}")
        if ty == I64:
            return p
        q = self.tmp()
        self.emit(f"{q} = bitcast i64* {p} to {ty}*")
        return q

    def env_load(self, offset: int, ty: str = I64) -> Value:
        p = self.env_ptr(offset, ty)
        return self._op(f"load {ty}, {ty}* {p}, align 8", ty)

    def env_store(self, offset: int, v: Value):
        p = self.env_ptr(offset, v.ty)
        self.emit(f"store {v.ty} {v.ref}, {v.ty}* {p}, align 8")

    def _slot(self, offset: int, ty: str) -> str:
        key = (offset, ty)
        name = self.slots.get(key)
        if name is None:
            name = self.slots[key] = f"%s{offset}_{ty.replace(' ', '')}"
        return name

    def local(self, ty: str, init: str) -> str:
        """A block-local variable (an alloca initialised on entry)."""
        name = f"%l{len(self.locals)}"
        self.locals.append((name, ty, init))
        return name

    def get(self, offset: int, ty: str = I64) -> Value:
        """Read a register held in an alloca for the whole block."""
        return self._op(f"load {ty}, {ty}* {self._slot(offset, ty)}", ty)

    def set(self, offset: int, v: Value):
        name = self._slot(offset, v.ty)
        self.written.add((offset, v.ty))
        self.emit(f"store {v.ty} {v.ref}, {v.ty}* {name}")

    # -- memory through the soft TLB ------------------------------------------------------
    def tlb_lookup(self, va: Value, nbytes: int, way: str, aligned: bool = False
                   ) -> tuple[Value, Value]:
        """(hit, host address) for an access of nbytes at va through the TLB way named
        "TLB<m>_<kind>"; with `aligned`, an unaligned access misses (the slow path decides
        whether it faults)."""
        page = self.and_(va, self.c(I64, -4096))
        idx = self.and_(self.lshr(va, self.c(I64, 12)), self.c(I64, TLB_ENTRIES - 1))
        tagp = self.tmp()
        self.emit(f"{tagp} = getelementptr i64, i64* %env, i64 {idx.ref}")
        tagp2 = self.tmp()
        self.emit(f"{tagp2} = getelementptr i64, i64* {tagp}, i64 {OFFSET[way]}")
        tag = self._op(f"load i64, i64* {tagp2}, align 8", I64)
        hit = self.icmp("eq", tag, page)
        if nbytes > 1 and aligned:
            hit = self.and_(hit, self.icmp("eq", self.and_(va, self.c(I64, nbytes - 1)),
                                           self.c(I64, 0)))
        elif nbytes > 1:
            inpage = self.icmp("ule", self.and_(va, self.c(I64, 4095)), self.c(I64, 4096 - nbytes))
            hit = self.and_(hit, inpage)
        addp = self.tmp()
        addend = way.rsplit("_", 1)[0] + "_ADDEND"
        self.emit(f"{addp} = getelementptr i64, i64* {tagp}, i64 {OFFSET[addend]}")
        addend = self._op(f"load i64, i64* {addp}, align 8", I64)
        return hit, self.add(addend, va)

    def emit_module(self, body_entry: str, prologue: list[str], epilogue: list[str]) -> str:
        allocas = []
        loads = []
        for (offset, ty), name in self.slots.items():
            allocas.append(f"  {name} = alloca {ty}")
            p = f"%p{name[1:]}"
            if ty == I64:
                loads.append(f"  {p} = getelementptr i64, i64* %env, i64 {offset}")
            else:
                loads.append(f"  {p}a = getelementptr i64, i64* %env, i64 {offset}")
                loads.append(f"  {p} = bitcast i64* {p}a to {ty}*")
            loads.append(f"  %v{name[1:]} = load {ty}, {ty}* {p}, align 8")
            loads.append(f"  store {ty} %v{name[1:]}, {ty}* {name}")
        out = list(self.globals)
        out.extend(self.decls.values())
        out.append(f"define i64 @{self.name}(i64* noalias %env) {{")
        out.append("entry:")
        out.extend(allocas)
        for name, ty, init in self.locals:
            out.append(f"  {name} = alloca {ty}")
            out.append(f"  store {ty} {init}, {ty}* {name}")
        out.extend(loads)
        out.extend("  " + p for p in prologue)
        out.append(f"  br label %{body_entry}")
        out.extend(self.lines)
        out.extend(epilogue)
        out.append("}")
        return "\n".join(out) + "\n"

    def writeback_lines(self) -> list[str]:
        out = []
        for offset, ty in sorted(self.written):
            name = self._slot(offset, ty)
            v = f"%w{name[1:]}"
            p = f"%q{name[1:]}"
            out.append(f"  {v} = load {ty}, {ty}* {name}")
            if ty == I64:
                out.append(f"  {p} = getelementptr i64, i64* %env, i64 {offset}")
            else:
                out.append(f"  {p}a = getelementptr i64, i64* %env, i64 {offset}")
                out.append(f"  {p} = bitcast i64* {p}a to {ty}*")
            out.append(f"  store {ty} {v}, {ty}* {p}, align 8")
        return out

    # -- joins and host-memory access (added with the AdvSIMD structure loads/stores) -------
    @staticmethod
    def undef(ty: str) -> Value:
        return Value("undef", ty)

    def phi(self, ty: str, incoming) -> Value:
        """phi ty [(Value, label), ...]: the value from whichever predecessor block ran."""
        arms = ", ".join(f"[{v.ref}, %{label}]" for v, label in incoming)
        return self._op(f"phi {ty} {arms}", ty)

    def load_host(self, addr: Value, ty: str) -> Value:
        """Load a value of type ty (integer or vector) at a host address (i64), unaligned."""
        p = self._op(f"inttoptr i64 {addr.ref} to {ty}*", ty + "*")
        return self._op(f"load {ty}, {ty}* {p.ref}, align 1", ty)

    def store_host(self, addr: Value, v: Value):
        """Store v (integer or vector) at a host address (i64), unaligned."""
        p = self._op(f"inttoptr i64 {addr.ref} to {v.ty}*", v.ty + "*")
        self.emit(f"store {v.ty} {v.ref}, {v.ty}* {p.ref}, align 1")

    # -- run-time lane indexes and constant tables (added with the AdvSIMD integer semantics) -
    def extract_dyn(self, vec: Value, idx: Value) -> Value:
        """extractelement with a run-time lane index (an integer Value, which must be in range)."""
        _, elt = self.elem(vec.ty)
        return self._op(f"extractelement {vec.ty} {vec.ref}, {idx.ty} {idx.ref}", elt)

    def lookup(self, name: str, elt: str, values, idx: Value) -> Value:
        """Element idx (a run-time integer Value, in range) of a constant table, emitted once per
        module as the private global @name."""
        values = list(values)
        aty = f"[{len(values)} x {elt}]"
        if not any(g.startswith(f"@{name} ") for g in self.globals):
            body = ", ".join(f"{elt} {self.c(elt, v).ref}" for v in values)
            self.globals.append(f"@{name} = private unnamed_addr constant {aty} [{body}], align 8")
        i = self.zext(idx, I64)
        p = self._op(f"getelementptr {aty}, {aty}* @{name}, i64 0, i64 {i.ref}", elt + "*")
        return self._op(f"load {elt}, {elt}* {p.ref}", elt)
