"""Data processing -- immediate."""
from ..bits import decode_bit_masks, sign_extend
from ...jit.emitter import I64
from . import sem
from .common import add_sub, datatype, set_nz


@sem
def ADR(t, immlo, immhi, Rd):
    t.set_X(Rd, t.e.c(I64, t.pc + sign_extend((immhi << 2) | immlo, 21)))


@sem
def ADRP(t, immlo, immhi, Rd):
    t.set_X(Rd, t.e.c(I64, (t.pc & ~0xFFF) + (sign_extend((immhi << 2) | immlo, 21) << 12)))


@sem
def addsub_imm(t, sf, sh, imm12, Rn, Rd, sub, setflags):
    e = t.e
    res = add_sub(t, t.XSP(Rn, sf), e.c(datatype(sf), imm12 << (12 * sh)), sub, setflags)
    if setflags:
        t.set_X(Rd, res)
    else:
        t.set_XSP(Rd, res)


@sem
def logical_imm(t, sf, N, immr, imms, Rn, Rd, opc):
    e = t.e
    datasize = 64 if sf else 32
    imm = e.c(datatype(sf), decode_bit_masks(N, imms, immr, True, datasize)[0])
    a = t.X(Rn, sf)
    res = (e.and_, e.or_, e.xor, e.and_)[opc](a, imm)
    if opc == 3:
        set_nz(t, res)
        t.set_X(Rd, res)
    else:
        t.set_XSP(Rd, res)


@sem
def move_wide(t, sf, hw, imm16, Rd, opc):
    e = t.e
    ty = datatype(sf)
    pos = hw * 16
    if opc == 3:       # MOVK keeps the other bits
        old = t.X(Rd, sf)
        res = e.or_(e.and_(old, e.c(ty, ~(0xFFFF << pos))), e.c(ty, imm16 << pos))
    elif opc == 0:
        res = e.c(ty, ~(imm16 << pos))
    else:
        res = e.c(ty, imm16 << pos)
    t.set_X(Rd, res)


@sem
def bitfield(t, sf, N, immr, imms, Rn, Rd, opc):
    """SBFM/BFM/UBFM, following the manual's pseudocode with rotate, masks and sign fill."""
    e = t.e
    ty = datatype(sf)
    datasize = 64 if sf else 32
    wmask, tmask = decode_bit_masks(N, imms, immr, False, datasize)
    src = t.X(Rn, sf)
    dst = t.X(Rd, sf) if opc == 1 else e.c(ty, 0)
    rot = e.intrinsic(f"llvm.fshr.{ty}", ty, src, src, e.c(ty, immr)) if immr else src
    bot = e.or_(e.and_(dst, e.c(ty, ~wmask)), e.and_(rot, e.c(ty, wmask)))
    if opc == 0:
        # Replicate(src<imms>): shift bit imms to the top, then arithmetic shift back
        top = e.ashr(e.shl(src, e.c(ty, datasize - 1 - imms)), e.c(ty, datasize - 1))
    elif opc == 1:
        top = dst
    else:
        top = e.c(ty, 0)
    res = e.or_(e.and_(top, e.c(ty, ~tmask)), e.and_(bot, e.c(ty, tmask)))
    t.set_X(Rd, res)


@sem
def EXTR(t, sf, N, Rm, imms, Rn, Rd):
    e = t.e
    ty = datatype(sf)
    res = e.intrinsic(f"llvm.fshr.{ty}", ty, t.X(Rn, sf), t.X(Rm, sf), e.c(ty, imms))
    t.set_X(Rd, res)
