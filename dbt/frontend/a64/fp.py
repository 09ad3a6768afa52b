"""Scalar floating point (op0 = x111, bit 30 = 0): ARMv8.0-A, single and double precision.

Half precision exists in ARMv8.0 only as a conversion format: FCVT to and from H.  Every other
ftype = 11 encoding (FP16 arithmetic, H<->integer, FMOV H) is ARMv8.2 and stays UNDEFINED, as
does ftype = 10 everywhere except the FMOV to/from the top half of a V register.

`ftype` selects the precision (00 single, 01 double, 11 half); `sf` the general register width.

Semantics families (handler(t, **fields, **args)):

  fp_1src(ftype, Rn, Rd; op)          op: "mov" | "abs" | "neg" | "sqrt"
  fp_round(ftype, Rn, Rd; rounding, exact)
                                      FRINTx.  rounding: "tieeven" (N), "posinf" (P), "neginf" (M),
                                      "zero" (Z), "tieaway" (A), None = FPCR.RMode (X, I);
                                      exact = 1 raises Inexact (FRINTX only)
  FCVT(ftype, opc, Rn, Rd)            ftype is the source precision, opc the destination one
                                      (both 00 S, 01 D, 11 H)
  fp_2src(ftype, Rm, Rn, Rd; op)      op: "mul" "div" "add" "sub" "max" "min" "maxnm" "minnm" "nmul"
  fp_3src(ftype, Rm, Ra, Rn, Rd; neg_addend, neg_product)
                                      Rd = (-Ra if neg_addend else Ra) + (-(Rn*Rm) if neg_product
                                      else Rn*Rm), fused: FMADD 0 0, FMSUB 0 1, FNMADD 1 1, FNMSUB 1 0
  fp_compare(ftype, Rn, [Rm]; zero, signal)
                                      FCMP/FCMPE; the zero forms have no Rm field (compare with
                                      +0.0; bits 20:16 are should-be-zero and ignored, as LLVM
                                      and hardware do); signal = 1 for the E forms (any NaN signals)
  fp_ccmp(ftype, Rm, cond, Rn, nzcv; signal)
  FCSEL(ftype, Rm, cond, Rn, Rd)
  fmov_imm(ftype, imm8, Rd)           VFPExpandImm(imm8)
  fmov_gen(Rn, Rd; width, to_fp, part)
                                      FMOV between a general register and an FP register:
                                      width 32 (W<->S) or 64 (X<->D, X<->V.D[part]); to_fp = 1 writes
                                      the FP/SIMD register; part = 1 is the upper 64 bits of V
                                      (the other half is preserved), part = 0 zeroes the rest of V
  fp_to_int(sf, ftype, Rn, Rd; rounding, unsigned)
                                      FCVT{N,P,M,Z,A}{S,U}: rounding as for fp_round (never None)
  int_to_fp(sf, ftype, Rn, Rd; unsigned)             SCVTF/UCVTF, rounding per FPCR
  fp_to_fixed(sf, ftype, scale, Rn, Rd; unsigned)    FCVTZS/FCVTZU, fbits = 64 - scale
  fixed_to_fp(sf, ftype, scale, Rn, Rd; unsigned)    SCVTF/UCVTF, fbits = 64 - scale
"""
from ..encoding import Row as I

SD = "ftype < 2"          # single or double only

FP_1SRC = [  # opcode (bits 20:15), name, mnemonic, sem, args
    ("000000", "FMOV_reg", "fmov", "fp_1src", dict(op="mov")),
    ("000001", "FABS_scalar", "fabs", "fp_1src", dict(op="abs")),
    ("000010", "FNEG_scalar", "fneg", "fp_1src", dict(op="neg")),
    ("000011", "FSQRT_scalar", "fsqrt", "fp_1src", dict(op="sqrt")),
    ("001000", "FRINTN_scalar", "frintn", "fp_round", dict(rounding="tieeven", exact=0)),
    ("001001", "FRINTP_scalar", "frintp", "fp_round", dict(rounding="posinf", exact=0)),
    ("001010", "FRINTM_scalar", "frintm", "fp_round", dict(rounding="neginf", exact=0)),
    ("001011", "FRINTZ_scalar", "frintz", "fp_round", dict(rounding="zero", exact=0)),
    ("001100", "FRINTA_scalar", "frinta", "fp_round", dict(rounding="tieaway", exact=0)),
    ("001110", "FRINTX_scalar", "frintx", "fp_round", dict(rounding=None, exact=1)),
    ("001111", "FRINTI_scalar", "frinti", "fp_round", dict(rounding=None, exact=0)),
]

