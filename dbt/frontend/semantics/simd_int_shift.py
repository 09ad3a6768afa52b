"""AdvSIMD shift by immediate (integer; the fixed-point conversions are floating point), vector
and scalar: right shifts and accumulates, inserts, left shifts (saturating), narrowing and
lengthening shifts."""
from ..disasm import hsize, shl_amount, shr_amount
from . import sem
from .simd_int import (const, lane_bits, narrow, saturate, set_qc, shr_const, vread, vsize, vwrite,
                       vwrite_part, widen)

RIGHT = {  # signed, rounding, accumulate
    "sshr": (1, 0, 0), "ushr": (0, 0, 0), "ssra": (1, 0, 1), "usra": (0, 0, 1),
    "srshr": (1, 1, 0), "urshr": (0, 1, 0), "srsra": (1, 1, 1), "ursra": (0, 1, 1),
}


def qshl_const(t, x, shift, op):
    """SQSHL, UQSHL, SQSHLU (immediate): x << shift (0 <= shift < esize), saturated where
    shifting back does not give x; SQSHLU also saturates negative lanes to 0."""
    e = t.e
    esize = lane_bits(x)
    sh = e.shl(x, const(t, x, shift))
    back = (e.ashr if op == "sqshl" else e.lshr)(sh, const(t, x, shift))
    over = e.vicmp("ne", back, x)
    neg = e.vicmp("slt", x, const(t, x, 0))
    if op == "sqshl":
        bound = e.vselect(neg, const(t, x, 1 << (esize - 1)), const(t, x, (1 << (esize - 1)) - 1))
        res = e.vselect(over, bound, sh)
    elif op == "uqshl":
        res = e.vselect(over, const(t, x, -1), sh)
    else:
        res = e.vselect(neg, const(t, x, 0), e.vselect(over, const(t, x, -1), sh))
        over = e.or_(over, neg)
    set_qc(t, over)
    return res


@sem
def simd_shift_imm(t, immh, immb, Rn, Rd, op, scalar, Q=0):
    e = t.e
    esize = 8 << hsize(immh)
    datasize = vsize(Q, esize, scalar)
    x = vread(t, Rn, esize, datasize)
    ones = (1 << esize) - 1
    if op in RIGHT:
        signed, rounding, accumulate = RIGHT[op]
        r = shr_const(t, x, shr_amount(immh, immb), signed, rounding)
        if accumulate:
            r = e.add(vread(t, Rd, esize, datasize), r)
    elif op == "sri":
        shift = shr_amount(immh, immb)
        keep = ~(ones >> shift) & ones
        r = e.or_(e.and_(vread(t, Rd, esize, datasize), const(t, x, keep)),
                  shr_const(t, x, shift, False))
    elif op == "shl":
        r = e.shl(x, const(t, x, shl_amount(immh, immb)))
    elif op == "sli":
        shift = shl_amount(immh, immb)
        keep = ones >> (esize - shift) if shift else 0
        r = e.or_(e.and_(vread(t, Rd, esize, datasize), const(t, x, keep)),
                  e.shl(x, const(t, x, shift)))
    else:
        r = qshl_const(t, x, shl_amount(immh, immb), op)
    vwrite(t, Rd, r)


@sem
def simd_shift_narrow(t, immh, immb, Rn, Rd, op, scalar, Q=0):
    """SHRN, RSHRN, SQSHRN, SQRSHRN, UQSHRN, UQRSHRN, SQSHRUN, SQRSHRUN: 2*esize lanes shifted
    right (1 <= shift <= esize), then truncated or saturated to esize."""
    esize = 8 << hsize(immh)
    x = vread(t, Rn, 2 * esize, 2 * esize if scalar else 128)
    signed_in = op.startswith("sq")
    rounding = op in ("rshrn", "sqrshrn", "uqrshrn", "sqrshrun")
    r = shr_const(t, x, shr_amount(immh, immb), signed_in, rounding)
    if op in ("shrn", "rshrn"):
        r = narrow(t, r, esize)
    else:
        r, sat = saturate(t, r, esize, signed_out=signed_in and not op.endswith("un"),
                          signed_in=signed_in)
        set_qc(t, sat)
    if scalar:
        vwrite(t, Rd, r)
    else:
        vwrite_part(t, Rd, r, Q)


@sem
def simd_shift_long(t, Q, immh, immb, Rn, Rd, op):
    """SSHLL, USHLL (and their aliases SXTL, UXTL): the lower or upper half lengthened, then
    shifted left."""
    esize = 8 << hsize(immh)
    x = widen(t, vread(t, Rn, esize, 64, Q), op == "sshll")
    vwrite(t, Rd, t.e.shl(x, const(t, x, shl_amount(immh, immb))))
