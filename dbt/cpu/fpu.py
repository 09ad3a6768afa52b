"""ARM-exact floating point for translated code: the ARM ARM's shared FP pseudocode (ARMv8.0).

Operands are raw encodings: an int64 holding the N-bit pattern (N = 16, 32 or 64).  FPUnpack
turns one into its type and exact value, value = mant * 2^exp with an integer mant; arithmetic on
those values is exact integer arithmetic, and FPRound rounds the exact result once, as
FPRoundBase does (underflow detected before rounding, FZ flushing with UFC, overflow to infinity or
the largest normal by rounding mode).  No host floating point is involved, so results never depend
on the host FPU's modes.

Exact results wider than 62 bits are carried as a 62-bit mantissa whose lowest bit is "jammed"
(ORed with every bit shifted out below it): with at least two bits below the rounding point this
rounds exactly like the infinitely precise value.

The C-callable entry points at the end (Numba cfuncs, taking the vCPU env pointer like the memory
slow paths, exported by symbol for translated code) read FPCR and OR the cumulative exception bits
into FPSR.
"""
import numpy as np
from numba import carray, cfunc, njit, types

from ..jit.symbols import export
from .state import ENV_SIZE, OFFSET

_FPCR = OFFSET["FPCR"]
_FPSR = OFFSET["FPSR"]

# FPSR cumulative exception bits
IOC, DZC, OFC, UFC, IXC, IDC = 1, 2, 4, 8, 16, 128
# FPCR fields
FPCR_AHP, FPCR_DN, FPCR_FZ = 1 << 26, 1 << 25, 1 << 24
RMODE_SHIFT = 22
# FPRounding; FPCR_ROUNDING asks for FPCR.RMode
TIEEVEN, POSINF, NEGINF, ZERO, TIEAWAY, ODD = 0, 1, 2, 3, 4, 5
FPCR_ROUNDING = -1
# FPType
T_ZERO, T_NONZERO, T_INF, T_QNAN, T_SNAN = 0, 1, 2, 3, 4

L62 = (1 << 62) - 1
INT64_MIN = -(1 << 63)

# fp_binary operations
(OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAX, OP_MIN, OP_MAXNUM, OP_MINNUM, OP_MULX, OP_RECPS,
 OP_RSQRTS, OP_CMEQ, OP_CMGE, OP_CMGT, OP_CMP, OP_CMPE) = range(16)
# fp_unary operations
OP_SQRT, OP_RECPE, OP_RSQRTE, OP_RECPX, OP_URECPE, OP_URSQRTE = range(6)


# -- formats and constants -------------------------------------------------------------------

@njit
def frac_bits(N):
    return 10 if N == 16 else (23 if N == 32 else 52)


@njit
def exp_bits(N):
    return 5 if N == 16 else (8 if N == 32 else 11)


@njit
def ones(n):
    return -1 if n >= 64 else (1 << n) - 1


@njit
def bit_length(x):
    """Bits needed for x >= 0."""
    n = 0
    if x >> 32:
        n += 32
        x >>= 32
    if x >> 16:
        n += 16
        x >>= 16
    if x >> 8:
        n += 8
        x >>= 8
    if x >> 4:
        n += 4
        x >>= 4
    if x >> 2:
        n += 2
        x >>= 2
    if x >> 1:
        n += 1
        x >>= 1
    return n + x


@njit
def FPZero(sign, N):
    return sign << (N - 1)


@njit
def FPInfinity(sign, N):
    return (sign << (N - 1)) | (ones(exp_bits(N)) << frac_bits(N))


@njit
def FPMaxNormal(sign, N):
    F = frac_bits(N)
    return (sign << (N - 1)) | ((ones(exp_bits(N)) - 1) << F) | ones(F)


@njit
def FPDefaultNaN(N):
    F = frac_bits(N)
    return (ones(exp_bits(N)) << F) | (1 << (F - 1))


@njit
def FPTwo(sign, N):
    return (sign << (N - 1)) | (1 << (exp_bits(N) - 1 + frac_bits(N)))


@njit
def FPOnePointFive(sign, N):
    F = frac_bits(N)
    return (sign << (N - 1)) | (ones(exp_bits(N) - 1) << F) | (1 << (F - 1))


@njit
def FPNeg(op, N):
    return op ^ (1 << (N - 1))


@njit
def fp_exception(env, bits):
    """FPProcessException with every trap disabled: set the cumulative FPSR bits."""
    env[_FPSR] |= bits


@njit
def rounding_mode(fpcr, rounding):
    return (fpcr >> RMODE_SHIFT) & 3 if rounding < 0 else rounding


# -- FPUnpack, NaN processing ----------------------------------------------------------------

@njit
def FPUnpack(env, fpcr, N, op):
    """(type, sign, exp, mant) with value = mant * 2^exp.  FZ flushes single and double
    denormals (IDC); half precision is never flushed (no FZ16 in ARMv8.0), and with FPCR.AHP
    its largest exponent encodes normal numbers."""
    F = frac_bits(N)
    E = exp_bits(N)
    sign = (op >> (N - 1)) & 1
    e = (op >> F) & ones(E)
    frac = op & ones(F)
    bias = ones(E - 1)
    if e == 0:
        if frac == 0:
            return T_ZERO, sign, 0, 0
        if N != 16 and (fpcr & FPCR_FZ) != 0:
            fp_exception(env, IDC)
            return T_ZERO, sign, 0, 0
        return T_NONZERO, sign, 1 - bias - F, frac
    if e == ones(E) and not (N == 16 and (fpcr & FPCR_AHP) != 0):
        if frac == 0:
            return T_INF, sign, 0, 0
        if (frac >> (F - 1)) & 1:
            return T_QNAN, sign, 0, 0
        return T_SNAN, sign, 0, 0
    return T_NONZERO, sign, e - bias - F, frac | (1 << F)


