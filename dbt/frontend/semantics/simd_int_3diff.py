"""AdvSIMD three different (long, wide and narrowing-high forms) and the integer vector x
indexed element forms, vector and scalar."""
from ..disasm import ixindex, ixreg
from . import sem
from .simd_int import (const, intr, lane_bits, lanes, narrow, set_qc, vread, vsize, vwrite,
                       vwrite_part, widen)
from .simd_int_3same import THREE_SAME, polymul, three_same

NARROW_HIGH = ("addhn", "raddhn", "subhn", "rsubhn")
WIDE = ("saddw", "uaddw", "ssubw", "usubw")


def long_op(t, op, a, b, acc):
    """The lengthening operation `op` (saddl ... sqdmlsl, pmull) of the narrow lanes of b and
    the narrow (or, for the wide forms, already wide) lanes of a; acc() reads Vd."""
    e = t.e
    esize = lane_bits(b)
    if op == "pmull":
        return polymul(t, widen(t, a, False), widen(t, b, False), esize)
    signed = op[0] == "s"
    kind = op[1:]
    aw = a if lane_bits(a) == 2 * esize else widen(t, a, signed)
    bw = widen(t, b, signed)
    if kind in ("addl", "addw"):
        return e.add(aw, bw)
    if kind in ("subl", "subw"):
        return e.sub(aw, bw)
    if kind in ("abdl", "abal"):
        r = intr(t, "abs", e.sub(aw, bw), e.c("i1", 0))
        return e.add(acc(), r) if kind == "abal" else r
    p = e.mul(aw, bw)
    if kind == "mull":
        return p
    if kind == "mlal":
        return e.add(acc(), p)
    if kind == "mlsl":
        return e.sub(acc(), p)
    # sqdmull, sqdmlal, sqdmlsl: 2*a*b saturated (only MIN * MIN), then a saturating accumulate
    p2 = intr(t, "sadd.sat", p, p)
    sats = [e.vicmp("ne", p2, e.add(p, p))]
    if kind != "qdmull":
        d = acc()
        name = "sadd.sat" if kind == "qdmlal" else "ssub.sat"
        r = intr(t, name, d, p2)
        sats.append(e.vicmp("ne", r, e.add(d, p2) if kind == "qdmlal" else e.sub(d, p2)))
        p2 = r
    set_qc(t, *sats)
    return p2


@sem
def simd_3diff(t, size, Rm, Rn, Rd, op, scalar, Q=0):
    e = t.e
    esize = 8 << size
    if op in NARROW_HIGH:
        a, b = vread(t, Rn, 2 * esize), vread(t, Rm, 2 * esize)
        r = e.sub(a, b) if "sub" in op else e.add(a, b)
        if op[0] == "r":
            r = e.add(r, const(t, r, 1 << (esize - 1)))
        vwrite_part(t, Rd, narrow(t, e.lshr(r, const(t, r, esize)), esize), Q)
        return
    datasize, part = (esize, 0) if scalar else (64, Q)
    b = vread(t, Rm, esize, datasize, part)
    a = vread(t, Rn, 2 * esize) if op in WIDE else vread(t, Rn, esize, datasize, part)
    vwrite(t, Rd, long_op(t, op, a, b, lambda: vread(t, Rd, 2 * esize, 2 * datasize)))


@sem
def simd_elem_int(t, size, L, M, Rm, H, Rn, Rd, op, scalar, Q=0):
    """MUL, MLA, MLS, SQDMULH, SQRDMULH and the long SMULL ... SQDMLSL by element: Vm's element
    broadcast, then the three same / three different operation."""
    e = t.e
    esize = 8 << size
    elem = e.extract(vread(t, ixreg(size, M, Rm), esize), ixindex(size, H, L, M))
    if op in THREE_SAME or op in ("mla", "mls"):
        datasize = vsize(Q, esize, scalar)
        a = vread(t, Rn, esize, datasize)
        res = three_same(t, op, a, e.splat_value(elem, lanes(a)),
                         lambda: vread(t, Rd, esize, datasize))
    else:
        datasize, part = (esize, 0) if scalar else (64, Q)
        a = vread(t, Rn, esize, datasize, part)
        res = long_op(t, op, a, e.splat_value(elem, lanes(a)),
                      lambda: vread(t, Rd, 2 * esize, 2 * datasize))
    vwrite(t, Rd, res)
