"""Calls into the FP core (dbt.cpu.fpu) from translated code, shared by the scalar (fp.py) and
AdvSIMD (simd_fp.py) semantics.

Operands and results are integers holding the encodings (i16, i32, i64).  Every call passes the
env pointer: the helper reads FPCR and ORs its exceptions into FPSR.  Only operations that are
exact under every FPCR setting are emitted inline: FPNeg and FPAbs are bit operations.
"""
from ...cpu import fpu
from ...jit.emitter import I1, I16, I32, I64, Value

ENV = Value("%env", "i64*")
ITY = {16: I16, 32: I32, 64: I64}
ROUNDING = {None: fpu.FPCR_ROUNDING, "tieeven": fpu.TIEEVEN, "posinf": fpu.POSINF,
            "neginf": fpu.NEGINF, "zero": fpu.ZERO, "tieaway": fpu.TIEAWAY}
FTYPE_BITS = {0: 32, 1: 64, 3: 16}


def _arg(e, v):
    if isinstance(v, int):
        return e.c(I64, v)
    return e.zext(v, I64)


def call(t, helper, *args) -> Value:
    """helper(env, *args) -> i64; int arguments become constants, narrower ones are
    zero-extended."""
    e = t.e
    return e.call_native(helper, I64, ENV, *(_arg(e, a) for a in args))


def fp_binary(t, op, N, a, b):
    """fpu.OP_ADD .. OP_RSQRTS: the N-bit result."""
    return t.e.trunc(call(t, fpu.fp_binary, op, N, a, b), ITY[N])


def fp_compare_mask(t, kind, N, a, b):
    """FPCompareEQ/GE/GT (fpu.OP_CMEQ/CMGE/CMGT) as an N-bit lane of ones or zeros."""
    e = t.e
    r = e.trunc(call(t, fpu.fp_binary, kind, N, a, b), I1)
    return e.sext(r, ITY[N])


def fp_compare_nzcv(t, N, a, b, signal):
    """FPCompare: the NZCV nibble as an i64."""
    return call(t, fpu.fp_binary, fpu.OP_CMPE if signal else fpu.OP_CMP, N, a, b)


def fp_muladd(t, N, addend, a, b):
    return t.e.trunc(call(t, fpu.fp_muladd, N, addend, a, b), ITY[N])


def fp_unary(t, op, N, a):
    """fpu.OP_SQRT, OP_RECPE, OP_RSQRTE, OP_RECPX."""
    return t.e.trunc(call(t, fpu.fp_unary, op, N, a), ITY[N])


def fp_round_int(t, N, a, rounding, exact):
    return t.e.trunc(call(t, fpu.fp_round_int, N, a, ROUNDING[rounding], exact), ITY[N])


def fp_convert(t, N, M, a, rounding=fpu.FPCR_ROUNDING):
    """FPConvert of an N-bit encoding to M bits."""
    return t.e.trunc(call(t, fpu.fp_convert, N, M, a, rounding), ITY[M])


def fp_to_fixed(t, N, a, fbits, unsigned, rounding, M):
    """FPToFixed: the M-bit integer."""
    return t.e.trunc(call(t, fpu.fp_to_fixed, N, a, fbits, unsigned, ROUNDING[rounding], M),
                     ITY[M])


def fixed_to_fp(t, N, x, fbits, unsigned):
    """FixedToFP of an integer Value of any width, read as unsigned or signed."""
    e = t.e
    x = e.zext(x, I64) if unsigned else e.sext(x, I64)
    return e.trunc(call(t, fpu.fixed_to_fp, N, x, fbits, unsigned), ITY[N])


def fp_neg(t, v):
    e = t.e
    return e.xor(v, e.c(v.ty, 1 << (int(v.ty[1:]) - 1)))


def fp_abs(t, v):
    e = t.e
    return e.and_(v, e.c(v.ty, (1 << (int(v.ty[1:]) - 1)) - 1))