@njit
def is_nan(t):
    return t == T_QNAN or t == T_SNAN


@njit
def FPProcessNaN(env, fpcr, N, t, op):
    result = op
    if t == T_SNAN:
        result = op | (1 << (frac_bits(N) - 1))
        fp_exception(env, IOC)
    if (fpcr & FPCR_DN) != 0:
        result = FPDefaultNaN(N)
    return result


@njit
def FPProcessNaNs(env, fpcr, N, t1, t2, op1, op2):
    """The NaN result of a two-operand operation (signalling NaNs first, then operand order);
    call only when one operand is a NaN."""
    if t1 == T_SNAN:
        return FPProcessNaN(env, fpcr, N, t1, op1)
    if t2 == T_SNAN:
        return FPProcessNaN(env, fpcr, N, t2, op2)
    if t1 == T_QNAN:
        return FPProcessNaN(env, fpcr, N, t1, op1)
    return FPProcessNaN(env, fpcr, N, t2, op2)


@njit
def FPProcessNaNs3(env, fpcr, N, t1, t2, t3, op1, op2, op3):
    if t1 == T_SNAN:
        return FPProcessNaN(env, fpcr, N, t1, op1)
    if t2 == T_SNAN:
        return FPProcessNaN(env, fpcr, N, t2, op2)
    if t3 == T_SNAN:
        return FPProcessNaN(env, fpcr, N, t3, op3)
    if t1 == T_QNAN:
        return FPProcessNaN(env, fpcr, N, t1, op1)
    if t2 == T_QNAN:
        return FPProcessNaN(env, fpcr, N, t2, op2)
    return FPProcessNaN(env, fpcr, N, t3, op3)


# -- FPRound ---------------------------------------------------------------------------------

@njit
def FPRound(env, fpcr, N, sign, exp, mant, sticky, rounding):
    """FPRoundBase of the exact value (mant + sticky * epsilon) * 2^exp, mant > 0, mant < 2^63."""
    F = frac_bits(N)
    E = exp_bits(N)
    minimum_exp = 2 - (1 << (E - 1))
    nb = bit_length(mant)
    if nb > 62:
        s = nb - 62
        if mant & ones(s):
            sticky = 1
        mant >>= s
        exp += s
    else:
        mant <<= 62 - nb
        exp -= 62 - nb
    exponent = exp + 61                  # mant in [2^61, 2^62): value in [2^exponent, ...)
    if N != 16 and (fpcr & FPCR_FZ) != 0 and exponent < minimum_exp:
        fp_exception(env, UFC)
        return FPZero(sign, N)
    biased_exp = exponent - minimum_exp + 1
    shift = 61 - F
    if biased_exp <= 0:
        shift += 1 - biased_exp
        biased_exp = 0
    if shift > 62:                        # everything is below the last place: error < 0.5
        int_mant = 0
        above_half = False
        at_half = False
        inexact = True
    else:
        int_mant = mant >> shift
        rem = mant & ones(shift)
        half = 1 << (shift - 1)
        above_half = rem > half or (rem == half and sticky != 0)
        at_half = rem == half and sticky == 0
        inexact = rem != 0 or sticky != 0
    if biased_exp == 0 and inexact:
        fp_exception(env, UFC)
    if rounding == TIEEVEN:
        round_up = above_half or (at_half and (int_mant & 1) == 1)
        overflow_to_inf = True
    elif rounding == TIEAWAY:
        round_up = above_half or at_half
        overflow_to_inf = True
    elif rounding == POSINF:
        round_up = inexact and sign == 0
        overflow_to_inf = sign == 0
    elif rounding == NEGINF:
        round_up = inexact and sign == 1
        overflow_to_inf = sign == 1
    else:                                 # ZERO, ODD
        round_up = False
        overflow_to_inf = False
    if round_up:
        int_mant += 1
        if int_mant == 1 << F:            # denormal rounded up to normal
            biased_exp = 1
        if int_mant == 1 << (F + 1):      # rounded up to the next exponent
            biased_exp += 1
            int_mant >>= 1
    if inexact and rounding == ODD:
        int_mant |= 1
    if N == 16 and (fpcr & FPCR_AHP) != 0:
        if biased_exp >= 1 << E:
            fp_exception(env, IOC)
            return (sign << 15) | 0x7FFF
    elif biased_exp >= ones(E):
        fp_exception(env, OFC | IXC)
        return FPInfinity(sign, N) if overflow_to_inf else FPMaxNormal(sign, N)
    if inexact:
        fp_exception(env, IXC)
    return (sign << (N - 1)) | (biased_exp << F) | (int_mant & ones(F))


