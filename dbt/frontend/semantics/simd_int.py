"""AdvSIMD integer data processing: the shared pseudocode (element access, saturation, shifts),
and the small groups -- copy, modified immediate, permute, extract, table lookup.

The larger groups live beside this module: simd_int_3same (three same), simd_int_3diff (three
different, by element), simd_int_2misc (two-register misc, across lanes, scalar pairwise) and
simd_int_shift (shift by immediate).

Registers are handled as LLVM vectors: V[n] (an i128) bitcast to <16 x i8> .. <2 x i64>, or its
low 64 bits for the Q = 0 forms, whose destination's upper half is written as zero.  A scalar
form is a one-lane vector of its element size, so one handler serves both.  Saturation sets
FPSR.QC (bit 27) when any lane saturated.
"""
from ...cpu.state import OFFSET
from ...jit.emitter import I1, I32, I64, I128, Emitter
from ..bits import adv_simd_expand_imm
from ..disasm import lowindex, lowsize
from . import sem

MASK64 = (1 << 64) - 1


# -- element access ---------------------------------------------------------------------------

def ity(bits):
    return f"i{bits}"


def vty(esize, datasize):
    """<datasize/esize x i<esize>>."""
    return Emitter.vec(datasize // esize, ity(esize))


def lanes(v):
    return Emitter.elem(v.ty)[0]


def lane_bits(v):
    return int(Emitter.elem(v.ty)[1][1:])


def vsize(Q, esize, scalar):
    """The operand size: one element for the scalar forms, 64 or 128 bits for vectors."""
    return esize if scalar else 64 << Q


def vread(t, n, esize, datasize=128, part=0):
    """V[n], or Vpart[n, part] of datasize bits, as a vector of esize-bit lanes."""
    e = t.e
    v = t.Vreg(n)
    if part:
        v = e.lshr(v, e.c(I128, part * datasize))
    return e.bitcast(e.trunc(v, ity(datasize)), vty(esize, datasize))


def vwrite(t, d, v):
    """V[d] = v, zero-extended to 128 bits."""
    t.set_Vreg(d, v)


def vwrite_part(t, d, v, part):
    """Vpart[d, part] = v (64 bits): part 0 clears the upper half, part 1 keeps the lower."""
    e = t.e
    v = e.bitcast(v, I64)
    if part:
        lo = e.and_(t.Vreg(d), e.c(I128, MASK64))
        v = e.or_(lo, e.shl(e.zext(v, I128), e.c(I128, 64)))
    t.set_Vreg(d, v)


def const(t, like, value):
    """A constant with every lane `value`, of like's type."""
    return t.e.splat(like.ty, value)


def retype(v, bits):
    """The type of v with its lanes `bits` wide."""
    return Emitter.vec(lanes(v), ity(bits))


def widen(t, v, signed, bits=None):
    """Each lane sign- or zero-extended to `bits` (twice its size by default)."""
    ty = retype(v, bits or 2 * lane_bits(v))
    return t.e.sext(v, ty) if signed else t.e.zext(v, ty)


def narrow(t, v, bits):
    return t.e.trunc(v, retype(v, bits))


def lane_mask(t, m, like):
    """An <n x i1> condition as lanes of all ones / zeros."""
    return t.e.sext(m, like.ty)


def intr(t, name, *args):
    """llvm.<name> overloaded on its first argument's type, returning that type."""
    ty = args[0].ty
    return t.e.intrinsic(f"llvm.{name}.{Emitter.mangle(ty)}", ty, *args)


def halves(t, a, b):
    """(even lanes, odd lanes) of the concatenation b:a -- the operand pairs of the pairwise
    instructions."""
    e = t.e
    n = lanes(a)
    return e.shuffle(a, b, range(0, 2 * n, 2)), e.shuffle(a, b, range(1, 2 * n, 2))


# -- saturation -------------------------------------------------------------------------------

def set_qc(t, *sats):
    """FPSR.QC = 1 if any lane of any of the <n x i1> masks is set."""
    e = t.e
    any_ = None
    for s in sats:
        if s.ty != I1:
            s = e.reduce("or", s)
        any_ = s if any_ is None else e.or_(any_, s)
    fpsr = e.env_load(OFFSET["FPSR"])
    e.env_store(OFFSET["FPSR"], e.or_(fpsr, e.shl(e.zext(any_, I64), e.c(I64, 27))))


def saturate(t, v, esize, signed_out, signed_in=None):
    """SatQ(): the wide lanes of v clamped to esize bits, signed or unsigned.  signed_in says
    whether v's lanes are read as signed (the default: as signed_out).  Returns (result,
    <n x i1> saturated)."""
    e = t.e
    if signed_in is None:
        signed_in = signed_out
    if signed_out:
        c = intr(t, "smin", intr(t, "smax", v, const(t, v, -(1 << (esize - 1)))),
                 const(t, v, (1 << (esize - 1)) - 1))
    elif signed_in:
        c = intr(t, "smin", intr(t, "smax", v, const(t, v, 0)), const(t, v, (1 << esize) - 1))
    else:
        c = intr(t, "umin", v, const(t, v, (1 << esize) - 1))
    return narrow(t, c, esize), e.vicmp("ne", c, v)


def saturating(t, name, a, b):
    """SQADD/UQADD/SQSUB/UQSUB: llvm.{s,u}{add,sub}.sat, QC where it differs from the wrapped
    result (it always does when it saturates)."""
    e = t.e
    r = intr(t, name, a, b)
    wrapped = e.add(a, b) if "add" in name else e.sub(a, b)
    set_qc(t, e.vicmp("ne", r, wrapped))
    return r


# -- shifts -----------------------------------------------------------------------------------

def shr_const(t, x, shift, signed, rounding=False):
    """x >> shift for a constant 1 <= shift <= esize, exact as on unbounded integers; rounding
    adds 1 << (shift - 1) first, as (x >> shift) + x<shift-1> (no overflow)."""
    e = t.e
    esize = lane_bits(x)
    if shift >= esize:
        r = e.ashr(x, const(t, x, esize - 1)) if signed else const(t, x, 0)
    else:
        r = (e.ashr if signed else e.lshr)(x, const(t, x, shift))
    if rounding:
        r = e.add(r, e.and_(e.lshr(x, const(t, x, shift - 1)), const(t, x, 1)))
    return r


def shift_by_reg(t, x, amounts, signed, rounding, saturating_):
    """The SSHL family: each lane of x shifted by the signed low byte of the same lane of
    amounts, left when positive.  Computed without loss in lanes of twice the size, with the
    amount clamped where the result no longer changes (left esize, right esize + 1)."""
    e = t.e
    esize = lane_bits(x)
    xw = widen(t, x, signed)
    amt = e.sext(narrow(t, amounts, 8), xw.ty)
    left_amt = intr(t, "umin", amt, const(t, xw, esize))
    right_amt = intr(t, "umin", e.neg(amt), const(t, xw, esize + 1))
    left = e.shl(xw, left_amt)
    if rounding:
        one = const(t, xw, 1)
        xr = e.add(xw, e.lshr(e.shl(one, right_amt), one))       # 1 << (shift - 1)
    else:
        xr = xw
    right = (e.ashr if signed else e.lshr)(xr, right_amt)
    r = e.vselect(e.vicmp("sge", amt, const(t, amt, 0)), left, right)
    if not saturating_:
        return narrow(t, r, esize)
    res, sat = saturate(t, r, esize, signed)
    set_qc(t, sat)
    return res


# -- copy -------------------------------------------------------------------------------------

@sem
def simd_dup_element(t, imm5, Rn, Rd, scalar, Q=0):
    """DUP (element), and its scalar form (MOV scalar)."""
    e = t.e
    esize = 8 << lowsize(imm5)
    elem = e.extract(vread(t, Rn, esize), lowindex(imm5))
    vwrite(t, Rd, e.splat_value(elem, vsize(Q, esize, scalar) // esize))


@sem
def DUP_general(t, Q, imm5, Rn, Rd):
    e = t.e
    esize = 8 << lowsize(imm5)
    x = e.trunc(t.X(Rn), ity(esize))
    vwrite(t, Rd, e.splat_value(x, (64 << Q) // esize))


@sem
def SMOV(t, Q, imm5, Rn, Rd):
    e = t.e
    esize = 8 << lowsize(imm5)
    elem = e.extract(vread(t, Rn, esize), lowindex(imm5))
    t.set_X(Rd, e.sext(elem, I64 if Q else I32))


@sem
def UMOV(t, Q, imm5, Rn, Rd):
    e = t.e
    esize = 8 << lowsize(imm5)
    t.set_X(Rd, e.extract(vread(t, Rn, esize), lowindex(imm5)))


@sem
def INS_general(t, imm5, Rn, Rd):
    e = t.e
    esize = 8 << lowsize(imm5)
    x = e.trunc(t.X(Rn), ity(esize))
    vwrite(t, Rd, e.insert(vread(t, Rd, esize), x, lowindex(imm5)))


@sem
def INS_element(t, imm5, imm4, Rn, Rd):
    e = t.e
    size = lowsize(imm5)
    esize = 8 << size
    elem = e.extract(vread(t, Rn, esize), imm4 >> size)
    vwrite(t, Rd, e.insert(vread(t, Rd, esize), elem, lowindex(imm5)))


# -- modified immediate -----------------------------------------------------------------------

@sem
def simd_modimm_int(t, Q, abc, cmode, defgh, Rd, op, opbit):
    """MOVI, MVNI, ORR and BIC (vector, immediate); FMOV (vector, immediate) is the FP rows'."""
    e = t.e
    imm = adv_simd_expand_imm(opbit, cmode, (abc << 5) | defgh)
    if op in ("mvni", "bic"):
        imm ^= MASK64
    ty = I128 if Q else I64
    if Q:
        imm |= imm << 64
    if op in ("movi", "mvni"):
        res = e.c(ty, imm)
    else:
        d = e.trunc(t.Vreg(Rd), ty)
        res = e.or_(d, e.c(ty, imm)) if op == "orr" else e.and_(d, e.c(ty, imm))
    t.set_Vreg(Rd, res)


# -- permute, extract, table lookup -----------------------------------------------------------

@sem
def simd_permute(t, Q, size, Rm, Rn, Rd, op):
    """UZP1/UZP2, TRN1/TRN2, ZIP1/ZIP2 as shuffles of Vn (lanes 0..n-1) and Vm (n..2n-1)."""
    e = t.e
    esize = 8 << size
    a, b = vread(t, Rn, esize, 64 << Q), vread(t, Rm, esize, 64 << Q)
    n = lanes(a)
    part = int(op[-1]) - 1
    if op.startswith("uzp"):
        mask = [2 * i + part for i in range(n)]
    elif op.startswith("trn"):
        mask = [(i & ~1) + part + (n if i & 1 else 0) for i in range(n)]
    else:
        mask = [part * n // 2 + i // 2 + (n if i & 1 else 0) for i in range(n)]
    vwrite(t, Rd, e.shuffle(a, b, mask))


@sem
def EXT(t, Q, Rm, imm4, Rn, Rd):
    e = t.e
    a, b = vread(t, Rn, 8, 64 << Q), vread(t, Rm, 8, 64 << Q)
    vwrite(t, Rd, e.shuffle(a, b, range(imm4, imm4 + lanes(a))))


def _table(t, first, count):
    """The bytes of V[first] .. V[first + count - 1] (numbers wrapping) as one vector, padded
    to a power-of-two number of registers."""
    e = t.e
    regs = [vread(t, (first + i) % 32, 8) for i in range(count)]
    while len(regs) & (len(regs) - 1):
        regs.append(regs[-1])
    while len(regs) > 1:
        regs = [e.shuffle(regs[i], regs[i + 1], range(2 * lanes(regs[i])))
                for i in range(0, len(regs), 2)]
    return regs[0]


@sem
def simd_table(t, Q, Rm, len, Rn, Rd, op):  # noqa: A002  (the manual's field name)
    """TBL/TBX: bytes of the table Vn..Vn+len picked by the bytes of Vm; an index beyond the
    table gives 0 (TBL) or leaves the byte of Vd (TBX)."""
    e = t.e
    table = _table(t, Rn, len + 1)
    idx = vread(t, Rm, 8, 64 << Q)
    wrapped = e.and_(idx, const(t, idx, lanes(table) - 1))
    picked = const(t, idx, 0)
    for i in range(lanes(idx)):
        picked = e.insert(picked, e.extract_dyn(table, e.extract(wrapped, i)), i)
    other = vread(t, Rd, 8, 64 << Q) if op == "tbx" else const(t, idx, 0)
    inside = e.vicmp("ult", idx, const(t, idx, 16 * (len + 1)))
    vwrite(t, Rd, e.vselect(inside, picked, other))

