"""Data processing -- register (op0 = x101)."""
from ..encoding import Row as I

SHIFTED = "{r(Rm,sf)}{shifted(shift, imm6)}"


def _logical(name, opc, N, mn, alias=()):
    return I(name, f"sf {opc:02b} 01010 shift {N} Rm imm6 Rn Rd",
             f"{mn} {{r(Rd,sf)}}, {{r(Rn,sf)}}, " + SHIFTED, when="sf or imm6 < 32",
             sem="logical_shifted", args=dict(opc=opc, invert=N), alias=list(alias))


def _addsub(name, op, S, mn, alias=()):
    return I(name, f"sf {op} {S} 01011 shift 0 Rm imm6 Rn Rd",
             f"{mn} {{r(Rd,sf)}}, {{r(Rn,sf)}}, " + SHIFTED, when="shift != 3 and (sf or imm6 < 32)",
             sem="addsub_shifted", args=dict(sub=op, setflags=S), alias=list(alias))


def _addsub_ext(name, op, S, mn, alias=()):
    d = "r(Rd,sf)" if S else "rs(Rd,sf)"
    return I(name, f"sf {op} {S} 01011 00 1 Rm option imm3 Rn Rd",
             f"{mn} {{{d}}}, {{rs(Rn,sf)}}, {{extend(option, imm3, sf, Rd, Rn, Rm, {S})}}",
             when="imm3 <= 4", sem="addsub_ext", args=dict(sub=op, setflags=S), alias=list(alias))


def _dp2(name, opcode, mn, when=None, sem=None, args=None):
    return I(name, f"sf 0 0 11010110 Rm {opcode} Rn Rd", f"{mn} {{r(Rd,sf)}}, {{r(Rn,sf)}}, {{r(Rm,sf)}}",
             when=when, sem=sem, args=args or {})


def _crc(name, opcode, sf, mn, c):
    size = int(opcode[-2:], 2)
    return I(name, f"{sf} 0 0 11010110 Rm {opcode} Rn Rd",
             f"{mn} {{w(Rd)}}, {{w(Rn)}}, {{{'x' if sf == 1 else 'w'}(Rm)}}",
             sem="crc32", args=dict(nbytes=1 << size, castagnoli=c))


def _dp1(name, opcode, mn, when=None, sem=None, args=None):
    return I(name, f"sf 1 0 11010110 00000 {opcode} Rn Rd", f"{mn} {{r(Rd,sf)}}, {{r(Rn,sf)}}",
             when=when, sem=sem, args=args or {})


def _dp3(name, sf, op31, o0, mn, long_=False, high=False, alias=()):
    if high:
        return I(name, f"{sf} 00 11011 {op31} Rm {o0} xxxxx Rn Rd", f"{mn} {{x(Rd)}}, {{x(Rn)}}, {{x(Rm)}}",
                 sem="mul_high", args=dict(unsigned=op31[0] == "1"))
    if long_:
        return I(name, f"{sf} 00 11011 {op31} Rm {o0} Ra Rn Rd",
                 f"{mn} {{x(Rd)}}, {{w(Rn)}}, {{w(Rm)}}, {{x(Ra)}}", sem="mul_long",
                 args=dict(unsigned=op31[0] == "1", sub=int(o0)), alias=list(alias))
    return I(name, f"sf 00 11011 {op31} Rm {o0} Ra Rn Rd",
             f"{mn} {{r(Rd,sf)}}, {{r(Rn,sf)}}, {{r(Rm,sf)}}, {{r(Ra,sf)}}", sem="mul_add",
             args=dict(sub=int(o0)), alias=list(alias))


CSEL_ALIAS_INC = [("Rm == 31 and Rn == 31 and (cond >> 1) != 7", "cset {r(Rd,sf)}, {invcc(cond)}"),
                  ("Rm == Rn and (cond >> 1) != 7", "cinc {r(Rd,sf)}, {r(Rn,sf)}, {invcc(cond)}")]
CSEL_ALIAS_INV = [("Rm == 31 and Rn == 31 and (cond >> 1) != 7", "csetm {r(Rd,sf)}, {invcc(cond)}"),
                  ("Rm == Rn and (cond >> 1) != 7", "cinv {r(Rd,sf)}, {r(Rn,sf)}, {invcc(cond)}")]
CSEL_ALIAS_NEG = [("Rm == Rn and (cond >> 1) != 7", "cneg {r(Rd,sf)}, {r(Rn,sf)}, {invcc(cond)}")]

