"""Pure helpers from the ARM manual's shared pseudocode, used by decode, disassembly and semantics."""


def sign_extend(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def ones(n: int) -> int:
    return (1 << n) - 1


def ror(value: int, amount: int, width: int) -> int:
    amount %= width
    value &= ones(width)
    return ((value >> amount) | (value << (width - amount))) & ones(width)


def replicate(value: int, esize: int, width: int) -> int:
    out = 0
    for pos in range(0, width, esize):
        out |= value << pos
    return out


def decode_bit_masks(N: int, imms: int, immr: int, immediate: bool, datasize: int):
    """DecodeBitMasks(): (wmask, tmask), or None where the encoding is reserved."""
    combined = (N << 6) | (~imms & 0x3F)
    if combined == 0:
        return None
    length = combined.bit_length() - 1
    if length < 1 or (1 << length) > datasize:
        return None
    levels = ones(length)
    if immediate and (imms & levels) == levels:
        return None
    S = imms & levels
    R = immr & levels
    diff = (S - R) & ones(length)
    esize = 1 << length
    d = diff & levels
    welem = ones(S + 1)
    telem = ones(d + 1)
    wmask = replicate(ror(welem, R, esize), esize, datasize)
    tmask = replicate(telem, esize, datasize)
    return wmask, tmask


def logical_imm_valid(sf: int, N: int, imms: int, immr: int) -> bool:
    if not sf and N:
        return False
    return decode_bit_masks(N, imms, immr, True, 64 if sf else 32) is not None


def vfp_expand_imm(imm8: int, N: int) -> int:
    """VFPExpandImm(): the 8-bit FMOV immediate as the bits of an N-bit float."""
    E = {16: 5, 32: 8, 64: 11}[N]
    F = N - E - 1
    sign = (imm8 >> 7) & 1
    b6 = (imm8 >> 6) & 1
    exp = ((b6 ^ 1) << (E - 1)) | (replicate(b6, 1, E - 3) << 2) | ((imm8 >> 4) & 3)
    frac = (imm8 & 0xF) << (F - 4)
    return (sign << (N - 1)) | (exp << F) | frac


def adv_simd_expand_imm(op: int, cmode: int, imm8: int) -> int:
    """AdvSIMDExpandImm(): the 64-bit pattern of a MOVI/MVNI/ORR/BIC/FMOV (vector, immediate)."""
    c = cmode >> 1
    if c == 0:
        return replicate(imm8, 32, 64)
    if c == 1:
        return replicate(imm8 << 8, 32, 64)
    if c == 2:
        return replicate(imm8 << 16, 32, 64)
    if c == 3:
        return replicate(imm8 << 24, 32, 64)
    if c == 4:
        return replicate(imm8, 16, 64)
    if c == 5:
        return replicate(imm8 << 8, 16, 64)
    if c == 6:
        if cmode & 1 == 0:
            return replicate((imm8 << 8) | 0xFF, 32, 64)
        return replicate((imm8 << 16) | 0xFFFF, 32, 64)
    if cmode & 1 == 0 and op == 0:
        return replicate(imm8, 8, 64)
    if cmode & 1 == 0 and op == 1:
        out = 0
        for i in range(8):
            if (imm8 >> i) & 1:
                out |= 0xFF << (8 * i)
        return out
    if cmode & 1 == 1 and op == 0:
        a = imm8
        bit = lambda k: (a >> k) & 1
        b6 = bit(6)
        imm32 = (bit(7) << 31) | ((b6 ^ 1) << 30) | (replicate(b6, 1, 5) << 25) | ((a & 0x3F) << 19)
        return replicate(imm32, 32, 64)
    # cmode == 1111, op == 1: FMOV (vector, immediate), double precision
    return vfp_expand_imm(imm8, 64)
