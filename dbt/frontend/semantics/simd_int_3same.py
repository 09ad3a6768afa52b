"""AdvSIMD three same (integer and logical), vector and scalar forms."""
from . import sem
from .simd_int import (const, halves, intr, lane_bits, lane_mask, narrow, saturate, saturating,
                       set_qc, shift_by_reg, vread, vsize, vwrite, widen)


def halving(t, a, b, signed, sub=False, rounding=False):
    """SHADD/UHADD/SRHADD/URHADD/SHSUB/UHSUB: (a +- b [+ 1]) >> 1 in lanes of twice the size."""
    e = t.e
    aw, bw = widen(t, a, signed), widen(t, b, signed)
    r = e.sub(aw, bw) if sub else e.add(aw, bw)
    if rounding:
        r = e.add(r, const(t, r, 1))
    return narrow(t, e.ashr(r, const(t, r, 1)), lane_bits(a))


def absdiff(t, a, b, signed):
    """|a - b|, which fits the element size whether signed or unsigned: max - min."""
    s = "s" if signed else "u"
    return t.e.sub(intr(t, s + "max", a, b), intr(t, s + "min", a, b))


def doubling_mulh(t, a, b, rounding):
    """SQDMULH/SQRDMULH: high half of 2*a*b (+ rounding), saturated (only MIN * MIN)."""
    e = t.e
    esize = lane_bits(a)
    p = e.mul(widen(t, a, True), widen(t, b, True))
    if rounding:
        p = e.add(p, const(t, p, 1 << (esize - 2)))
    res, sat = saturate(t, e.ashr(p, const(t, p, esize - 1)), esize, True)
    set_qc(t, sat)
    return res


def polymul(t, a, b, nbits=8):
    """Polynomial (carry-less) multiply of the low nbits of each lane of b into a's lanes."""
    e = t.e
    acc = const(t, a, 0)
    for i in range(nbits):
        bit = e.and_(e.lshr(b, const(t, b, i)), const(t, b, 1))
        acc = e.xor(acc, e.and_(e.shl(a, const(t, a, i)), e.neg(bit)))
    return acc


def _cmp(pred):
    return lambda t, a, b: lane_mask(t, t.e.vicmp(pred, a, b), a)


def _minmax(name):
    return lambda t, a, b: intr(t, name, a, b)


def _shl(signed, rounding, sat):
    return lambda t, a, b: shift_by_reg(t, a, b, signed, rounding, sat)


THREE_SAME = {
    "add": lambda t, a, b: t.e.add(a, b),
    "sub": lambda t, a, b: t.e.sub(a, b),
    "mul": lambda t, a, b: t.e.mul(a, b),
    "pmul": polymul,
    "shadd": lambda t, a, b: halving(t, a, b, True),
    "uhadd": lambda t, a, b: halving(t, a, b, False),
    "srhadd": lambda t, a, b: halving(t, a, b, True, rounding=True),
    "urhadd": lambda t, a, b: halving(t, a, b, False, rounding=True),
    "shsub": lambda t, a, b: halving(t, a, b, True, sub=True),
    "uhsub": lambda t, a, b: halving(t, a, b, False, sub=True),
    "sqadd": lambda t, a, b: saturating(t, "sadd.sat", a, b),
    "uqadd": lambda t, a, b: saturating(t, "uadd.sat", a, b),
    "sqsub": lambda t, a, b: saturating(t, "ssub.sat", a, b),
    "uqsub": lambda t, a, b: saturating(t, "usub.sat", a, b),
    "cmeq": _cmp("eq"), "cmge": _cmp("sge"), "cmgt": _cmp("sgt"), "cmhi": _cmp("ugt"),
    "cmhs": _cmp("uge"),
    "cmtst": lambda t, a, b: lane_mask(t, t.e.vicmp("ne", t.e.and_(a, b), const(t, a, 0)), a),
    "smax": _minmax("smax"), "smin": _minmax("smin"), "umax": _minmax("umax"),
    "umin": _minmax("umin"),
    "sabd": lambda t, a, b: absdiff(t, a, b, True),
    "uabd": lambda t, a, b: absdiff(t, a, b, False),
    "sshl": _shl(True, False, False), "ushl": _shl(False, False, False),
    "srshl": _shl(True, True, False), "urshl": _shl(False, True, False),
    "sqshl": _shl(True, False, True), "uqshl": _shl(False, False, True),
    "sqrshl": _shl(True, True, True), "uqrshl": _shl(False, True, True),
    "sqdmulh": lambda t, a, b: doubling_mulh(t, a, b, False),
    "sqrdmulh": lambda t, a, b: doubling_mulh(t, a, b, True),
}
# accumulating forms: Vd = Vd (add|sub) op(Vn, Vm)
ACCUMULATE = {"mla": ("add", "mul"), "mls": ("sub", "mul"), "saba": ("add", "sabd"),
              "uaba": ("add", "uabd")}
PAIRWISE = {"addp": "add", "smaxp": "smax", "sminp": "smin", "umaxp": "umax", "uminp": "umin"}


def three_same(t, op, a, b, acc):
    """The element-wise operation `op` on a and b; acc() reads Vd for the accumulating ones.
    Shared with the by-element forms."""
    if op in ACCUMULATE:
        how, base = ACCUMULATE[op]
        r = THREE_SAME[base](t, a, b)
        d = acc()
        return t.e.add(d, r) if how == "add" else t.e.sub(d, r)
    return THREE_SAME[op](t, a, b)


@sem
def simd_3same_int(t, size, Rm, Rn, Rd, op, scalar, Q=0):
    esize = 8 << size
    datasize = vsize(Q, esize, scalar)
    a, b = vread(t, Rn, esize, datasize), vread(t, Rm, esize, datasize)
    if op in PAIRWISE:
        a, b = halves(t, a, b)
        op = PAIRWISE[op]
    vwrite(t, Rd, three_same(t, op, a, b, lambda: vread(t, Rd, esize, datasize)))


@sem
def simd_logic(t, Q, Rm, Rn, Rd, op):
    """AND, BIC, ORR, ORN, EOR and the bitwise selects BSL, BIT, BIF, on 64- or 128-bit
    integers."""
    e = t.e
    ty = "i128" if Q else "i64"
    n, m = e.trunc(t.Vreg(Rn), ty), e.trunc(t.Vreg(Rm), ty)
    if op in ("bsl", "bit", "bif"):
        d = e.trunc(t.Vreg(Rd), ty)
        sel, one, zero = {"bsl": (d, n, m), "bit": (m, n, d), "bif": (m, d, n)}[op]
        res = e.or_(e.and_(one, sel), e.and_(zero, e.not_(sel)))
    else:
        if op in ("bic", "orn"):
            m = e.not_(m)
        res = {"and": e.and_, "bic": e.and_, "orr": e.or_, "orn": e.or_, "eor": e.xor}[op](n, m)
    t.set_Vreg(Rd, res)