FP_2SRC = [  # opcode (bits 15:12), mnemonic
    ("0000", "mul"), ("0001", "div"), ("0010", "add"), ("0011", "sub"), ("0100", "max"),
    ("0101", "min"), ("0110", "maxnm"), ("0111", "minnm"), ("1000", "nmul"),
]

FP_3SRC = [  # o1, o0, mnemonic, neg_addend, neg_product
    (0, 0, "fmadd", 0, 0), (0, 1, "fmsub", 0, 1), (1, 0, "fnmadd", 1, 1), (1, 1, "fnmsub", 1, 0),
]

FP_COMPARE = [  # opcode2 (bits 4:0), name, mnemonic, zero, signal
    ("00000", "FCMP", "fcmp", 0, 0), ("01000", "FCMP_zero", "fcmp", 1, 0),
    ("10000", "FCMPE", "fcmpe", 0, 1), ("11000", "FCMPE_zero", "fcmpe", 1, 1),
]

# Conversions to and from general registers: (rmode, opcode) -> mnemonic, rounding, unsigned
FP_TO_INT = [
    ("00", "000", "fcvtns", "tieeven", 0), ("00", "001", "fcvtnu", "tieeven", 1),
    ("00", "100", "fcvtas", "tieaway", 0), ("00", "101", "fcvtau", "tieaway", 1),
    ("01", "000", "fcvtps", "posinf", 0), ("01", "001", "fcvtpu", "posinf", 1),
    ("10", "000", "fcvtms", "neginf", 0), ("10", "001", "fcvtmu", "neginf", 1),
    ("11", "000", "fcvtzs", "zero", 0), ("11", "001", "fcvtzu", "zero", 1),
]
INT_TO_FP = [("00", "010", "scvtf", 0), ("00", "011", "ucvtf", 1)]

FMOV_GEN = [  # name, sf, ftype, rmode, opcode, text, width, to_fp, part
    ("FMOV_gen_w_s", 0, "00", "00", "110", "fmov {w(Rd)}, s{Rn}", 32, 0, 0),
    ("FMOV_gen_s_w", 0, "00", "00", "111", "fmov s{Rd}, {w(Rn)}", 32, 1, 0),
    ("FMOV_gen_x_d", 1, "01", "00", "110", "fmov {x(Rd)}, d{Rn}", 64, 0, 0),
    ("FMOV_gen_d_x", 1, "01", "00", "111", "fmov d{Rd}, {x(Rn)}", 64, 1, 0),
    ("FMOV_gen_x_top", 1, "10", "01", "110", "fmov {x(Rd)}, v{Rn}.d[1]", 64, 0, 1),
    ("FMOV_gen_top_x", 1, "10", "01", "111", "fmov v{Rd}.d[1], {x(Rn)}", 64, 1, 1),
]


