"""Data processing -- register."""
from ...jit.emitter import I1, I8, I16, I32, I64, I128
from . import sem
from .common import add_sub, add_with_carry, datatype, extend_reg, set_nz, shift_reg


@sem
def logical_shifted(t, sf, shift, Rm, imm6, Rn, Rd, opc, invert):
    e = t.e
    b = shift_reg(t, t.X(Rm, sf), shift, imm6)
    if invert:
        b = e.not_(b)
    a = t.X(Rn, sf)
    res = (e.and_, e.or_, e.xor, e.and_)[opc](a, b)
    if opc == 3:
        set_nz(t, res)
    t.set_X(Rd, res)


@sem
def addsub_shifted(t, sf, shift, Rm, imm6, Rn, Rd, sub, setflags):
    res = add_sub(t, t.X(Rn, sf), shift_reg(t, t.X(Rm, sf), shift, imm6), sub, setflags)
    t.set_X(Rd, res)


@sem
def addsub_ext(t, sf, Rm, option, imm3, Rn, Rd, sub, setflags):
    res = add_sub(t, t.XSP(Rn, sf), extend_reg(t, Rm, option, imm3, sf), sub, setflags)
    if setflags:
        t.set_X(Rd, res)
    else:
        t.set_XSP(Rd, res)


@sem
def addsub_carry(t, sf, Rm, Rn, Rd, sub, setflags):
    e = t.e
    b = t.X(Rm, sf)
    if sub:
        b = e.not_(b)
    res, flags = add_with_carry(t, t.X(Rn, sf), b, t.flag("C"))
    if setflags:
        t.set_nzcv(*flags)
    t.set_X(Rd, res)


@sem
def cond_compare(t, sf, cond, Rn, nzcv, sub, immediate, Rm=None, imm5=None):
    e = t.e
    ty = datatype(sf)
    b = e.c(ty, imm5) if immediate else t.X(Rm, sf)
    if sub:
        b = e.not_(b)
    _, (n, z, c, v) = add_with_carry(t, t.X(Rn, sf), b, e.c(I1, sub))
    ok = t.condition_holds(cond)
    flags = [e.select(ok, f, e.c(I1, (nzcv >> bit) & 1)) for f, bit in ((n, 3), (z, 2), (c, 1), (v, 0))]
    t.set_nzcv(*flags)


@sem
def cond_select(t, sf, Rm, cond, Rn, Rd, op, o2):
    e = t.e
    b = t.X(Rm, sf)
    if op:
        b = e.not_(b)
    if o2:
        b = e.add(b, e.c(b.ty, 1))
    t.set_X(Rd, e.select(t.condition_holds(cond), t.X(Rn, sf), b))


@sem
def mul_add(t, sf, Rm, Ra, Rn, Rd, sub):
    e = t.e
    prod = e.mul(t.X(Rn, sf), t.X(Rm, sf))
    a = t.X(Ra, sf)
    t.set_X(Rd, e.sub(a, prod) if sub else e.add(a, prod))


@sem
def mul_long(t, Rm, Ra, Rn, Rd, unsigned, sub):
    e = t.e
    ext = e.zext if unsigned else e.sext
    prod = e.mul(ext(t.X(Rn, 0), I64), ext(t.X(Rm, 0), I64))
    a = t.X(Ra)
    t.set_X(Rd, e.sub(a, prod) if sub else e.add(a, prod))


@sem
def mul_high(t, Rm, Rn, Rd, unsigned):
    e = t.e
    ext = e.zext if unsigned else e.sext
    prod = e.mul(ext(t.X(Rn), I128), ext(t.X(Rm), I128))
    t.set_X(Rd, e.trunc(e.lshr(prod, e.c(I128, 64)), I64))