@njit
def round_magnitude(ip, above_half, at_half, inexact, sign, rounding):
    """The integer a value sign * (ip + fraction) rounds to, as a magnitude (the rounding steps
    of FPRoundInt and FPToFixed, folded onto the magnitude)."""
    if rounding == TIEEVEN:
        up = above_half or (at_half and (ip & 1) == 1)
    elif rounding == TIEAWAY:
        up = above_half or at_half
    elif rounding == POSINF:
        up = inexact and sign == 0
    elif rounding == NEGINF:
        up = inexact and sign == 1
    else:
        up = False
    return ip + 1 if up else ip


@njit
def split_fixed(mant, s):
    """mant / 2^s (s >= 1) as (integer part, above half, at half, inexact)."""
    if s > 62:
        return 0, False, False, mant != 0
    ip = mant >> s
    rem = mant & ones(s)
    half = 1 << (s - 1)
    return ip, rem > half, rem == half, rem != 0


# -- exact arithmetic: 124-bit values as two 62-bit limbs ------------------------------------

@njit
def wide_mul(a, b):
    """a * b for a, b < 2^53, as (hi, lo) = hi * 2^62 + lo."""
    m27 = (1 << 27) - 1
    ah, al, bh, bl = a >> 27, a & m27, b >> 27, b & m27
    hh = ah * bh
    mid = ah * bl + al * bh
    ll = al * bl
    lo = ((hh & 0xFF) << 54) + ll
    carry = lo >> 62
    lo = (lo & L62) + ((mid & ((1 << 35) - 1)) << 27)
    carry += lo >> 62
    return (hh >> 8) + (mid >> 35) + carry, lo & L62


@njit
def wide_bit_length(hi, lo):
    return bit_length(hi) + 62 if hi else bit_length(lo)


@njit
def wide_shl(hi, lo, s):
    if s == 0:
        return hi, lo
    if s >= 62:
        return lo << (s - 62), 0
    return (hi << s) | (lo >> (62 - s)), (lo << s) & L62


@njit
def wide_shr_jam(hi, lo, s):
    """Shift right by s, ORing every lost bit into bit 0."""
    if s == 0:
        return hi, lo
    if s >= 124:
        return 0, 1 if (hi | lo) else 0
    if s >= 62:
        lost = lo | (hi & ones(s - 62))
        return 0, (hi >> (s - 62)) | (1 if lost else 0)
    lost = lo & ones(s)
    return hi >> s, ((lo >> s) | ((hi & ones(s)) << (62 - s))) | (1 if lost else 0)


@njit
def wide_to_mant(hi, lo):
    """(mant, extra exponent, sticky): the value as a mantissa of at most 62 bits."""
    nb = wide_bit_length(hi, lo)
    if nb <= 62:
        return lo, 0, 0
    s = nb - 62
    return (hi << (62 - s)) | (lo >> s), s, 1 if lo & ones(s) else 0


@njit
def exact_sum(s1, e1, h1, l1, s2, e2, h2, l2):
    """(sign, exp, hi, lo) of s1*(h1:l1)*2^e1 + s2*(h2:l2)*2^e2 (both nonzero, below 2^122), with
    the smaller operand jammed: exact enough for one rounding."""
    n1 = wide_bit_length(h1, l1)
    h1, l1 = wide_shl(h1, l1, 122 - n1)
    e1 -= 122 - n1
    n2 = wide_bit_length(h2, l2)
    h2, l2 = wide_shl(h2, l2, 122 - n2)
    e2 -= 122 - n2
    if e1 < e2 or (e1 == e2 and (h1 < h2 or (h1 == h2 and l1 < l2))):
        s1, e1, h1, l1, s2, e2, h2, l2 = s2, e2, h2, l2, s1, e1, h1, l1
    d = e1 - e2
    if d > 130:
        d = 130
    h2, l2 = wide_shr_jam(h2, l2, d)
    if s1 == s2:
        lo = l1 + l2
        hi = h1 + h2 + (lo >> 62)
        lo &= L62
    else:
        lo = l1 - l2
        hi = h1 - h2
        if lo < 0:
            lo += 1 << 62
            hi -= 1
    return s1, e1, hi, lo


@njit
def round_wide(env, fpcr, N, sign, exp, hi, lo, rounding):
    """FPRound of (hi:lo) * 2^exp; an exact zero gets the sign the rounding mode gives it."""
    if hi == 0 and lo == 0:
        return FPZero(1 if rounding == NEGINF else 0, N)
    mant, extra, sticky = wide_to_mant(hi, lo)
    return FPRound(env, fpcr, N, sign, exp + extra, mant, sticky, rounding)


@njit
def divide_mant(m1, m2):
    """(q, k, sticky) with m1 / m2 = (q + sticky * epsilon) * 2^-k."""
    n1 = bit_length(m1)
    n2 = bit_length(m2)
    m1 <<= 61 - n1
    m2 <<= 61 - n2
    q = 0
    rem = m1
    for _ in range(62):
        q <<= 1
        if rem >= m2:
            rem -= m2
            q |= 1
        rem <<= 1
    return q, 61 + n2 - n1, 1 if rem else 0


@njit
def sqrt_mant(mant, exp):
    """(root, exp, sticky) with sqrt(mant * 2^exp) = (root + sticky * epsilon) * 2^exp."""
    s = 57 - bit_length(mant)
    if (exp - s) & 1:
        s += 1
    mant = mant << s if s >= 0 else mant >> -s    # bits shifted out here are zero
    exp -= s
    rem = 0
    root = 0
    for i in range(58):
        pair = (mant >> (56 - 2 * i)) & 3 if i < 29 else 0
        rem = (rem << 2) | pair
        trial = (root << 2) | 1
        root <<= 1
        if rem >= trial:
            rem -= trial
            root |= 1
    return root, (exp - 58) // 2, 1 if rem else 0


