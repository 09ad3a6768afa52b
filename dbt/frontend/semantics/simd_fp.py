"""AdvSIMD floating point: vector and scalar FP arithmetic, compares, conversions, estimates,
pairwise and across-lanes operations, by-element forms and FMOV (vector, immediate).

Each element goes through the FP core (dbt.cpu.fpu) on its own, in element order, so the
exceptions of all elements accumulate in FPSR as the manual's loops do.  Elements are read from
and written to the 128-bit V registers as integers; a 64-bit vector (Q = 0) or a scalar form
writes zeros above its result.
"""
from ...cpu import fpu
from ...jit.emitter import I64, I128
from ..bits import adv_simd_expand_imm
from . import sem
from . import fp_common as fc
from .fp_common import ITY, fp_abs, fp_binary, fp_compare_mask, fp_neg

ARITH = {"fadd": fpu.OP_ADD, "fsub": fpu.OP_SUB, "fmul": fpu.OP_MUL, "fdiv": fpu.OP_DIV,
         "fmax": fpu.OP_MAX, "fmin": fpu.OP_MIN, "fmaxnm": fpu.OP_MAXNUM,
         "fminnm": fpu.OP_MINNUM, "fmulx": fpu.OP_MULX, "frecps": fpu.OP_RECPS,
         "frsqrts": fpu.OP_RSQRTS}
PAIRWISE = {"faddp": fpu.OP_ADD, "fmaxp": fpu.OP_MAX, "fminp": fpu.OP_MIN,
            "fmaxnmp": fpu.OP_MAXNUM, "fminnmp": fpu.OP_MINNUM}
ACROSS = {"fmaxv": fpu.OP_MAX, "fminv": fpu.OP_MIN, "fmaxnmv": fpu.OP_MAXNUM,
          "fminnmv": fpu.OP_MINNUM}
# name: (comparison, absolute values)
COMPARE = {"fcmeq": (fpu.OP_CMEQ, False), "fcmge": (fpu.OP_CMGE, False),
           "fcmgt": (fpu.OP_CMGT, False), "facge": (fpu.OP_CMGE, True),
           "facgt": (fpu.OP_CMGT, True)}
# against zero: name -> (comparison, zero is the first operand)
COMPARE_ZERO = {"fcmeq": (fpu.OP_CMEQ, False), "fcmge": (fpu.OP_CMGE, False),
                "fcmgt": (fpu.OP_CMGT, False), "fcmle": (fpu.OP_CMGE, True),
                "fcmlt": (fpu.OP_CMGT, True)}
ESTIMATE = {"fsqrt": fpu.OP_SQRT, "frecpe": fpu.OP_RECPE, "frsqrte": fpu.OP_RSQRTE,
            "frecpx": fpu.OP_RECPX}


# -- elements --------------------------------------------------------------------------------

def count(Q, esize, scalar):
    """Elements of an operand: one for the scalar forms, else 64 or 128 bits' worth."""
    return 1 if scalar else (64 << Q) // esize


def elements(t, n, esize, how_many, part=0):
    """Elem[V[n], 0 .. how_many-1, esize] as integers, starting at bit 64 * part."""
    e = t.e
    v = t.Vreg(n)
    out = []
    for i in range(how_many):
        shift = 64 * part + esize * i
        out.append(e.trunc(e.lshr(v, e.c(I128, shift)) if shift else v, ITY[esize]))
    return out


def pack(t, values, esize):
    """The elements side by side in an i128, zeros above."""
    e = t.e
    acc = e.c(I128, 0)
    for i, v in enumerate(values):
        x = e.zext(v, I128)
        acc = e.or_(acc, e.shl(x, e.c(I128, esize * i)) if i else x)
    return acc


def write(t, d, values, esize):
    t.set_Vreg(d, pack(t, values, esize))


