"""Scalar floating point: the FP core's helpers on element 0 of the V registers.

A scalar result is written zero-extended to the whole 128-bit register, as the manual's V[d] = x
of a narrower value does.
"""
from ...cpu import fpu
from ...jit.emitter import I1, I64, I128
from ..bits import vfp_expand_imm
from . import sem
from . import fp_common as fc
from .fp_common import FTYPE_BITS, ITY, fp_abs, fp_binary, fp_compare_nzcv, fp_neg

FP_2SRC = {"add": fpu.OP_ADD, "sub": fpu.OP_SUB, "mul": fpu.OP_MUL, "div": fpu.OP_DIV,
           "max": fpu.OP_MAX, "min": fpu.OP_MIN, "maxnm": fpu.OP_MAXNUM, "minnm": fpu.OP_MINNUM,
           "nmul": fpu.OP_MUL}


def fpr(t, n, N):
    """The low N bits of V[n]."""
    return t.e.trunc(t.Vreg(n), ITY[N])


@sem
def fp_1src(t, ftype, Rn, Rd, op):
    N = FTYPE_BITS[ftype]
    v = fpr(t, Rn, N)
    if op == "abs":
        v = fp_abs(t, v)
    elif op == "neg":
        v = fp_neg(t, v)
    elif op == "sqrt":
        v = fc.fp_unary(t, fpu.OP_SQRT, N, v)
    t.set_Vreg(Rd, v)


@sem
def fp_round(t, ftype, Rn, Rd, rounding, exact):
    N = FTYPE_BITS[ftype]
    t.set_Vreg(Rd, fc.fp_round_int(t, N, fpr(t, Rn, N), rounding, exact))


@sem
def FCVT(t, ftype, opc, Rn, Rd):
    N, M = FTYPE_BITS[ftype], FTYPE_BITS[opc]
    t.set_Vreg(Rd, fc.fp_convert(t, N, M, fpr(t, Rn, N)))


@sem
def fp_2src(t, ftype, Rm, Rn, Rd, op):
    N = FTYPE_BITS[ftype]
    r = fp_binary(t, FP_2SRC[op], N, fpr(t, Rn, N), fpr(t, Rm, N))
    t.set_Vreg(Rd, fp_neg(t, r) if op == "nmul" else r)


@sem
def fp_3src(t, ftype, Rm, Ra, Rn, Rd, neg_addend, neg_product):
    N = FTYPE_BITS[ftype]
    addend, op1 = fpr(t, Ra, N), fpr(t, Rn, N)
    if neg_addend:
        addend = fp_neg(t, addend)
    if neg_product:
        op1 = fp_neg(t, op1)
    t.set_Vreg(Rd, fc.fp_muladd(t, N, addend, op1, fpr(t, Rm, N)))


def _set_nzcv(t, nzcv):
    e = t.e
    t.set_nzcv(*(e.trunc(e.lshr(nzcv, e.c(I64, bit)), I1) for bit in (3, 2, 1, 0)))


@sem
def fp_compare(t, ftype, Rn, zero, signal, Rm=None):
    N = FTYPE_BITS[ftype]
    b = t.e.c(ITY[N], 0) if zero else fpr(t, Rm, N)
    _set_nzcv(t, fp_compare_nzcv(t, N, fpr(t, Rn, N), b, signal))


@sem
def fp_ccmp(t, ftype, Rm, cond, Rn, nzcv, signal):
    """FCCMP/FCCMPE: compare (and raise exceptions) only when the condition holds."""
    e = t.e
    N = FTYPE_BITS[ftype]
    a, b = fpr(t, Rn, N), fpr(t, Rm, N)
    holds = t.condition_holds(cond)
    skip = e.block
    do, join = e.label("fccmp"), e.label("fccmpj")
    e.cbr(holds, do, join)
    e.start(do)
    flags = fp_compare_nzcv(t, N, a, b, signal)
    done = e.block
    e.br(join)
    e.start(join)
    _set_nzcv(t, e._op(f"phi i64 [{flags.ref}, %{done}], [{nzcv}, %{skip}]", I64))


@sem
def FCSEL(t, ftype, Rm, cond, Rn, Rd):
    N = FTYPE_BITS[ftype]
    t.set_Vreg(Rd, t.e.select(t.condition_holds(cond), fpr(t, Rn, N), fpr(t, Rm, N)))


@sem
def fmov_imm(t, ftype, imm8, Rd):
    N = FTYPE_BITS[ftype]
    t.set_Vreg(Rd, t.e.c(ITY[N], vfp_expand_imm(imm8, N)))


@sem
def fmov_gen(t, Rn, Rd, width, to_fp, part):
    e = t.e
    ty = ITY[width]
    if not to_fp:
        v = t.Vreg(Rn)
        if part:
            v = e.lshr(v, e.c(I128, 64))
        t.set_X(Rd, e.trunc(v, ty))
    elif not part:
        t.set_Vreg(Rd, t.X(Rn, width == 64))
    else:
        low = e.and_(t.Vreg(Rd), e.c(I128, (1 << 64) - 1))
        t.set_Vreg(Rd, e.or_(low, e.shl(e.zext(t.X(Rn), I128), e.c(I128, 64))))


@sem
def fp_to_int(t, sf, ftype, Rn, Rd, rounding, unsigned):
    N = FTYPE_BITS[ftype]
    t.set_X(Rd, fc.fp_to_fixed(t, N, fpr(t, Rn, N), 0, unsigned, rounding, 64 if sf else 32))


@sem
def int_to_fp(t, sf, ftype, Rn, Rd, unsigned):
    N = FTYPE_BITS[ftype]
    t.set_Vreg(Rd, fc.fixed_to_fp(t, N, t.X(Rn, sf), 0, unsigned))


@sem
def fp_to_fixed(t, sf, ftype, scale, Rn, Rd, unsigned):
    N = FTYPE_BITS[ftype]
    t.set_X(Rd, fc.fp_to_fixed(t, N, fpr(t, Rn, N), 64 - scale, unsigned, "zero", 64 if sf else 32))


@sem
def fixed_to_fp(t, sf, ftype, scale, Rn, Rd, unsigned):
    N = FTYPE_BITS[ftype]
    t.set_Vreg(Rd, fc.fixed_to_fp(t, N, t.X(Rn, sf), 64 - scale, unsigned))