# -- comparisons -----------------------------------------------------------------------------

@njit
def order_key(N, t, sign, op):
    """A signed integer ordered like the (non-NaN) value."""
    if t == T_ZERO:
        return 0
    mag = op & ones(N - 1)
    return -mag if sign else mag


@njit
def FPCompare(env, fpcr, N, op1, op2, signal_nans):
    """NZCV of the comparison: 0110 equal, 1000 less, 0010 greater, 0011 unordered."""
    t1, s1, _, _ = FPUnpack(env, fpcr, N, op1)
    t2, s2, _, _ = FPUnpack(env, fpcr, N, op2)
    if is_nan(t1) or is_nan(t2):
        if t1 == T_SNAN or t2 == T_SNAN or signal_nans:
            fp_exception(env, IOC)
        return 0b0011
    k1 = order_key(N, t1, s1, op1)
    k2 = order_key(N, t2, s2, op2)
    if k1 == k2:
        return 0b0110
    return 0b1000 if k1 < k2 else 0b0010


@njit
def FPCompareOp(env, fpcr, N, op1, op2, kind):
    """FPCompareEQ (quiet), FPCompareGE and FPCompareGT (signalling): 1 or 0."""
    t1, s1, _, _ = FPUnpack(env, fpcr, N, op1)
    t2, s2, _, _ = FPUnpack(env, fpcr, N, op2)
    if is_nan(t1) or is_nan(t2):
        if t1 == T_SNAN or t2 == T_SNAN or kind != OP_CMEQ:
            fp_exception(env, IOC)
        return 0
    k1 = order_key(N, t1, s1, op1)
    k2 = order_key(N, t2, s2, op2)
    if kind == OP_CMEQ:
        return 1 if k1 == k2 else 0
    if kind == OP_CMGE:
        return 1 if k1 >= k2 else 0
    return 1 if k1 > k2 else 0


@njit
def FPMaxMin(env, fpcr, N, op1, op2, is_max, numeric):
    """FPMax/FPMin, and FPMaxNum/FPMinNum (numeric: a single quiet NaN loses)."""
    t1, s1, _, _ = FPUnpack(env, fpcr, N, op1)
    t2, s2, _, _ = FPUnpack(env, fpcr, N, op2)
    if numeric:
        if t1 == T_QNAN and t2 != T_QNAN:
            t1, s1 = T_INF, 1 if is_max else 0
            op1 = FPInfinity(s1, N)
        elif t1 != T_QNAN and t2 == T_QNAN:
            t2, s2 = T_INF, 1 if is_max else 0
            op2 = FPInfinity(s2, N)
    if is_nan(t1) or is_nan(t2):
        return FPProcessNaNs(env, fpcr, N, t1, t2, op1, op2)
    k1 = order_key(N, t1, s1, op1)
    k2 = order_key(N, t2, s2, op2)
    first = k1 > k2 if is_max else k1 < k2
    t, sign, op = (t1, s1, op1) if first else (t2, s2, op2)
    if t == T_ZERO:
        return FPZero((s1 & s2) if is_max else (s1 | s2), N)
    return op     # an infinity, or FPRound of a representable value: the operand itself


# -- arithmetic ------------------------------------------------------------------------------

@njit
def FPAdd(env, fpcr, N, op1, op2, negate2, rounding):
    """FPAdd, or FPSub when negate2 (the NaN operands keep their own sign)."""
    t1, s1, e1, m1 = FPUnpack(env, fpcr, N, op1)
    t2, s2, e2, m2 = FPUnpack(env, fpcr, N, op2)
    if is_nan(t1) or is_nan(t2):
        return FPProcessNaNs(env, fpcr, N, t1, t2, op1, op2)
    s2 ^= negate2
    inf1, inf2 = t1 == T_INF, t2 == T_INF
    zero1, zero2 = t1 == T_ZERO, t2 == T_ZERO
    if inf1 and inf2 and s1 != s2:
        fp_exception(env, IOC)
        return FPDefaultNaN(N)
    if (inf1 and s1 == 0) or (inf2 and s2 == 0):
        return FPInfinity(0, N)
    if inf1 or inf2:
        return FPInfinity(1, N)
    if zero1 and zero2 and s1 == s2:
        return FPZero(s1, N)
    if zero1 and zero2:
        return FPZero(1 if rounding == NEGINF else 0, N)
    if zero1:
        return FPRound(env, fpcr, N, s2, e2, m2, 0, rounding)
    if zero2:
        return FPRound(env, fpcr, N, s1, e1, m1, 0, rounding)
    sign, exp, hi, lo = exact_sum(s1, e1, 0, m1, s2, e2, 0, m2)
    return round_wide(env, fpcr, N, sign, exp, hi, lo, rounding)