def write_part(t, d, values, esize, part):
    """Vpart[d, part] = the 64 bits of values: part 0 clears the upper half, part 1 keeps the
    lower half."""
    e = t.e
    v = pack(t, values, esize)
    if part:
        low = e.and_(t.Vreg(d), e.c(I128, (1 << 64) - 1))
        v = e.or_(low, e.shl(v, e.c(I128, 64)))
    t.set_Vreg(d, v)


def ext_i64(t, v, unsigned):
    return t.e.zext(v, I64) if unsigned else t.e.sext(v, I64)


# -- three same ------------------------------------------------------------------------------

@sem
def simd_3same_fp(t, sz, Rm, Rn, Rd, op, scalar, Q=0):
    esize = 32 << sz
    n = count(Q, esize, scalar)
    a = elements(t, Rn, esize, n)
    b = elements(t, Rm, esize, n)
    if op in PAIRWISE:
        cat = a + b
        res = [fp_binary(t, PAIRWISE[op], esize, cat[2 * i], cat[2 * i + 1]) for i in range(n)]
    elif op in ("fmla", "fmls"):
        acc = elements(t, Rd, esize, n)
        res = [fc.fp_muladd(t, esize, acc[i], fp_neg(t, a[i]) if op == "fmls" else a[i], b[i])
               for i in range(n)]
    elif op == "fabd":
        res = [fp_abs(t, fp_binary(t, fpu.OP_SUB, esize, a[i], b[i])) for i in range(n)]
    elif op in COMPARE:
        kind, absolute = COMPARE[op]
        if absolute:
            a = [fp_abs(t, x) for x in a]
            b = [fp_abs(t, x) for x in b]
        res = [fp_compare_mask(t, kind, esize, a[i], b[i]) for i in range(n)]
    else:
        res = [fp_binary(t, ARITH[op], esize, a[i], b[i]) for i in range(n)]
    write(t, Rd, res, esize)


# -- two-register miscellaneous --------------------------------------------------------------