def _rows():
    rows = []
    for opcode, name, mn, sem, args in FP_1SRC:
        rows.append(I(name, f"000 11110 ftype 1 {opcode} 10000 Rn Rd",
                      f"{mn} {{fpr(Rd, ftype)}}, {{fpr(Rn, ftype)}}", when=SD, sem=sem, args=args))
    rows.append(I("FCVT", "000 11110 ftype 1 0001 opc 10000 Rn Rd", "fcvt {fpr(Rd, opc)}, {fpr(Rn, ftype)}",
                  when="ftype != 2 and opc != 2 and opc != ftype"))

    for opcode, op in FP_2SRC:
        rows.append(I(f"F{op.upper()}_scalar", f"000 11110 ftype 1 Rm {opcode} 10 Rn Rd",
                      f"f{op} {{fpr(Rd, ftype)}}, {{fpr(Rn, ftype)}}, {{fpr(Rm, ftype)}}",
                      when=SD, sem="fp_2src", args=dict(op=op)))
    for o1, o0, mn, neg_a, neg_p in FP_3SRC:
        rows.append(I(mn.upper(), f"000 11111 ftype {o1} Rm {o0} Ra Rn Rd",
                      f"{mn} {{fpr(Rd, ftype)}}, {{fpr(Rn, ftype)}}, {{fpr(Rm, ftype)}}, {{fpr(Ra, ftype)}}",
                      when=SD, sem="fp_3src", args=dict(neg_addend=neg_a, neg_product=neg_p)))

    for opcode2, name, mn, zero, signal in FP_COMPARE:
        rm, second = ("xxxxx", "#0.0") if zero else ("Rm", "{fpr(Rm, ftype)}")
        rows.append(I(name, f"000 11110 ftype 1 {rm} 00 1000 Rn {opcode2}",
                      f"{mn} {{fpr(Rn, ftype)}}, {second}", when=SD, sem="fp_compare",
                      args=dict(zero=zero, signal=signal)))
    for op, mn in ((0, "fccmp"), (1, "fccmpe")):
        rows.append(I(mn.upper(), f"000 11110 ftype 1 Rm cond 01 Rn {op} nzcv",
                      f"{mn} {{fpr(Rn, ftype)}}, {{fpr(Rm, ftype)}}, {{imm(nzcv)}}, {{cc(cond)}}",
                      when=SD, sem="fp_ccmp", args=dict(signal=op)))
    rows.append(I("FCSEL", "000 11110 ftype 1 Rm cond 11 Rn Rd",
                  "fcsel {fpr(Rd, ftype)}, {fpr(Rn, ftype)}, {fpr(Rm, ftype)}, {cc(cond)}", when=SD))
    rows.append(I("FMOV_scalar_imm", "000 11110 ftype 1 imm8 100 00000 Rd",
                  "fmov {fpr(Rd, ftype)}, {fpimm(imm8, 32 << ftype)}", when=SD, sem="fmov_imm"))

    for rmode, opcode, mn, rounding, unsigned in FP_TO_INT:
        rows.append(I(f"{mn.upper()}_gen", f"sf 00 11110 ftype 1 {rmode} {opcode} 000000 Rn Rd",
                      f"{mn} {{r(Rd, sf)}}, {{fpr(Rn, ftype)}}", when=SD, sem="fp_to_int",
                      args=dict(rounding=rounding, unsigned=unsigned)))
    for rmode, opcode, mn, unsigned in INT_TO_FP:
        rows.append(I(f"{mn.upper()}_gen", f"sf 00 11110 ftype 1 {rmode} {opcode} 000000 Rn Rd",
                      f"{mn} {{fpr(Rd, ftype)}}, {{r(Rn, sf)}}", when=SD, sem="int_to_fp",
                      args=dict(unsigned=unsigned)))
    for name, sf, ftype, rmode, opcode, text, width, to_fp, part in FMOV_GEN:
        rows.append(I(name, f"{sf} 00 11110 {ftype} 1 {rmode} {opcode} 000000 Rn Rd", text,
                      sem="fmov_gen", args=dict(width=width, to_fp=to_fp, part=part)))

    # fixed point: fbits = 64 - scale, at most 32 for a W register
    FIXED = "ftype < 2 and (sf or scale >= 32)"
    for mn, opcode, unsigned in (("fcvtzs", "000", 0), ("fcvtzu", "001", 1)):
        rows.append(I(f"{mn.upper()}_gen_fixed", f"sf 00 11110 ftype 0 11 {opcode} scale Rn Rd",
                      f"{mn} {{r(Rd, sf)}}, {{fpr(Rn, ftype)}}, {{imm(64 - scale)}}", when=FIXED,
                      sem="fp_to_fixed", args=dict(unsigned=unsigned)))
    for mn, opcode, unsigned in (("scvtf", "010", 0), ("ucvtf", "011", 1)):
        rows.append(I(f"{mn.upper()}_gen_fixed", f"sf 00 11110 ftype 0 00 {opcode} scale Rn Rd",
                      f"{mn} {{fpr(Rd, ftype)}}, {{r(Rn, sf)}}, {{imm(64 - scale)}}", when=FIXED,
                      sem="fixed_to_fp", args=dict(unsigned=unsigned)))
    return rows


ROWS = _rows()