@njit
def FPMul(env, fpcr, N, op1, op2, mulx, rounding):
    """FPMul, or FPMulX when mulx (infinity times zero gives 2.0)."""
    t1, s1, e1, m1 = FPUnpack(env, fpcr, N, op1)
    t2, s2, e2, m2 = FPUnpack(env, fpcr, N, op2)
    if is_nan(t1) or is_nan(t2):
        return FPProcessNaNs(env, fpcr, N, t1, t2, op1, op2)
    sign = s1 ^ s2
    inf1, inf2 = t1 == T_INF, t2 == T_INF
    zero1, zero2 = t1 == T_ZERO, t2 == T_ZERO
    if (inf1 and zero2) or (zero1 and inf2):
        if mulx:
            return FPTwo(sign, N)
        fp_exception(env, IOC)
        return FPDefaultNaN(N)
    if inf1 or inf2:
        return FPInfinity(sign, N)
    if zero1 or zero2:
        return FPZero(sign, N)
    hi, lo = wide_mul(m1, m2)
    mant, extra, sticky = wide_to_mant(hi, lo)
    return FPRound(env, fpcr, N, sign, e1 + e2 + extra, mant, sticky, rounding)


@njit
def FPDiv(env, fpcr, N, op1, op2, rounding):
    t1, s1, e1, m1 = FPUnpack(env, fpcr, N, op1)
    t2, s2, e2, m2 = FPUnpack(env, fpcr, N, op2)
    if is_nan(t1) or is_nan(t2):
        return FPProcessNaNs(env, fpcr, N, t1, t2, op1, op2)
    sign = s1 ^ s2
    inf1, inf2 = t1 == T_INF, t2 == T_INF
    zero1, zero2 = t1 == T_ZERO, t2 == T_ZERO
    if (inf1 and inf2) or (zero1 and zero2):
        fp_exception(env, IOC)
        return FPDefaultNaN(N)
    if inf1 or zero2:
        if not inf1:
            fp_exception(env, DZC)
        return FPInfinity(sign, N)
    if zero1 or inf2:
        return FPZero(sign, N)
    q, k, sticky = divide_mant(m1, m2)
    return FPRound(env, fpcr, N, sign, e1 - e2 - k, q, sticky, rounding)


@njit
def FPMulAdd(env, fpcr, N, addend, op1, op2, rounding):
    """addend + op1 * op2 with a single rounding."""
    ta, sa, ea, ma = FPUnpack(env, fpcr, N, addend)
    t1, s1, e1, m1 = FPUnpack(env, fpcr, N, op1)
    t2, s2, e2, m2 = FPUnpack(env, fpcr, N, op2)
    inf1, inf2, infa = t1 == T_INF, t2 == T_INF, ta == T_INF
    zero1, zero2, zeroa = t1 == T_ZERO, t2 == T_ZERO, ta == T_ZERO
    if is_nan(ta) or is_nan(t1) or is_nan(t2):
        result = FPProcessNaNs3(env, fpcr, N, ta, t1, t2, addend, op1, op2)
        if ta == T_QNAN and ((inf1 and zero2) or (zero1 and inf2)):
            fp_exception(env, IOC)
            return FPDefaultNaN(N)
        return result
    sp = s1 ^ s2
    infp = inf1 or inf2
    zerop = zero1 or zero2
    if (inf1 and zero2) or (zero1 and inf2) or (infa and infp and sa != sp):
        fp_exception(env, IOC)
        return FPDefaultNaN(N)
    if (infa and sa == 0) or (infp and sp == 0):
        return FPInfinity(0, N)
    if infa or infp:
        return FPInfinity(1, N)
    if zeroa and zerop and sa == sp:
        return FPZero(sa, N)
    if zeroa and zerop:
        return FPZero(1 if rounding == NEGINF else 0, N)
    if zerop:
        return FPRound(env, fpcr, N, sa, ea, ma, 0, rounding)
    hp, lp = wide_mul(m1, m2)
    if zeroa:
        mant, extra, sticky = wide_to_mant(hp, lp)
        return FPRound(env, fpcr, N, sp, e1 + e2 + extra, mant, sticky, rounding)
    sign, exp, hi, lo = exact_sum(sa, ea, 0, ma, sp, e1 + e2, hp, lp)
    return round_wide(env, fpcr, N, sign, exp, hi, lo, rounding)


@njit
def FPStepFused(env, fpcr, N, op1, op2, rsqrt, rounding):
    """FPRecipStepFused: 2 - op1*op2; FPRSqrtStepFused: (3 - op1*op2) / 2.  One rounding."""
    op1 = FPNeg(op1, N)
    t1, s1, e1, m1 = FPUnpack(env, fpcr, N, op1)
    t2, s2, e2, m2 = FPUnpack(env, fpcr, N, op2)
    if is_nan(t1) or is_nan(t2):
        return FPProcessNaNs(env, fpcr, N, t1, t2, op1, op2)
    inf1, inf2 = t1 == T_INF, t2 == T_INF
    zero1, zero2 = t1 == T_ZERO, t2 == T_ZERO
    if (inf1 and zero2) or (zero1 and inf2):
        return FPOnePointFive(0, N) if rsqrt else FPTwo(0, N)
    if inf1 or inf2:
        return FPInfinity(s1 ^ s2, N)
    # the constant, 2 or 3, as a mantissa; halving is one off the exponent
    ca = 3 if rsqrt else 1
    ea = 0 if rsqrt else 1
    half = 1 if rsqrt else 0
    if zero1 or zero2:
        return FPRound(env, fpcr, N, 0, ea - half, ca, 0, rounding)
    hp, lp = wide_mul(m1, m2)
    sign, exp, hi, lo = exact_sum(0, ea, 0, ca, s1 ^ s2, e1 + e2, hp, lp)
    return round_wide(env, fpcr, N, sign, exp - half, hi, lo, rounding)


