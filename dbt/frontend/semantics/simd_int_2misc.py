"""AdvSIMD two-register miscellaneous (integer), across lanes, scalar pairwise ADDP, and the
unsigned reciprocal (square root) estimates URECPE/URSQRTE."""
from ...cpu.fpu import RECIP_SQRT_ESTIMATE
from ...jit.emitter import I1, I32
from . import sem
from .simd_int import (const, intr, lane_bits, lane_mask, lanes, narrow, saturate, set_qc,
                       vread, vsize, vwrite, vwrite_part, widen)

NARROWING = ("xtn", "sqxtn", "uqxtn", "sqxtun")
PAIRS = ("saddlp", "uaddlp", "sadalp", "uadalp")
REV = {"rev16": 16, "rev32": 32, "rev64": 64}
ZERO_CMP = {"cmgt": "sgt", "cmge": "sge", "cmeq": "eq", "cmle": "sle", "cmlt": "slt"}


def _narrowing(t, Q, size, Rn, Rd, op, scalar):
    """XTN, SQXTN, UQXTN, SQXTUN: 2*esize lanes of Vn to esize, into the lower or upper half."""
    esize = 8 << size
    x = vread(t, Rn, 2 * esize, 2 * esize if scalar else 128)
    if op == "xtn":
        r = narrow(t, x, esize)
    else:
        r, sat = saturate(t, x, esize, signed_out=op == "sqxtn", signed_in=op != "uqxtn")
        set_qc(t, sat)
    if scalar:
        vwrite(t, Rd, r)
    else:
        vwrite_part(t, Rd, r, Q)


def _misc(t, op, x, acc):
    """The same-size and pairwise operations on lanes x; acc() reads Vd."""
    e = t.e
    esize = lane_bits(x)
    n = lanes(x)
    zero = const(t, x, 0)
    if op in REV:
        k = REV[op] // esize
        return e.shuffle(x, x, [i ^ (k - 1) for i in range(n)])
    if op in PAIRS:
        signed = op[0] == "s"
        ev = widen(t, e.shuffle(x, x, range(0, n, 2)), signed)
        od = widen(t, e.shuffle(x, x, range(1, n, 2)), signed)
        r = e.add(ev, od)
        return e.add(acc(), r) if op.endswith("dalp") else r
    if op in ("suqadd", "usqadd"):
        # the accumulator Vd and Vn, one signed and one unsigned, summed without loss
        d = acc()
        signed = op == "suqadd"
        s = e.add(widen(t, d, signed), widen(t, x, not signed))
        r, sat = saturate(t, s, esize, signed_out=signed, signed_in=True)
        set_qc(t, sat)
        return r
    if op == "cls":
        return e.sub(intr(t, "ctlz", e.xor(x, e.ashr(x, const(t, x, 1))), e.c(I1, 0)),
                     const(t, x, 1))
    if op == "clz":
        return intr(t, "ctlz", x, e.c(I1, 0))
    if op == "cnt":
        return intr(t, "ctpop", x)
    if op == "not":
        return e.not_(x)
    if op == "rbit":
        return intr(t, "bitreverse", x)
    if op == "abs":
        return intr(t, "abs", x, e.c(I1, 0))
    if op == "neg":
        return e.neg(x)
    if op in ("sqabs", "sqneg"):
        r = intr(t, "abs", x, e.c(I1, 0)) if op == "sqabs" else e.neg(x)
        sat = e.vicmp("eq", x, const(t, x, 1 << (esize - 1)))
        set_qc(t, sat)
        return e.vselect(sat, const(t, x, (1 << (esize - 1)) - 1), r)
    assert op in ZERO_CMP, op
    return lane_mask(t, e.vicmp(ZERO_CMP[op], x, zero), x)


@sem
def simd_2misc_int(t, size, Rn, Rd, op, scalar, Q=0):
    e = t.e
    esize = 8 << size
    if op in NARROWING:
        return _narrowing(t, Q, size, Rn, Rd, op, scalar)
    if op == "shll":
        x = widen(t, vread(t, Rn, esize, 64, Q), False)
        return vwrite(t, Rd, e.shl(x, const(t, x, esize)))
    datasize = vsize(Q, esize, scalar)
    x = vread(t, Rn, esize, datasize)
    wide = 2 if op in PAIRS else 1
    vwrite(t, Rd, _misc(t, op, x, lambda: vread(t, Rd, wide * esize, datasize)))


ACROSS = {"addv": "add", "smaxv": "smax", "sminv": "smin", "umaxv": "umax", "uminv": "umin"}


@sem
def simd_across(t, Q, size, Rn, Rd, op):
    """ADDV, SADDLV, UADDLV, SMAXV, SMINV, UMAXV, UMINV: a reduction to element 0."""
    e = t.e
    x = vread(t, Rn, 8 << size, 64 << Q)
    if op in ("saddlv", "uaddlv"):
        vwrite(t, Rd, e.reduce("add", widen(t, x, op[0] == "s")))
    else:
        vwrite(t, Rd, e.reduce(ACROSS[op], x))


@sem
def ADDP_scalar(t, size, Rn, Rd):
    vwrite(t, Rd, t.e.reduce("add", vread(t, Rn, 64)))


# -- URECPE, URSQRTE ----------------------------------------------------------------------------

# RecipSqrtEstimate() of the manual, shared with FRSQRTE (dbt/cpu/fpu.py)
URSQRTE_TABLE = [int(RECIP_SQRT_ESTIMATE[a]) << 23 if a >= 128 else -1 for a in range(512)]


@sem
def simd_unsigned_estimate(t, sz, Rn, Rd, op, scalar, Q=0):
    """URECPE and URSQRTE on 32-bit lanes: UnsignedRecipEstimate(), UnsignedRSqrtEstimate().
    The 9-bit estimate of operand<31:23> goes to the top of the lane; operands below the
    estimate's input range (0x80000000, resp. 0x40000000) give all ones."""
    e = t.e
    x = vread(t, Rn, 32, 32 if scalar else 64 << Q)
    top = e.lshr(x, const(t, x, 23))
    if op == "urecpe":
        # RecipEstimate(a): ((2^19 DIV (2a + 1)) + 1) DIV 2
        b = e.udiv(const(t, x, 1 << 19), e.add(e.shl(top, const(t, x, 1)), const(t, x, 1)))
        r = e.shl(e.lshr(e.add(b, const(t, x, 1)), const(t, x, 1)), const(t, x, 23))
        small = e.vicmp("sge", x, const(t, x, 0))
    else:
        r = const(t, x, 0)
        for i in range(lanes(x)):
            r = e.insert(r, e.lookup("ursqrte_table", I32, URSQRTE_TABLE, e.extract(top, i)), i)
        small = e.vicmp("ult", x, const(t, x, 1 << 30))
    vwrite(t, Rd, e.vselect(small, const(t, x, -1), r))
