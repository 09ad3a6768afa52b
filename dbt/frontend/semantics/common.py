"""Shared pseudocode of the manual: AddWithCarry, ShiftReg, ExtendReg."""
from ...jit.emitter import I1, I8, I16, I32, I64


def datatype(sf):
    return I64 if sf else I32


def add_with_carry(t, x, y, carry_in):
    """AddWithCarry(x, y, carry_in) -> (result, (n, z, c, v)); carry_in is an i1 Value."""
    e = t.e
    ty = x.ty
    s1 = e.add(x, y)
    res = e.add(s1, e.zext(carry_in, ty))
    # unsigned carry: carry out of x + y, or of (x + y) + carry_in
    c1 = e.icmp("ult", s1, x)
    c2 = e.icmp("ult", res, s1)
    c = e.or_(c1, c2)
    zero = e.c(ty, 0)
    v = e.icmp("slt", e.and_(e.xor(x, res), e.xor(y, res)), zero)
    n = e.icmp("slt", res, zero)
    z = e.icmp("eq", res, zero)
    return res, (n, z, c, v)


def add_sub(t, x, y, sub, setflags):
    """x + y or x - y (as x + NOT(y) + 1), setting NZCV when asked."""
    e = t.e
    if sub:
        y = e.not_(y)
    if not setflags:
        return e.add(x, y) if not sub else e.add(e.add(x, y), e.c(x.ty, 1))
    res, flags = add_with_carry(t, x, y, e.c(I1, sub))
    t.set_nzcv(*flags)
    return res


def shift_reg(t, v, shift_type, amount):
    """ShiftReg() with a constant amount."""
    e = t.e
    if amount == 0:
        return v
    a = e.c(v.ty, amount)
    if shift_type == 0:
        return e.shl(v, a)
    if shift_type == 1:
        return e.lshr(v, a)
    if shift_type == 2:
        return e.ashr(v, a)
    return e.intrinsic(f"llvm.fshr.{v.ty}", v.ty, v, v, a)


def extend_reg(t, n, option, shift, sf):
    """ExtendReg(): register n extended by option (UXTB..SXTX) and shifted left."""
    e = t.e
    ty = datatype(sf)
    size = 8 << (option & 3)
    v = t.X(n, 1 if size == 64 else 0)
    part = {8: I8, 16: I16, 32: I32, 64: I64}[size]
    v = e.trunc(v, part)
    v = e.sext(v, I64) if option & 4 else e.zext(v, I64)
    v = e.trunc(v, ty)
    if shift:
        v = e.shl(v, e.c(ty, shift))
    return v


def set_nz(t, res):
    e = t.e
    zero = e.c(res.ty, 0)
    t.set_nzcv(e.icmp("slt", res, zero), e.icmp("eq", res, zero), e.c(I1, 0), e.c(I1, 0))