@njit
def FPSqrt(env, fpcr, N, op, rounding):
    t, sign, exp, mant = FPUnpack(env, fpcr, N, op)
    if is_nan(t):
        return FPProcessNaN(env, fpcr, N, t, op)
    if t == T_ZERO:
        return FPZero(sign, N)
    if t == T_INF and sign == 0:
        return FPInfinity(0, N)
    if sign:
        fp_exception(env, IOC)
        return FPDefaultNaN(N)
    root, rexp, sticky = sqrt_mant(mant, exp)
    return FPRound(env, fpcr, N, 0, rexp, root, sticky, rounding)


# -- estimates -------------------------------------------------------------------------------

def _recip_estimate(a):
    """RecipEstimate: a in 256..511 (0.5 <= x < 1) to r in 256..511 (1 <= 1/x < 2)."""
    a = a * 2 + 1
    b = (1 << 19) // a
    return (b + 1) // 2


def _recip_sqrt_estimate(a):
    """RecipSqrtEstimate: a in 128..511 (0.25 <= x < 1) to r in 256..511."""
    if a < 256:
        a = a * 2 + 1
    else:
        a = (a >> 1) << 1
        a = (a + 1) * 2
    b = 512
    while a * (b + 1) * (b + 1) < (1 << 28):
        b += 1
    return (b + 1) // 2


RECIP_ESTIMATE = np.array([_recip_estimate(a) if a >= 256 else 0 for a in range(512)], np.int64)
RECIP_SQRT_ESTIMATE = np.array([_recip_sqrt_estimate(a) if a >= 128 else 0 for a in range(512)],
                               np.int64)


@njit
def FPRecipEstimate(env, fpcr, N, op):
    t, sign, exp, mant = FPUnpack(env, fpcr, N, op)
    F = frac_bits(N)
    E = exp_bits(N)
    if is_nan(t):
        return FPProcessNaN(env, fpcr, N, t, op)
    if t == T_INF:
        return FPZero(sign, N)
    if t == T_ZERO:
        fp_exception(env, DZC)
        return FPInfinity(sign, N)
    # Abs(value) < 2^-(2^(E-1)) (2^-16, 2^-128, 2^-1024): the reciprocal overflows
    if bit_length(mant) - 1 + exp < -(1 << (E - 1)):
        rounding = rounding_mode(fpcr, FPCR_ROUNDING)
        if rounding == TIEEVEN:
            to_inf = True
        elif rounding == POSINF:
            to_inf = sign == 0
        elif rounding == NEGINF:
            to_inf = sign == 1
        else:
            to_inf = False
        fp_exception(env, OFC | IXC)
        return FPInfinity(sign, N) if to_inf else FPMaxNormal(sign, N)
    # Abs(value) >= 2^(2^(E-1) - 2) (2^14, 2^126, 2^1022): the reciprocal is below the normals
    if N != 16 and (fpcr & FPCR_FZ) != 0 and bit_length(mant) - 1 + exp >= (1 << (E - 1)) - 2:
        fp_exception(env, UFC)
        return FPZero(sign, N)
    # the fraction as 52 bits, the exponent as encoded
    fraction = (op & ones(F)) << (52 - F)
    e = (op >> F) & ones(E)
    if e == 0:
        if (fraction >> 51) & 1 == 0:
            e = -1
            fraction = (fraction << 2) & ones(52)
        else:
            fraction = (fraction << 1) & ones(52)
    scaled = 256 | (fraction >> 44)
    result_exp = (1 << E) - 3 - e          # 29, 253 or 2045, minus the exponent
    estimate = RECIP_ESTIMATE[scaled]
    fraction = (estimate & 0xFF) << 44
    if result_exp == 0:
        fraction = (1 << 51) | (fraction >> 1)
    elif result_exp == -1:
        fraction = (1 << 50) | (fraction >> 2)
        result_exp = 0
    return (sign << (N - 1)) | (result_exp << F) | (fraction >> (52 - F))


@njit
def FPRSqrtEstimate(env, fpcr, N, op):
    t, sign, exp, mant = FPUnpack(env, fpcr, N, op)
    F = frac_bits(N)
    E = exp_bits(N)
    if is_nan(t):
        return FPProcessNaN(env, fpcr, N, t, op)
    if t == T_ZERO:
        fp_exception(env, DZC)
        return FPInfinity(sign, N)
    if sign:
        fp_exception(env, IOC)
        return FPDefaultNaN(N)
    if t == T_INF:
        return FPZero(0, N)
    fraction = (op & ones(F)) << (52 - F)
    e = (op >> F) & ones(E)
    if e == 0:
        while (fraction >> 51) & 1 == 0:
            fraction = fraction << 1
            e -= 1
        fraction = (fraction << 1) & ones(52)
    if e & 1 == 0:
        scaled = 256 | (fraction >> 44)
    else:
        scaled = 128 | (fraction >> 45)
    # (44, 380 or 3068 - exp) DIV 2: three times the bias, less one
    result_exp = (3 * ones(E - 1) - 1 - e) >> 1
    estimate = RECIP_SQRT_ESTIMATE[scaled]
    return (result_exp << F) | ((estimate & 0xFF) << (F - 8))