ROWS = [
    _logical("AND_shift", 0, 0, "and"),
    _logical("BIC_shift", 0, 1, "bic"),
    _logical("ORR_shift", 1, 0, "orr",
             [("Rn == 31 and imm6 == 0 and shift == 0", "mov {r(Rd,sf)}, {r(Rm,sf)}")]),
    _logical("ORN_shift", 1, 1, "orn", [("Rn == 31", "mvn {r(Rd,sf)}, " + SHIFTED)]),
    _logical("EOR_shift", 2, 0, "eor"),
    _logical("EON_shift", 2, 1, "eon"),
    _logical("ANDS_shift", 3, 0, "ands", [("Rd == 31", "tst {r(Rn,sf)}, " + SHIFTED)]),
    _logical("BICS_shift", 3, 1, "bics"),

    _addsub("ADD_shift", 0, 0, "add"),
    _addsub("ADDS_shift", 0, 1, "adds", [("Rd == 31", "cmn {r(Rn,sf)}, " + SHIFTED)]),
    _addsub("SUB_shift", 1, 0, "sub", [("Rn == 31", "neg {r(Rd,sf)}, " + SHIFTED)]),
    _addsub("SUBS_shift", 1, 1, "subs", [("Rd == 31", "cmp {r(Rn,sf)}, " + SHIFTED),
                                         ("Rn == 31", "negs {r(Rd,sf)}, " + SHIFTED)]),
    _addsub_ext("ADD_ext", 0, 0, "add"),
    _addsub_ext("ADDS_ext", 0, 1, "adds",
                [("Rd == 31", "cmn {rs(Rn,sf)}, {extend(option, imm3, sf, Rd, Rn, Rm, 1)}")]),
    _addsub_ext("SUB_ext", 1, 0, "sub"),
    _addsub_ext("SUBS_ext", 1, 1, "subs",
                [("Rd == 31", "cmp {rs(Rn,sf)}, {extend(option, imm3, sf, Rd, Rn, Rm, 1)}")]),

    I("ADC", "sf 0 0 11010000 Rm 000000 Rn Rd", "adc {r(Rd,sf)}, {r(Rn,sf)}, {r(Rm,sf)}",
      sem="addsub_carry", args=dict(sub=0, setflags=0)),
    I("ADCS", "sf 0 1 11010000 Rm 000000 Rn Rd", "adcs {r(Rd,sf)}, {r(Rn,sf)}, {r(Rm,sf)}",
      sem="addsub_carry", args=dict(sub=0, setflags=1)),
    I("SBC", "sf 1 0 11010000 Rm 000000 Rn Rd", "sbc {r(Rd,sf)}, {r(Rn,sf)}, {r(Rm,sf)}",
      sem="addsub_carry", args=dict(sub=1, setflags=0),
      alias=[("Rn == 31", "ngc {r(Rd,sf)}, {r(Rm,sf)}")]),
    I("SBCS", "sf 1 1 11010000 Rm 000000 Rn Rd", "sbcs {r(Rd,sf)}, {r(Rn,sf)}, {r(Rm,sf)}",
      sem="addsub_carry", args=dict(sub=1, setflags=1),
      alias=[("Rn == 31", "ngcs {r(Rd,sf)}, {r(Rm,sf)}")]),

    I("CCMN_reg", "sf 0 1 11010010 Rm cond 0 0 Rn 0 nzcv", "ccmn {r(Rn,sf)}, {r(Rm,sf)}, {imm(nzcv)}, {cc(cond)}",
      sem="cond_compare", args=dict(sub=0, immediate=0)),
    I("CCMP_reg", "sf 1 1 11010010 Rm cond 0 0 Rn 0 nzcv", "ccmp {r(Rn,sf)}, {r(Rm,sf)}, {imm(nzcv)}, {cc(cond)}",
      sem="cond_compare", args=dict(sub=1, immediate=0)),
    I("CCMN_imm", "sf 0 1 11010010 imm5 cond 1 0 Rn 0 nzcv", "ccmn {r(Rn,sf)}, {imm(imm5)}, {imm(nzcv)}, {cc(cond)}",
      sem="cond_compare", args=dict(sub=0, immediate=1)),
    I("CCMP_imm", "sf 1 1 11010010 imm5 cond 1 0 Rn 0 nzcv", "ccmp {r(Rn,sf)}, {imm(imm5)}, {imm(nzcv)}, {cc(cond)}",
      sem="cond_compare", args=dict(sub=1, immediate=1)),

    I("CSEL", "sf 0 0 11010100 Rm cond 0 0 Rn Rd", "csel {r(Rd,sf)}, {r(Rn,sf)}, {r(Rm,sf)}, {cc(cond)}",
      sem="cond_select", args=dict(op=0, o2=0)),
    I("CSINC", "sf 0 0 11010100 Rm cond 0 1 Rn Rd", "csinc {r(Rd,sf)}, {r(Rn,sf)}, {r(Rm,sf)}, {cc(cond)}",
      sem="cond_select", args=dict(op=0, o2=1), alias=CSEL_ALIAS_INC),
    I("CSINV", "sf 1 0 11010100 Rm cond 0 0 Rn Rd", "csinv {r(Rd,sf)}, {r(Rn,sf)}, {r(Rm,sf)}, {cc(cond)}",
      sem="cond_select", args=dict(op=1, o2=0), alias=CSEL_ALIAS_INV),
    I("CSNEG", "sf 1 0 11010100 Rm cond 0 1 Rn Rd", "csneg {r(Rd,sf)}, {r(Rn,sf)}, {r(Rm,sf)}, {cc(cond)}",
      sem="cond_select", args=dict(op=1, o2=1), alias=CSEL_ALIAS_NEG),

    _dp3("MADD", "sf", "000", "0", "madd", alias=[("Ra == 31", "mul {r(Rd,sf)}, {r(Rn,sf)}, {r(Rm,sf)}")]),
    _dp3("MSUB", "sf", "000", "1", "msub", alias=[("Ra == 31", "mneg {r(Rd,sf)}, {r(Rn,sf)}, {r(Rm,sf)}")]),
    _dp3("SMADDL", "1", "001", "0", "smaddl", long_=True, alias=[("Ra == 31", "smull {x(Rd)}, {w(Rn)}, {w(Rm)}")]),
    _dp3("SMSUBL", "1", "001", "1", "smsubl", long_=True, alias=[("Ra == 31", "smnegl {x(Rd)}, {w(Rn)}, {w(Rm)}")]),
    _dp3("SMULH", "1", "010", "0", "smulh", high=True),
    _dp3("UMADDL", "1", "101", "0", "umaddl", long_=True, alias=[("Ra == 31", "umull {x(Rd)}, {w(Rn)}, {w(Rm)}")]),
    _dp3("UMSUBL", "1", "101", "1", "umsubl", long_=True, alias=[("Ra == 31", "umnegl {x(Rd)}, {w(Rn)}, {w(Rm)}")]),
    _dp3("UMULH", "1", "110", "0", "umulh", high=True),

    _dp2("UDIV", "000010", "udiv", sem="divide", args=dict(signed=0)),
    _dp2("SDIV", "000011", "sdiv", sem="divide", args=dict(signed=1)),
    _dp2("LSLV", "001000", "lsl", sem="shift_var", args=dict(shift=0)),
    _dp2("LSRV", "001001", "lsr", sem="shift_var", args=dict(shift=1)),
    _dp2("ASRV", "001010", "asr", sem="shift_var", args=dict(shift=2)),
    _dp2("RORV", "001011", "ror", sem="shift_var", args=dict(shift=3)),
    _crc("CRC32B", "010000", 0, "crc32b", 0),
    _crc("CRC32H", "010001", 0, "crc32h", 0),
    _crc("CRC32W", "010010", 0, "crc32w", 0),
    _crc("CRC32X", "010011", 1, "crc32x", 0),
    _crc("CRC32CB", "010100", 0, "crc32cb", 1),
    _crc("CRC32CH", "010101", 0, "crc32ch", 1),
    _crc("CRC32CW", "010110", 0, "crc32cw", 1),
    _crc("CRC32CX", "010111", 1, "crc32cx", 1),

    _dp1("RBIT", "000000", "rbit"),
    _dp1("REV16", "000001", "rev16", sem="rev", args=dict(container=16)),
    _dp1("REV32", "000010", "rev32", when="sf == 1", sem="rev", args=dict(container=32)),
    _dp1("REV_32", "000010", "rev", when="sf == 0", sem="rev", args=dict(container=32)),
    _dp1("REV_64", "000011", "rev", when="sf == 1", sem="rev", args=dict(container=64)),
    _dp1("CLZ", "000100", "clz", sem="count_leading", args=dict(signed=0)),
    _dp1("CLS", "000101", "cls", sem="count_leading", args=dict(signed=1)),
]
