"""Disassembly from the encoding table.

Each row's `asm` (and each of its `alias` entries, the manual's preferred disassembly) is an
f-string evaluated over the row's fields, `pc`, and the helpers below.  Output follows the
spelling LLVM and capstone use, so the two can be compared word for word.
"""
from __future__ import annotations

from .bits import decode_bit_masks, sign_extend, vfp_expand_imm, adv_simd_expand_imm

COND = ("eq", "ne", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le",
        "al", "nv")
SHIFT = ("lsl", "lsr", "asr", "ror")
EXTEND = ("uxtb", "uxth", "uxtw", "uxtx", "sxtb", "sxth", "sxtw", "sxtx")


def imm(v: int) -> str:
    if v > 9:
        return f"#0x{v:x}"
    if v < -9:
        return f"#-0x{-v:x}"
    return f"#{v}"


def r(n: int, sf: int = 1) -> str:
    """General register, 31 is the zero register."""
    if n == 31:
        return "xzr" if sf else "wzr"
    return f"x{n}" if sf else f"w{n}"


def rs(n: int, sf: int = 1) -> str:
    """General register, 31 is the stack pointer."""
    if n == 31:
        return "sp" if sf else "wsp"
    return f"x{n}" if sf else f"w{n}"


def x(n):
    return r(n, 1)


def w(n):
    return r(n, 0)


def xs(n):
    return rs(n, 1)


def cc(c: int) -> str:
    return COND[c]


def invcc(c: int) -> str:
    return COND[c ^ 1]


def dec(v: int) -> str:
    return f"#{v}"


def shifted(sh: int, amount: int) -> str:
    return f", {SHIFT[sh]} #{amount}" if amount or sh else ""


def target(pc: int, offset: int, bits: int, scale: int = 4) -> str:
    return f"#0x{(pc + sign_extend(offset, bits) * scale) & 0xFFFFFFFFFFFFFFFF:x}"


def simm(v: int, bits: int, scale: int = 1) -> int:
    return sign_extend(v, bits) * scale


def bitmask(sf, N, imms, immr) -> str:
    return imm(decode_bit_masks(N, imms, immr, True, 64 if sf else 32)[0])


def extend(option: int, imm3: int, sf: int, Rd: int, Rn: int, Rm: int, setflags: int) -> str:
    """Rm with its extend; UXTW/UXTX beside SP prints as LSL (the manual's preference)."""
    reg = r(Rm, 1 if sf and (option & 3) == 3 else 0)
    if ((Rd == 31 and not setflags) or Rn == 31) and option == (3 if sf else 2):
        return f"{reg}, lsl {imm(imm3)}" if imm3 else reg
    return f"{reg}, {EXTEND[option]}" + (f" {imm(imm3)}" if imm3 else "")


def regext(option: int, S: int, scale: int) -> str:
    """The index of a register-offset load/store."""
    amount = f" {imm(scale)}" if S else ""
    if option == 3:
        return f", lsl{amount}" if S else ""
    return f", {EXTEND[option]}{amount}"


def movz_preferred(sf, N, imms, immr) -> bool:
    """MoveWidePreferred(): whether MOVZ/MOVN is the preferred way to show ORR (immediate)."""
    width = 64 if sf else 32
    if sf and N == 0:
        return False
    if not sf and (N or imms >= 32):
        return False
    if imms < 16:
        return (-immr % 16) <= (15 - imms)
    if imms >= width - 15:
        return (immr % 16) <= (imms - (width - 15))
    return False


PRFOP = {0: "pld", 2: "pli", 4: "pst"}


def prfop(Rt: int) -> str:
    kind = PRFOP.get((Rt >> 3) << 1)
    target = (Rt >> 1) & 3
    if kind is None or target == 3:
        return imm(Rt)
    return f"{kind}l{target + 1}{'strm' if Rt & 1 else 'keep'}"


BARRIER = {1: "oshld", 2: "oshst", 3: "osh", 5: "nshld", 6: "nshst", 7: "nsh", 9: "ishld",
           10: "ishst", 11: "ish", 13: "ld", 14: "st", 15: "sy"}


def barrier(CRm: int) -> str:
    return BARRIER.get(CRm, imm(CRm))


def sys_text(op1, CRn, CRm, op2, Rt) -> str:
    from ..cpu.sysregs import sys_alias
    name = sys_alias(op1, CRn, CRm, op2)
    if name is None:
        return f"sys {imm(op1)}, c{CRn}, c{CRm}, {imm(op2)}" + (f", {x(Rt)}" if Rt != 31 else "")
    kind, op = name
    return f"{kind} {op}" + (f", {x(Rt)}" if Rt != 31 or kind == "dc" else "")