@njit
def FPRecpX(env, fpcr, N, op):
    t, sign, _, _ = FPUnpack(env, fpcr, N, op)
    F = frac_bits(N)
    E = exp_bits(N)
    if is_nan(t):
        return FPProcessNaN(env, fpcr, N, t, op)
    e = (op >> F) & ones(E)
    if e == 0:
        return (sign << (N - 1)) | ((ones(E) - 1) << F)
    return (sign << (N - 1)) | ((~e & ones(E)) << F)


@njit
def UnsignedRecipEstimate(op):
    if (op >> 31) & 1 == 0:
        return 0xFFFFFFFF
    return RECIP_ESTIMATE[(op >> 23) & 0x1FF] << 23


@njit
def UnsignedRSqrtEstimate(op):
    if (op >> 30) & 3 == 0:
        return 0xFFFFFFFF
    return RECIP_SQRT_ESTIMATE[(op >> 23) & 0x1FF] << 23


# -- integers and other formats --------------------------------------------------------------

@njit
def FPRoundInt(env, fpcr, N, op, rounding, exact):
    t, sign, exp, mant = FPUnpack(env, fpcr, N, op)
    if is_nan(t):
        return FPProcessNaN(env, fpcr, N, t, op)
    if t == T_INF:
        return FPInfinity(sign, N)
    if t == T_ZERO:
        return FPZero(sign, N)
    if exp >= 0:
        return op                          # already an integer
    ip, above, at, inexact = split_fixed(mant, -exp)
    r = round_magnitude(ip, above, at, inexact, sign, rounding)
    if inexact and exact:
        fp_exception(env, IXC)
    if r == 0:
        return FPZero(sign, N)
    return FPRound(env, fpcr, N, sign, 0, r, 0, ZERO)


@njit
def FPToFixed(env, fpcr, N, op, fbits, unsigned, rounding, M):
    """The M-bit integer (as int64 bits) of op * 2^fbits, rounded and saturated."""
    t, sign, exp, mant = FPUnpack(env, fpcr, N, op)
    if is_nan(t):
        fp_exception(env, IOC)
        return 0
    if t == T_ZERO:
        return 0
    overflow = t == T_INF
    inexact = False
    mag = 0
    if not overflow:
        e = exp + fbits
        top = bit_length(mant) - 1 + e
        if top >= 64:
            overflow = True
        elif top == 63:                    # 2^63 <= magnitude < 2^64, an integer
            bits = mant << e
            if unsigned and not sign and M == 64:
                return bits
            if not unsigned and sign and M == 64 and bits == INT64_MIN:
                return bits
            overflow = True
        elif e >= 0:
            mag = mant << e
        else:
            ip, above, at, inexact = split_fixed(mant, -e)
            mag = round_magnitude(ip, above, at, inexact, sign, rounding)
    if not overflow:
        if unsigned:
            overflow = (sign and mag != 0) or (M < 64 and mag > ones(M))
        elif sign:
            overflow = M < 64 and mag > (1 << (M - 1))
        else:
            overflow = mag > ones(M - 1)
    if overflow:
        fp_exception(env, IOC)
        if unsigned:
            return 0 if sign else ones(M)
        return -(1 << (M - 1)) if sign else ones(M - 1)
    if inexact:
        fp_exception(env, IXC)
    return -mag if sign else mag


@njit
def FixedToFP(env, fpcr, N, x, fbits, unsigned, rounding):
    """x / 2^fbits, x a signed or (unsigned) 64-bit integer."""
    if x == 0:
        return FPZero(0, N)
    sign = 0
    exp = -fbits
    if unsigned and x < 0:                 # 2^63 and above: keep 63 bits, jam the last
        mant = ((x >> 1) & ones(63)) | (x & 1)
        exp += 1
    elif x == INT64_MIN:
        sign = 1
        mant = 1 << 62
        exp += 1
    elif x < 0:
        sign = 1
        mant = -x
    else:
        mant = x
    return FPRound(env, fpcr, N, sign, exp, mant, 0, rounding)


@njit
def FPConvertNaN(op, N, M):
    sign = (op >> (N - 1)) & 1
    if N == 64:
        frac = op & ones(51)
    elif N == 32:
        frac = (op & ones(22)) << 29
    else:
        frac = (op & ones(9)) << 42
    if M == 64:
        return (sign << 63) | (ones(12) << 51) | frac
    if M == 32:
        return (sign << 31) | (ones(9) << 22) | (frac >> 29)
    return (sign << 15) | (ones(6) << 9) | (frac >> 42)


@njit
def FPConvert(env, fpcr, N, M, op, rounding):
    """op from N-bit to M-bit format (FZ applies to single and double, AHP to half)."""
    t, sign, exp, mant = FPUnpack(env, fpcr, N, op)
    alt_hp = M == 16 and (fpcr & FPCR_AHP) != 0
    if is_nan(t):
        if alt_hp:
            result = FPZero(sign, M)
        elif (fpcr & FPCR_DN) != 0:
            result = FPDefaultNaN(M)
        else:
            result = FPConvertNaN(op, N, M)
        if t == T_SNAN or alt_hp:
            fp_exception(env, IOC)
        return result
    if t == T_INF:
        if alt_hp:
            fp_exception(env, IOC)
            return (sign << 15) | 0x7FFF
        return FPInfinity(sign, M)
    if t == T_ZERO:
        return FPZero(sign, M)
    return FPRound(env, fpcr, M, sign, exp, mant, 0, rounding)