@sem
def simd_2misc_fp(t, sz, Rn, Rd, op, scalar, Q=0):
    if op == "fcvtn" or op == "fcvtxn":
        _narrow(t, Q, sz, Rn, Rd, op, scalar)
        return
    if op == "fcvtl":
        # sz: 0 half to single, 1 single to double; Q = 1 reads the upper half of Vn
        esize = 16 << sz
        src = elements(t, Rn, esize, 64 // esize, part=Q)
        write(t, Rd, [fc.fp_convert(t, esize, 2 * esize, x) for x in src], 2 * esize)
        return
    esize = 32 << sz
    n = count(Q, esize, scalar)
    a = elements(t, Rn, esize, n)
    if op == "fabs":
        res = [fp_abs(t, x) for x in a]
    elif op == "fneg":
        res = [fp_neg(t, x) for x in a]
    elif op in ESTIMATE:
        res = [fc.fp_unary(t, ESTIMATE[op], esize, x) for x in a]
    else:
        kind, swap = COMPARE_ZERO[op]
        zero = t.e.c(ITY[esize], 0)
        res = [fp_compare_mask(t, kind, esize, zero, x) if swap else
               fp_compare_mask(t, kind, esize, x, zero) for x in a]
    write(t, Rd, res, esize)


def _narrow(t, Q, sz, Rn, Rd, op, scalar):
    """FCVTN (sz: 0 single to half, 1 double to single) and FCVTXN (double to single, rounding
    to odd); the vector forms write Vpart[d, Q]."""
    esize = 16 << sz
    rounding = fpu.ODD if op == "fcvtxn" else fpu.FPCR_ROUNDING
    n = 1 if scalar else 64 // esize
    res = [fc.fp_convert(t, 2 * esize, esize, x, rounding)
           for x in elements(t, Rn, 2 * esize, n)]
    if scalar:
        write(t, Rd, res, esize)
    else:
        write_part(t, Rd, res, esize, Q)


@sem
def simd_fp_round(t, Q, sz, Rn, Rd, rounding, exact):
    esize = 32 << sz
    a = elements(t, Rn, esize, count(Q, esize, 0))
    write(t, Rd, [fc.fp_round_int(t, esize, x, rounding, exact) for x in a], esize)


@sem
def simd_fp_to_int(t, sz, Rn, Rd, rounding, unsigned, scalar, Q=0):
    esize = 32 << sz
    a = elements(t, Rn, esize, count(Q, esize, scalar))
    write(t, Rd, [fc.fp_to_fixed(t, esize, x, 0, unsigned, rounding, esize) for x in a], esize)


@sem
def simd_int_to_fp(t, sz, Rn, Rd, unsigned, scalar, Q=0):
    esize = 32 << sz
    a = elements(t, Rn, esize, count(Q, esize, scalar))
    write(t, Rd, [fc.fixed_to_fp(t, esize, x, 0, unsigned) for x in a], esize)


@sem
def simd_cvt_fixed(t, immh, immb, Rn, Rd, op, scalar, Q=0):
    """SCVTF/UCVTF/FCVTZS/FCVTZU (vector and scalar, fixed-point): fbits = 2*esize - immh:immb."""
    esize = 64 if immh & 8 else 32
    fbits = 2 * esize - ((immh << 3) | immb)
    unsigned = int(op in ("ucvtf", "fcvtzu"))
    a = elements(t, Rn, esize, count(Q, esize, scalar))
    if op.endswith("cvtf"):
        res = [fc.fixed_to_fp(t, esize, x, fbits, unsigned) for x in a]
    else:
        res = [fc.fp_to_fixed(t, esize, x, fbits, unsigned, "zero", esize) for x in a]
    write(t, Rd, res, esize)


# -- reductions ------------------------------------------------------------------------------

def _reduce(t, op, esize, values):
    """Reduce(): the halves reduced separately, then combined (lower half first)."""
    if len(values) == 1:
        return values[0]
    half = len(values) // 2
    lo = _reduce(t, op, esize, values[:half])
    hi = _reduce(t, op, esize, values[half:])
    return fp_binary(t, op, esize, lo, hi)


@sem
def simd_across_fp(t, Q, sz, Rn, Rd, op):
    esize = 32 << sz
    a = elements(t, Rn, esize, count(Q, esize, 0))
    t.set_Vreg(Rd, _reduce(t, ACROSS[op], esize, a))


@sem
def simd_pairwise_scalar(t, sz, Rn, Rd, op):
    """FADDP, FMAXP, ... (scalar): the two elements of Vn."""
    esize = 32 << sz
    a, b = elements(t, Rn, esize, 2)
    t.set_Vreg(Rd, fp_binary(t, PAIRWISE[op], esize, a, b))


# -- by element ------------------------------------------------------------------------------

@sem
def simd_elem_fp(t, sz, L, M, Rm, H, Rn, Rd, op, scalar, Q=0):
    esize = 32 << sz
    index = H if sz else (H << 1) | L
    n = count(Q, esize, scalar)
    elem2 = elements(t, (M << 4) | Rm, esize, index + 1)[index]
    a = elements(t, Rn, esize, n)
    if op in ("fmla", "fmls"):
        acc = elements(t, Rd, esize, n)
        res = [fc.fp_muladd(t, esize, acc[i], fp_neg(t, a[i]) if op == "fmls" else a[i], elem2)
               for i in range(n)]
    else:
        kind = fpu.OP_MULX if op == "fmulx" else fpu.OP_MUL
        res = [fp_binary(t, kind, esize, x, elem2) for x in a]
    write(t, Rd, res, esize)


# -- modified immediate ----------------------------------------------------------------------

@sem
def simd_modimm(t, Q, abc, cmode, defgh, Rd, op, opbit):
    """FMOV (vector, immediate): AdvSIMDExpandImm, in each 64-bit half that the form writes."""
    imm = adv_simd_expand_imm(opbit, cmode, (abc << 5) | defgh)
    t.set_Vreg(Rd, t.e.c(I128, imm | (imm << 64) if Q else imm))