@sem
def divide(t, sf, Rm, Rn, Rd, signed):
    """Division by zero gives zero; INT_MIN / -1 gives INT_MIN (no trap)."""
    e = t.e
    ty = datatype(sf)
    a, b = t.X(Rn, sf), t.X(Rm, sf)
    zero = e.icmp("eq", b, e.c(ty, 0))
    if signed:
        overflow = e.and_(e.icmp("eq", a, e.c(ty, 1 << (63 if sf else 31))),
                          e.icmp("eq", b, e.c(ty, -1)))
        safe_b = e.select(e.or_(zero, overflow), e.c(ty, 1), b)
        q = e.sdiv(a, safe_b)
        q = e.select(zero, e.c(ty, 0), q)
    else:
        q = e.select(zero, e.c(ty, 0), e.udiv(a, e.select(zero, e.c(ty, 1), b)))
    t.set_X(Rd, q)


@sem
def shift_var(t, sf, Rm, Rn, Rd, shift):
    e = t.e
    ty = datatype(sf)
    amount = e.and_(t.X(Rm, sf), e.c(ty, (64 if sf else 32) - 1))
    a = t.X(Rn, sf)
    if shift == 3:
        res = e.intrinsic(f"llvm.fshr.{ty}", ty, a, a, amount)
    else:
        res = (e.shl, e.lshr, e.ashr)[shift](a, amount)
    t.set_X(Rd, res)


@sem
def crc32(t, Rm, Rn, Rd, nbytes, castagnoli):
    """CRC32/CRC32C, reflected, as the manual defines them: no final XOR, no inversion."""
    e = t.e
    poly = 0x82F63B78 if castagnoli else 0xEDB88320
    acc = t.X(Rn, 0)
    data = e.resize(t.X(Rm, 1 if nbytes == 8 else 0), {1: I8, 2: I16, 4: I32, 8: I64}[nbytes])
    # fold the data in 32 bits at a time (the low bits first), then shift it through bitwise
    crc = e.zext(acc, I64)
    crc = e.xor(crc, e.zext(data, I64) if nbytes < 8 else e.and_(data, e.c(I64, 0xFFFFFFFF)))
    hi = e.lshr(data, e.c(I64, 32)) if nbytes == 8 else None
    for i in range(8 * nbytes):
        if i == 32:
            crc = e.xor(crc, hi)
        lsb = e.trunc(crc, I1)
        crc = e.lshr(crc, e.c(I64, 1))
        crc = e.xor(crc, e.select(lsb, e.c(I64, poly), e.c(I64, 0)))
    t.set_X(Rd, e.trunc(crc, I32))


@sem
def RBIT(t, sf, Rn, Rd):
    ty = datatype(sf)
    t.set_X(Rd, t.e.intrinsic(f"llvm.bitreverse.{ty}", ty, t.X(Rn, sf)))


@sem
def rev(t, sf, Rn, Rd, container):
    e = t.e
    ty = datatype(sf)
    v = t.X(Rn, sf)
    datasize = 64 if sf else 32
    if container == datasize:
        t.set_X(Rd, e.intrinsic(f"llvm.bswap.{ty}", ty, v))
        return
    # reverse bytes within each container: bswap, then swap the containers back
    sw = e.intrinsic(f"llvm.bswap.{ty}", ty, v)
    if container == 32:
        sw = e.intrinsic(f"llvm.fshr.{ty}", ty, sw, sw, e.c(ty, 32))
    else:  # 16-bit containers: swap adjacent bytes
        m = 0x00FF00FF00FF00FF & ((1 << datasize) - 1)
        sw = e.or_(e.and_(e.lshr(v, e.c(ty, 8)), e.c(ty, m)), e.shl(e.and_(v, e.c(ty, m)), e.c(ty, 8)))
    t.set_X(Rd, sw)


@sem
def count_leading(t, sf, Rn, Rd, signed):
    e = t.e
    ty = datatype(sf)
    v = t.X(Rn, sf)
    if signed:
        # CLS: leading bits equal to the sign bit, not counting the sign bit itself
        v = e.xor(v, e.ashr(v, e.c(ty, (64 if sf else 32) - 1)))
        v = e.or_(e.shl(v, e.c(ty, 1)), e.c(ty, 1))
    t.set_X(Rd, e.intrinsic(f"llvm.ctlz.{ty}", ty, v, e.c(I1, 0)))