def fpimm(imm8: int, bits: int) -> str:
    import struct
    raw = vfp_expand_imm(imm8, bits)
    if bits == 64:
        v = struct.unpack("<d", raw.to_bytes(8, "little"))[0]
    elif bits == 32:
        v = struct.unpack("<f", raw.to_bytes(4, "little"))[0]
    else:
        v = struct.unpack("<e", raw.to_bytes(2, "little"))[0]
    return f"#{v:.8f}"


def sysreg(o0, op1, CRn, CRm, op2) -> str:
    from ..cpu.sysregs import name_of
    return name_of(2 + o0, op1, CRn, CRm, op2)


def simdimm(op, cmode, imm8) -> int:
    return adv_simd_expand_imm(op, cmode, imm8)


# --- SIMD&FP registers -------------------------------------------------------------------

ARRANGEMENT = ("8b", "16b", "4h", "8h", "2s", "4s", "1d", "2d")
FTYPE_REG = {0: "s", 1: "d", 3: "h"}


def arr(Q: int, size: int) -> str:
    """The vector arrangement of Q and an element size 0..3: 8b 16b 4h 8h 2s 4s 1d 2d."""
    return ARRANGEMENT[2 * size + Q]


def vreg(n: int, Q: int, size: int) -> str:
    """A vector register with its arrangement: v3.4s."""
    return f"v{n}.{arr(Q, size)}"


def sreg(n: int, size: int) -> str:
    """A scalar SIMD&FP register of element size 0..4: b3 h3 s3 d3 q3."""
    return f"{'bhsdq'[size]}{n}"


def fpr(n: int, ftype: int) -> str:
    """A scalar FP register of an FP instruction's ftype (00 s, 01 d, 11 h)."""
    return f"{FTYPE_REG[ftype]}{n}"


def lane(index: int) -> str:
    """An element index in brackets; above 9 in hex, as capstone prints it: [3], [0xc]."""
    return f"[{index if index <= 9 else hex(index)}]"


def velem(n: int, size: int, index: int) -> str:
    """A vector element: v1.s[2]."""
    return f"v{n}.{'bhsd'[size]}{lane(index)}"


def vlist(first: int, count: int, suffix: str) -> str:
    """A register list, numbers wrapping after v31: {v31.16b, v0.16b}."""
    return "{" + ", ".join(f"v{(first + i) % 32}.{suffix}" for i in range(count)) + "}"


def lowsize(imm5: int) -> int:
    """The element size of a copy instruction's imm5: its lowest set bit."""
    return (imm5 & -imm5).bit_length() - 1


def lowindex(imm5: int) -> int:
    """The element index of a copy instruction's imm5: the bits above the lowest set one."""
    return imm5 >> (lowsize(imm5) + 1)


def hsize(immh: int) -> int:
    """The element size of a shift-by-immediate's immh: its highest set bit."""
    return immh.bit_length() - 1


def shr_amount(immh: int, immb: int) -> int:
    return (16 << hsize(immh)) - ((immh << 3) | immb)


def shl_amount(immh: int, immb: int) -> int:
    return ((immh << 3) | immb) - (8 << hsize(immh))


def ixreg(size: int, M: int, Rm: int) -> int:
    """The Vm of a by-element instruction: 16-bit elements reach only v0-v15."""
    return Rm if size == 1 else (M << 4) | Rm


def ixindex(size: int, H: int, L: int, M: int) -> int:
    """The element index of a by-element instruction: H:L:M, H:L or H by element size."""
    return {1: (H << 2) | (L << 1) | M, 2: (H << 1) | L, 3: H}[size]


def modimm(abc: int, defgh: int) -> int:
    """The imm8 of an AdvSIMD modified-immediate instruction, a:b:c:d:e:f:g:h."""
    return (abc << 5) | defgh


HELPERS = {k: v for k, v in dict(globals()).items()
           if callable(v) and not k.startswith("_") and k not in ("annotations",)}


class Disassembler:
    def __init__(self, decoder):
        self.decoder = decoder
        self._code = {}

    def _compiled(self, template: str):
        code = self._code.get(template)
        if code is None:
            code = self._code[template] = compile("f" + repr(template), "<asm>", "eval")
        return code

    def text(self, word: int, pc: int = 0) -> str:
        hit = self.decoder.decode(word)
        if hit is None:
            return f".inst 0x{word:08x} ; undefined"
        row, fields = hit
        ns = dict(HELPERS)
        ns.update(fields)
        ns.update(row.args)
        ns["pc"] = pc
        for when, template in row.alias:
            if eval(self._compiled_when(when), ns):
                return eval(self._compiled(template), ns).strip()
        return eval(self._compiled(row.asm), ns).strip()

    def _compiled_when(self, when: str):
        key = ("when", when)
        code = self._code.get(key)
        if code is None:
            code = self._code[key] = compile(when, "<alias when>", "eval")
        return code