# -- entry points for translated code --------------------------------------------------------

_i64 = types.int64
_envp = types.CPointer(types.int64)


@njit
def binary(env, op, N, a, b):
    fpcr = env[_FPCR]
    rounding = rounding_mode(fpcr, FPCR_ROUNDING)
    if op == OP_ADD or op == OP_SUB:
        return FPAdd(env, fpcr, N, a, b, 1 if op == OP_SUB else 0, rounding)
    if op == OP_MUL or op == OP_MULX:
        return FPMul(env, fpcr, N, a, b, op == OP_MULX, rounding)
    if op == OP_DIV:
        return FPDiv(env, fpcr, N, a, b, rounding)
    if op == OP_MAX or op == OP_MAXNUM:
        return FPMaxMin(env, fpcr, N, a, b, True, op == OP_MAXNUM)
    if op == OP_MIN or op == OP_MINNUM:
        return FPMaxMin(env, fpcr, N, a, b, False, op == OP_MINNUM)
    if op == OP_RECPS or op == OP_RSQRTS:
        return FPStepFused(env, fpcr, N, a, b, op == OP_RSQRTS, rounding)
    if op == OP_CMP or op == OP_CMPE:
        return FPCompare(env, fpcr, N, a, b, op == OP_CMPE)
    return FPCompareOp(env, fpcr, N, a, b, op)


@export
@cfunc(_i64(_envp, _i64, _i64, _i64, _i64), cache=True)
def fp_binary(envp, op, N, a, b):
    """Two-operand operations (OP_*): the result encoding; 1/0 for OP_CMEQ/CMGE/CMGT; the
    NZCV nibble for OP_CMP/OP_CMPE."""
    return binary(carray(envp, (ENV_SIZE,)), op, N, a, b)


@export
@cfunc(_i64(_envp, _i64, _i64, _i64, _i64), cache=True)
def fp_muladd(envp, N, addend, a, b):
    """FPMulAdd(addend, a, b): fused, FPCR rounding."""
    env = carray(envp, (ENV_SIZE,))
    fpcr = env[_FPCR]
    return FPMulAdd(env, fpcr, N, addend, a, b, rounding_mode(fpcr, FPCR_ROUNDING))


@njit
def unary(env, op, N, a):
    fpcr = env[_FPCR]
    if op == OP_SQRT:
        return FPSqrt(env, fpcr, N, a, rounding_mode(fpcr, FPCR_ROUNDING))
    if op == OP_RECPE:
        return FPRecipEstimate(env, fpcr, N, a)
    if op == OP_RSQRTE:
        return FPRSqrtEstimate(env, fpcr, N, a)
    if op == OP_RECPX:
        return FPRecpX(env, fpcr, N, a)
    if op == OP_URECPE:
        return UnsignedRecipEstimate(a)
    return UnsignedRSqrtEstimate(a)


@export
@cfunc(_i64(_envp, _i64, _i64, _i64), cache=True)
def fp_unary(envp, op, N, a):
    """FPSqrt, FPRecipEstimate, FPRSqrtEstimate, FPRecpX, and the unsigned 32-bit estimates."""
    return unary(carray(envp, (ENV_SIZE,)), op, N, a)


@export
@cfunc(_i64(_envp, _i64, _i64, _i64, _i64), cache=True)
def fp_round_int(envp, N, a, rounding, exact):
    """FPRoundInt; rounding FPCR_ROUNDING means FPCR.RMode."""
    env = carray(envp, (ENV_SIZE,))
    fpcr = env[_FPCR]
    return FPRoundInt(env, fpcr, N, a, rounding_mode(fpcr, rounding), exact)


@export
@cfunc(_i64(_envp, _i64, _i64, _i64, _i64), cache=True)
def fp_convert(envp, N, M, a, rounding):
    """FPConvert from N to M bits; rounding FPCR_ROUNDING means FPCR.RMode (ODD for FCVTXN)."""
    env = carray(envp, (ENV_SIZE,))
    fpcr = env[_FPCR]
    return FPConvert(env, fpcr, N, M, a, rounding_mode(fpcr, rounding))


@export
@cfunc(_i64(_envp, _i64, _i64, _i64, _i64, _i64, _i64), cache=True)
def fp_to_fixed(envp, N, a, fbits, unsigned, rounding, M):
    """FPToFixed to an M-bit integer, returned as its int64 value (the caller truncates)."""
    env = carray(envp, (ENV_SIZE,))
    fpcr = env[_FPCR]
    return FPToFixed(env, fpcr, N, a, fbits, unsigned, rounding_mode(fpcr, rounding), M)


@export
@cfunc(_i64(_envp, _i64, _i64, _i64, _i64), cache=True)
def fixed_to_fp(envp, N, x, fbits, unsigned):
    """FixedToFP of a 64-bit integer (extended by the caller), FPCR rounding."""
    env = carray(envp, (ENV_SIZE,))
    fpcr = env[_FPCR]
    return FixedToFP(env, fpcr, N, x, fbits, unsigned, rounding_mode(fpcr, FPCR_ROUNDING))
