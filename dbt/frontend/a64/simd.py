"""Advanced SIMD data processing (op0 = x111, bit 28 = 0 for vectors, 01x1 for scalars), ARMv8.0-A.

Left out, so that they decode as UNDEFINED: the crypto extension (AES, SHA, 64-bit PMULL), FP16
arithmetic, and everything ARMv8.1 and later (SQRDMLAH, dot product, FCMLA, FJCVTZS, ...).

Row names: the manual's mnemonic with `_vector` for the vector encoding and `_scalar` for the
AdvSIMD scalar one; `_elem` marks the by-element forms, `_zero` the compares against zero,
`_fixed` the fixed-point conversions.  Reserved size/Q combinations are excluded by `when`.

Field conventions: `Q` selects 64/128-bit vectors (absent in scalar rows, which act on element 0
and zero the rest of the register); `size` is the element size 0..3 (8 << size bits); in FP rows
`sz` is the element size 32 << sz.  For the two-register FP rows the mnemonic `op` is enough to
know whether the operation is per element or a narrowing/lengthening one.

Semantics families (handler(t, **fields, **args)); `op` is always the lower-case mnemonic
without the "2" suffix (Q = 1 selects the upper half for the narrowing/lengthening forms):

  simd_3same_int(Q, size, Rm, Rn, Rd; op, scalar)
        shadd sqadd srhadd shsub sqsub cmgt cmge sshl sqshl srshl sqrshl smax smin sabd saba add
        cmtst mla mul smaxp sminp sqdmulh addp, and the U forms uhadd uqadd urhadd uhsub uqsub
        cmhi cmhs ushl uqshl urshl uqrshl umax umin uabd uaba sub cmeq mls pmul umaxp uminp
        sqrdmulh.  Pairwise ops (addp smaxp ...) take pairs from Rn:Rm concatenated.
  simd_logic(Q, Rm, Rn, Rd; op)               and bic orr orn eor bsl bit bif
  simd_3same_fp(Q, sz, Rm, Rn, Rd; op, scalar)
        fmaxnm fmla fadd fmulx fcmeq fmax frecps fminnm fmls fsub fmin frsqrts fmaxnmp faddp fmul
        fcmge facge fmaxp fdiv fminnmp fabd fcmgt facgt fminp
  simd_3diff(Q, size, Rm, Rn, Rd; op, scalar)
        long (Vd wide, Vn/Vm narrow): saddl ssubl sabal sabdl smlal smlsl smull sqdmlal sqdmlsl
        sqdmull pmull uaddl usubl uabal uabdl umlal umlsl umull;  wide (Vd, Vn wide, Vm narrow):
        saddw ssubw uaddw usubw;  narrowing high half: addhn subhn raddhn rsubhn
  simd_2misc_int(Q, size, Rn, Rd; op, scalar)
        rev64 rev32 rev16 saddlp uaddlp sadalp uadalp suqadd usqadd cls clz cnt not rbit sqabs
        sqneg abs neg cmgt cmge cmeq cmle cmlt (the last five against zero) xtn sqxtn uqxtn sqxtun
        shll (shift = element size).  NOT and RBIT have their size bits fixed; args give size=0.
  simd_2misc_fp(Q, sz, Rn, Rd; op, scalar)
        fabs fneg fsqrt frecpe frsqrte frecpx fcmgt fcmge fcmeq fcmle fcmlt (against +0.0),
        fcvtn fcvtxn (narrow: sz is the destination size 16 << sz), fcvtl (lengthen to 32 << sz)
  simd_unsigned_estimate(Q, sz, Rn, Rd; op, scalar)    urecpe ursqrte (32-bit unsigned, sz = 0)
  simd_fp_round(Q, sz, Rn, Rd; rounding, exact)        FRINTx, rounding/exact as fp.fp_round
  simd_fp_to_int(Q, sz, Rn, Rd; rounding, unsigned, scalar)   FCVT{N,P,M,Z,A}{S,U}
  simd_int_to_fp(Q, sz, Rn, Rd; unsigned, scalar)            SCVTF UCVTF
  simd_across(Q, size, Rn, Rd; op)            addv saddlv uaddlv smaxv umaxv sminv uminv
  simd_across_fp(Q, sz, Rn, Rd; op)           fmaxv fminv fmaxnmv fminnmv (Q = 1, sz = 0 only)
  ADDP_scalar(size, Rn, Rd)                   (size = 3)
  simd_pairwise_scalar(sz, Rn, Rd; op)        faddp fmaxp fminp fmaxnmp fminnmp
                                              (sz: the two elements of a 64- or 128-bit Vn)
  simd_dup_element(Q, imm5, Rn, Rd; scalar)   DUP (element) and its scalar form MOV (scalar);
                                              element size = lowest set bit of imm5, index above it
  DUP_general(Q, imm5, Rn, Rd)   SMOV(Q, imm5, Rn, Rd)   UMOV(Q, imm5, Rn, Rd)
  INS_general(imm5, Rn, Rd)      INS_element(imm5, imm4, Rn, Rd)   (source index imm4 >> size)
  simd_elem_int(Q, size, L, M, Rm, H, Rn, Rd; op, scalar)
        mla mls mul sqdmulh sqrdmulh (same width); smlal smlsl smull umlal umlsl umull sqdmlal
        sqdmlsl sqdmull (long).  size 1: Vm = Rm (v0-v15), index H:L:M; size 2: Vm = M:Rm, index H:L
  simd_elem_fp(Q, sz, L, M, Rm, H, Rn, Rd; op, scalar)    fmla fmls fmul fmulx;
        Vm = M:Rm, index H:L (sz = 0) or H (sz = 1)
  simd_modimm_int(Q, abc, cmode, defgh, Rd; op, opbit)
        op: movi mvni orr bic; the 64-bit pattern is AdvSIMDExpandImm(opbit, cmode,
        abc:defgh), inverted for mvni/bic; MOVI with opbit = 1 and Q = 0 writes D (scalar)
  simd_modimm(Q, abc, cmode, defgh, Rd; op, opbit)      fmov (op), as simd_modimm_int
  simd_shift_imm(Q, immh, immb, Rn, Rd; op, scalar)
        right shifts (shift = 2*esize - immh:immb): sshr ssra srshr srsra ushr usra urshr ursra sri;
        left shifts (shift = immh:immb - esize): shl sqshl sqshlu uqshl sli; esize = 8 << hsb(immh)
  simd_shift_narrow(Q, immh, immb, Rn, Rd; op, scalar)
        shrn rshrn sqshrn sqrshrn sqshrun sqrshrun uqshrn uqrshrn (esize is the narrow size)
  simd_shift_long(Q, immh, immb, Rn, Rd; op)            sshll ushll (shift = immh:immb - esize)
  simd_cvt_fixed(Q, immh, immb, Rn, Rd; op, scalar)     scvtf ucvtf fcvtzs fcvtzu,
                                                        fbits = 2*esize - immh:immb
  simd_permute(Q, size, Rm, Rn, Rd; op)       uzp1 uzp2 trn1 trn2 zip1 zip2
  EXT(Q, Rm, imm4, Rn, Rd)
  simd_table(Q, Rm, len, Rn, Rd; op)          tbl tbx, table = len + 1 registers from Rn (mod 32)
"""
from ..encoding import Row as I

# Size conditions of the vector forms
VSIZE = {
    "all": "size != 3 or Q == 1",     # 1d is reserved
    "bhs": "size != 3",
    "hs": "size in (1, 2)",
    "bh": "size < 2",
    "b": "size == 0",
}
SSIZE = {"all": None, "d": "size == 3", "hs": "size in (1, 2)", "bhs": "size != 3"}
VFP = "sz == 0 or Q == 1"            # 1d is reserved

V3 = "{vreg(Rd, Q, size)}, {vreg(Rn, Q, size)}, {vreg(Rm, Q, size)}"
S3 = "{sreg(Rd, size)}, {sreg(Rn, size)}, {sreg(Rm, size)}"
V3F = "{vreg(Rd, Q, 2 + sz)}, {vreg(Rn, Q, 2 + sz)}, {vreg(Rm, Q, 2 + sz)}"
S3F = "{sreg(Rd, 2 + sz)}, {sreg(Rn, 2 + sz)}, {sreg(Rm, 2 + sz)}"
TWO = "{'2' if Q else ''}"

ROWS = []


def row(name, pattern, asm, when=None, **kw):
    ROWS.append(I(name, pattern, asm, when=when, **kw))


# --- three same ----------------------------------------------------------------------------

THREE_SAME = [  # U, opcode, mnemonic, vector sizes, scalar sizes (None: no scalar form)
    (0, "00000", "shadd", "bhs", None), (0, "00001", "sqadd", "all", "all"),
    (0, "00010", "srhadd", "bhs", None), (0, "00100", "shsub", "bhs", None),
    (0, "00101", "sqsub", "all", "all"), (0, "00110", "cmgt", "all", "d"),
    (0, "00111", "cmge", "all", "d"), (0, "01000", "sshl", "all", "d"),
    (0, "01001", "sqshl", "all", "all"), (0, "01010", "srshl", "all", "d"),
    (0, "01011", "sqrshl", "all", "all"), (0, "01100", "smax", "bhs", None),
    (0, "01101", "smin", "bhs", None), (0, "01110", "sabd", "bhs", None),
    (0, "01111", "saba", "bhs", None), (0, "10000", "add", "all", "d"),
    (0, "10001", "cmtst", "all", "d"), (0, "10010", "mla", "bhs", None),
    (0, "10011", "mul", "bhs", None), (0, "10100", "smaxp", "bhs", None),
    (0, "10101", "sminp", "bhs", None), (0, "10110", "sqdmulh", "hs", "hs"),
    (0, "10111", "addp", "all", None),
    (1, "00000", "uhadd", "bhs", None), (1, "00001", "uqadd", "all", "all"),
    (1, "00010", "urhadd", "bhs", None), (1, "00100", "uhsub", "bhs", None),
    (1, "00101", "uqsub", "all", "all"), (1, "00110", "cmhi", "all", "d"),
    (1, "00111", "cmhs", "all", "d"), (1, "01000", "ushl", "all", "d"),
    (1, "01001", "uqshl", "all", "all"), (1, "01010", "urshl", "all", "d"),
    (1, "01011", "uqrshl", "all", "all"), (1, "01100", "umax", "bhs", None),
    (1, "01101", "umin", "bhs", None), (1, "01110", "uabd", "bhs", None),
    (1, "01111", "uaba", "bhs", None), (1, "10000", "sub", "all", "d"),
    (1, "10001", "cmeq", "all", "d"), (1, "10010", "mls", "bhs", None),
    (1, "10011", "pmul", "b", None), (1, "10100", "umaxp", "bhs", None),
    (1, "10101", "uminp", "bhs", None), (1, "10110", "sqrdmulh", "hs", "hs"),
]
for U, opcode, mn, vs, ss in THREE_SAME:
    row(f"{mn.upper()}_vector", f"0 Q {U} 01110 size 1 Rm {opcode} 1 Rn Rd", f"{mn} {V3}", VSIZE[vs],
        sem="simd_3same_int", args=dict(op=mn, scalar=0))
    if ss:
        row(f"{mn.upper()}_scalar", f"01 {U} 11110 size 1 Rm {opcode} 1 Rn Rd", f"{mn} {S3}", SSIZE[ss],
            sem="simd_3same_int", args=dict(op=mn, scalar=1))

LOGIC = [(0, "00", "and"), (0, "01", "bic"), (0, "10", "orr"), (0, "11", "orn"),
         (1, "00", "eor"), (1, "01", "bsl"), (1, "10", "bit"), (1, "11", "bif")]
for U, size, mn in LOGIC:
    alias = [("Rn == Rm", "mov {vreg(Rd, Q, 0)}, {vreg(Rn, Q, 0)}")] if mn == "orr" else []
    row(f"{mn.upper()}_vector", f"0 Q {U} 01110 {size} 1 Rm 00011 1 Rn Rd",
        f"{mn} {{vreg(Rd, Q, 0)}}, {{vreg(Rn, Q, 0)}}, {{vreg(Rm, Q, 0)}}",
        sem="simd_logic", args=dict(op=mn), alias=alias)

THREE_SAME_FP = [  # U, a (bit 23), opcode, mnemonic, has scalar form
    (0, 0, "11000", "fmaxnm", 0), (0, 0, "11001", "fmla", 0), (0, 0, "11010", "fadd", 0),
    (0, 0, "11011", "fmulx", 1), (0, 0, "11100", "fcmeq", 1), (0, 0, "11110", "fmax", 0),
    (0, 0, "11111", "frecps", 1),
    (0, 1, "11000", "fminnm", 0), (0, 1, "11001", "fmls", 0), (0, 1, "11010", "fsub", 0),
    (0, 1, "11110", "fmin", 0), (0, 1, "11111", "frsqrts", 1),
    (1, 0, "11000", "fmaxnmp", 0), (1, 0, "11010", "faddp", 0), (1, 0, "11011", "fmul", 0),
    (1, 0, "11100", "fcmge", 1), (1, 0, "11101", "facge", 1), (1, 0, "11110", "fmaxp", 0),
    (1, 0, "11111", "fdiv", 0),
    (1, 1, "11000", "fminnmp", 0), (1, 1, "11010", "fabd", 1), (1, 1, "11100", "fcmgt", 1),
    (1, 1, "11101", "facgt", 1), (1, 1, "11110", "fminp", 0),
]
for U, a, opcode, mn, scalar in THREE_SAME_FP:
    row(f"{mn.upper()}_vector", f"0 Q {U} 01110 {a} sz 1 Rm {opcode} 1 Rn Rd", f"{mn} {V3F}", VFP,
        sem="simd_3same_fp", args=dict(op=mn, scalar=0))
    if scalar:
        row(f"{mn.upper()}_scalar", f"01 {U} 11110 {a} sz 1 Rm {opcode} 1 Rn Rd", f"{mn} {S3F}",
            sem="simd_3same_fp", args=dict(op=mn, scalar=1))

# --- three different -----------------------------------------------------------------------

LONG3 = "{vreg(Rd, 1, size + 1)}, {vreg(Rn, Q, size)}, {vreg(Rm, Q, size)}"
WIDE3 = "{vreg(Rd, 1, size + 1)}, {vreg(Rn, 1, size + 1)}, {vreg(Rm, Q, size)}"
NARROW3 = "{vreg(Rd, Q, size)}, {vreg(Rn, 1, size + 1)}, {vreg(Rm, 1, size + 1)}"
THREE_DIFF = [  # U, opcode, mnemonic, shape, sizes, has scalar form
    (0, "0000", "saddl", LONG3, "bhs", 0), (0, "0001", "saddw", WIDE3, "bhs", 0),
    (0, "0010", "ssubl", LONG3, "bhs", 0), (0, "0011", "ssubw", WIDE3, "bhs", 0),
    (0, "0100", "addhn", NARROW3, "bhs", 0), (0, "0101", "sabal", LONG3, "bhs", 0),
    (0, "0110", "subhn", NARROW3, "bhs", 0), (0, "0111", "sabdl", LONG3, "bhs", 0),
    (0, "1000", "smlal", LONG3, "bhs", 0), (0, "1001", "sqdmlal", LONG3, "hs", 1),
    (0, "1010", "smlsl", LONG3, "bhs", 0), (0, "1011", "sqdmlsl", LONG3, "hs", 1),
    (0, "1100", "smull", LONG3, "bhs", 0), (0, "1101", "sqdmull", LONG3, "hs", 1),
    (0, "1110", "pmull", LONG3, "b", 0),       # size 11 (64-bit PMULL) is the crypto extension
    (1, "0000", "uaddl", LONG3, "bhs", 0), (1, "0001", "uaddw", WIDE3, "bhs", 0),
    (1, "0010", "usubl", LONG3, "bhs", 0), (1, "0011", "usubw", WIDE3, "bhs", 0),
    (1, "0100", "raddhn", NARROW3, "bhs", 0), (1, "0101", "uabal", LONG3, "bhs", 0),
    (1, "0110", "rsubhn", NARROW3, "bhs", 0), (1, "0111", "uabdl", LONG3, "bhs", 0),
    (1, "1000", "umlal", LONG3, "bhs", 0), (1, "1010", "umlsl", LONG3, "bhs", 0),
    (1, "1100", "umull", LONG3, "bhs", 0),
]
for U, opcode, mn, shape, sizes, scalar in THREE_DIFF:
    row(f"{mn.upper()}_vector", f"0 Q {U} 01110 size 1 Rm {opcode} 00 Rn Rd", f"{mn}{TWO} {shape}",
        VSIZE[sizes], sem="simd_3diff", args=dict(op=mn, scalar=0))
    if scalar:
        row(f"{mn.upper()}_scalar", f"01 {U} 11110 size 1 Rm {opcode} 00 Rn Rd",
            f"{mn} {{sreg(Rd, size + 1)}}, {{sreg(Rn, size)}}, {{sreg(Rm, size)}}", SSIZE[sizes],
            sem="simd_3diff", args=dict(op=mn, scalar=1))

# --- two-register miscellaneous ------------------------------------------------------------

SAME2 = "{vreg(Rd, Q, size)}, {vreg(Rn, Q, size)}"
PAIRLONG2 = "{vreg(Rd, Q, size + 1)}, {vreg(Rn, Q, size)}"
NARROW2 = "{vreg(Rd, Q, size)}, {vreg(Rn, 1, size + 1)}"
TWO_MISC = [  # U, opcode, mnemonic, vector shape, vector sizes, scalar sizes (None: none)
    (0, "00000", "rev64", SAME2, "bhs", None), (0, "00001", "rev16", SAME2, "b", None),
    (0, "00010", "saddlp", PAIRLONG2, "bhs", None), (0, "00011", "suqadd", SAME2, "all", "all"),
    (0, "00100", "cls", SAME2, "bhs", None), (0, "00101", "cnt", SAME2, "b", None),
    (0, "00110", "sadalp", PAIRLONG2, "bhs", None), (0, "00111", "sqabs", SAME2, "all", "all"),
    (0, "01011", "abs", SAME2, "all", "d"),
    (0, "10010", "xtn", NARROW2, "bhs", None), (0, "10100", "sqxtn", NARROW2, "bhs", "bhs"),
    (1, "00000", "rev32", SAME2, "bh", None), (1, "00010", "uaddlp", PAIRLONG2, "bhs", None),
    (1, "00011", "usqadd", SAME2, "all", "all"), (1, "00100", "clz", SAME2, "bhs", None),
    (1, "00110", "uadalp", PAIRLONG2, "bhs", None), (1, "00111", "sqneg", SAME2, "all", "all"),
    (1, "01011", "neg", SAME2, "all", "d"),
    (1, "10010", "sqxtun", NARROW2, "bhs", "bhs"), (1, "10100", "uqxtn", NARROW2, "bhs", "bhs"),
]
for U, opcode, mn, shape, vs, ss in TWO_MISC:
    two = TWO if shape is NARROW2 else ""
    row(f"{mn.upper()}_vector", f"0 Q {U} 01110 size 10000 {opcode} 10 Rn Rd", f"{mn}{two} {shape}",
        VSIZE[vs], sem="simd_2misc_int", args=dict(op=mn, scalar=0))
    if ss:
        src = "size + 1" if shape is NARROW2 else "size"
        row(f"{mn.upper()}_scalar", f"01 {U} 11110 size 10000 {opcode} 10 Rn Rd",
            f"{mn} {{sreg(Rd, size)}}, {{sreg(Rn, {src})}}", SSIZE[ss],
            sem="simd_2misc_int", args=dict(op=mn, scalar=1))
for U, opcode, mn in ((0, "01000", "cmgt"), (0, "01001", "cmeq"), (0, "01010", "cmlt"),
                      (1, "01000", "cmge"), (1, "01001", "cmle")):
    row(f"{mn.upper()}_zero_vector", f"0 Q {U} 01110 size 10000 {opcode} 10 Rn Rd", f"{mn} {SAME2}, #0",
        VSIZE["all"], sem="simd_2misc_int", args=dict(op=mn, scalar=0))
    row(f"{mn.upper()}_zero_scalar", f"01 {U} 11110 size 10000 {opcode} 10 Rn Rd",
        f"{mn} {{sreg(Rd, size)}}, {{sreg(Rn, size)}}, #0", SSIZE["d"],
        sem="simd_2misc_int", args=dict(op=mn, scalar=1))
row("NOT", "0 Q 1 01110 00 10000 00101 10 Rn Rd", "not {vreg(Rd, Q, 0)}, {vreg(Rn, Q, 0)}",
    sem="simd_2misc_int", args=dict(op="not", scalar=0, size=0),
    alias=[("True", "mvn {vreg(Rd, Q, 0)}, {vreg(Rn, Q, 0)}")])
row("RBIT_vector", "0 Q 1 01110 01 10000 00101 10 Rn Rd", "rbit {vreg(Rd, Q, 0)}, {vreg(Rn, Q, 0)}",
    sem="simd_2misc_int", args=dict(op="rbit", scalar=0, size=0))
row("SHLL", "0 Q 1 01110 size 10000 10011 10 Rn Rd",
    "shll{'2' if Q else ''} {vreg(Rd, 1, size + 1)}, {vreg(Rn, Q, size)}, #{8 << size}", VSIZE["bhs"],
    sem="simd_2misc_int", args=dict(op="shll", scalar=0))

SAME2F = "{vreg(Rd, Q, 2 + sz)}, {vreg(Rn, Q, 2 + sz)}"
SCALAR2F = "{sreg(Rd, 2 + sz)}, {sreg(Rn, 2 + sz)}"
ROUNDING = {"n": "tieeven", "p": "posinf", "m": "neginf", "z": "zero", "a": "tieaway"}
TWO_MISC_FP = [  # U, a (bit 23), opcode, mnemonic, vector form, scalar form
    (0, 0, "11000", "frintn", 1, 0), (0, 0, "11001", "frintm", 1, 0),
    (0, 0, "11010", "fcvtns", 1, 1), (0, 0, "11011", "fcvtms", 1, 1),
    (0, 0, "11100", "fcvtas", 1, 1), (0, 0, "11101", "scvtf", 1, 1),
    (0, 1, "01111", "fabs", 1, 0), (0, 1, "11000", "frintp", 1, 0), (0, 1, "11001", "frintz", 1, 0),
    (0, 1, "11010", "fcvtps", 1, 1), (0, 1, "11011", "fcvtzs", 1, 1),
    (0, 1, "11100", "urecpe", 1, 0), (0, 1, "11101", "frecpe", 1, 1), (0, 1, "11111", "frecpx", 0, 1),
    (1, 0, "11000", "frinta", 1, 0), (1, 0, "11001", "frintx", 1, 0),
    (1, 0, "11010", "fcvtnu", 1, 1), (1, 0, "11011", "fcvtmu", 1, 1),
    (1, 0, "11100", "fcvtau", 1, 1), (1, 0, "11101", "ucvtf", 1, 1),
    (1, 1, "01111", "fneg", 1, 0), (1, 1, "11001", "frinti", 1, 0),
    (1, 1, "11010", "fcvtpu", 1, 1), (1, 1, "11011", "fcvtzu", 1, 1),
    (1, 1, "11100", "ursqrte", 1, 0), (1, 1, "11101", "frsqrte", 1, 1), (1, 1, "11111", "fsqrt", 1, 0),
]


def _fp2_sem(mn):
    if mn.startswith("frint"):
        return "simd_fp_round", dict(rounding=ROUNDING.get(mn[5]), exact=int(mn == "frintx"))
    if mn.startswith("fcvt"):
        return "simd_fp_to_int", dict(rounding=ROUNDING[mn[4]], unsigned=int(mn[5] == "u"))
    if mn.endswith("cvtf"):
        return "simd_int_to_fp", dict(unsigned=int(mn[0] == "u"))
    if mn in ("urecpe", "ursqrte"):
        return "simd_unsigned_estimate", dict(op=mn)
    return "simd_2misc_fp", dict(op=mn)


for U, a, opcode, mn, vector, scalar in TWO_MISC_FP:
    sem, args = _fp2_sem(mn)
    if vector:
        when = "sz == 0" if mn in ("urecpe", "ursqrte") else VFP
        if sem != "simd_fp_round":          # FRINTx have no scalar AdvSIMD form
            args = dict(args, scalar=0)
        row(f"{mn.upper()}_vector", f"0 Q {U} 01110 {a} sz 10000 {opcode} 10 Rn Rd", f"{mn} {SAME2F}", when,
            sem=sem, args=args)
    if scalar:
        row(f"{mn.upper()}_scalar", f"01 {U} 11110 {a} sz 10000 {opcode} 10 Rn Rd", f"{mn} {SCALAR2F}",
            sem=sem, args=dict(args, scalar=1))
for U, a, opcode, mn in ((0, 1, "01100", "fcmgt"), (0, 1, "01101", "fcmeq"), (0, 1, "01110", "fcmlt"),
                         (1, 1, "01100", "fcmge"), (1, 1, "01101", "fcmle")):
    row(f"{mn.upper()}_zero_vector", f"0 Q {U} 01110 {a} sz 10000 {opcode} 10 Rn Rd",
        f"{mn} {SAME2F}, #0.0", VFP, sem="simd_2misc_fp", args=dict(op=mn, scalar=0))
    row(f"{mn.upper()}_zero_scalar", f"01 {U} 11110 {a} sz 10000 {opcode} 10 Rn Rd",
        f"{mn} {SCALAR2F}, #0.0", sem="simd_2misc_fp", args=dict(op=mn, scalar=1))
row("FCVTN_vector", "0 Q 0 01110 0 sz 10000 10110 10 Rn Rd",
    "fcvtn{'2' if Q else ''} {vreg(Rd, Q, 1 + sz)}, {vreg(Rn, 1, 2 + sz)}",
    sem="simd_2misc_fp", args=dict(op="fcvtn", scalar=0))
row("FCVTL_vector", "0 Q 0 01110 0 sz 10000 10111 10 Rn Rd",
    "fcvtl{'2' if Q else ''} {vreg(Rd, 1, 2 + sz)}, {vreg(Rn, Q, 1 + sz)}",
    sem="simd_2misc_fp", args=dict(op="fcvtl", scalar=0))
row("FCVTXN_vector", "0 Q 1 01110 0 sz 10000 10110 10 Rn Rd",
    "fcvtxn{'2' if Q else ''} {vreg(Rd, Q, 2)}, {vreg(Rn, 1, 3)}", "sz == 1",
    sem="simd_2misc_fp", args=dict(op="fcvtxn", scalar=0))
row("FCVTXN_scalar", "01 1 11110 0 sz 10000 10110 10 Rn Rd", "fcvtxn s{Rd}, d{Rn}", "sz == 1",
    sem="simd_2misc_fp", args=dict(op="fcvtxn", scalar=1))

# --- across lanes and scalar pairwise ------------------------------------------------------

for U, opcode, mn, wide in ((0, "00011", "saddlv", 1), (0, "01010", "smaxv", 0), (0, "11010", "sminv", 0),
                            (0, "11011", "addv", 0), (1, "00011", "uaddlv", 1), (1, "01010", "umaxv", 0),
                            (1, "11010", "uminv", 0)):
    row(mn.upper(), f"0 Q {U} 01110 size 11000 {opcode} 10 Rn Rd",
        f"{mn} {{sreg(Rd, size + {wide})}}, {{vreg(Rn, Q, size)}}", "size < 2 or (size == 2 and Q == 1)",
        sem="simd_across", args=dict(op=mn))
for a, opcode, mn in ((0, "01100", "fmaxnmv"), (1, "01100", "fminnmv"), (0, "01111", "fmaxv"),
                      (1, "01111", "fminv")):
    row(mn.upper(), f"0 Q 1 01110 {a} sz 11000 {opcode} 10 Rn Rd", f"{mn} s{{Rd}}, v{{Rn}}.4s",
        "Q == 1 and sz == 0", sem="simd_across_fp", args=dict(op=mn))

row("ADDP_scalar", "01 0 11110 size 11000 11011 10 Rn Rd", "addp d{Rd}, v{Rn}.2d", "size == 3")
for a, opcode, mn in ((0, "01100", "fmaxnmp"), (1, "01100", "fminnmp"), (0, "01101", "faddp"),
                      (0, "01111", "fmaxp"), (1, "01111", "fminp")):
    row(f"{mn.upper()}_scalar", f"01 1 11110 {a} sz 11000 {opcode} 10 Rn Rd",
        f"{mn} {{sreg(Rd, 2 + sz)}}, {{vreg(Rn, sz, 2 + sz)}}",
        sem="simd_pairwise_scalar", args=dict(op=mn))

# --- copy ----------------------------------------------------------------------------------

ELEM5 = "{velem(Rn, lowsize(imm5), lowindex(imm5))}"
DST5 = "{velem(Rd, lowsize(imm5), lowindex(imm5))}"
SIZE5 = "imm5 & 15 and (Q or imm5 & 15 != 8)"       # a size, and no 1d
row("DUP_element_vector", "0 Q 0 01110000 imm5 0 0000 1 Rn Rd", "dup {vreg(Rd, Q, lowsize(imm5))}, " + ELEM5,
    SIZE5, sem="simd_dup_element", args=dict(scalar=0))
row("DUP_element_scalar", "01 0 11110000 imm5 0 0000 1 Rn Rd", "dup {sreg(Rd, lowsize(imm5))}, " + ELEM5,
    "imm5 & 15", sem="simd_dup_element", args=dict(scalar=1),
    alias=[("True", "mov {sreg(Rd, lowsize(imm5))}, " + ELEM5)])
row("DUP_general", "0 Q 0 01110000 imm5 0 0001 1 Rn Rd",
    "dup {vreg(Rd, Q, lowsize(imm5))}, {r(Rn, lowsize(imm5) == 3)}", SIZE5)
row("SMOV", "0 Q 0 01110000 imm5 0 0101 1 Rn Rd", "smov {r(Rd, Q)}, " + ELEM5,
    "imm5 & 3 or (Q and imm5 & 4)")
row("UMOV", "0 Q 0 01110000 imm5 0 0111 1 Rn Rd", "umov {r(Rd, Q)}, " + ELEM5,
    "imm5 & 15 == 8 if Q else imm5 & 7",
    alias=[("lowsize(imm5) >= 2", "mov {r(Rd, Q)}, " + ELEM5)])
row("INS_general", "0 1 0 01110000 imm5 0 0011 1 Rn Rd", "ins " + DST5 + ", {r(Rn, lowsize(imm5) == 3)}",
    "imm5 & 15", alias=[("True", "mov " + DST5 + ", {r(Rn, lowsize(imm5) == 3)}")])
row("INS_element", "0 1 1 01110000 imm5 0 imm4 1 Rn Rd",
    "ins " + DST5 + ", {velem(Rn, lowsize(imm5), imm4 >> lowsize(imm5))}", "imm5 & 15",
    alias=[("True", "mov " + DST5 + ", {velem(Rn, lowsize(imm5), imm4 >> lowsize(imm5))}")])

# --- by element ----------------------------------------------------------------------------

ELEM = "{velem(ixreg(size, M, Rm), size, ixindex(size, H, L, M))}"
ELEMF = "{velem(ixreg(2 + sz, M, Rm), 2 + sz, ixindex(2 + sz, H, L, M))}"
BY_ELEMENT = [  # U, opcode, mnemonic, long, has scalar form
    (0, "0010", "smlal", 1, 0), (0, "0011", "sqdmlal", 1, 1), (0, "0110", "smlsl", 1, 0),
    (0, "0111", "sqdmlsl", 1, 1), (0, "1000", "mul", 0, 0), (0, "1010", "smull", 1, 0),
    (0, "1011", "sqdmull", 1, 1), (0, "1100", "sqdmulh", 0, 1), (0, "1101", "sqrdmulh", 0, 1),
    (1, "0000", "mla", 0, 0), (1, "0010", "umlal", 1, 0), (1, "0100", "mls", 0, 0),
    (1, "0110", "umlsl", 1, 0), (1, "1010", "umull", 1, 0),
]
for U, opcode, mn, long_, scalar in BY_ELEMENT:
    if long_:
        vtext = f"{mn}{TWO} {{vreg(Rd, 1, size + 1)}}, {{vreg(Rn, Q, size)}}, {ELEM}"
        stext = f"{mn} {{sreg(Rd, size + 1)}}, {{sreg(Rn, size)}}, {ELEM}"
    else:
        vtext = f"{mn} {{vreg(Rd, Q, size)}}, {{vreg(Rn, Q, size)}}, {ELEM}"
        stext = f"{mn} {{sreg(Rd, size)}}, {{sreg(Rn, size)}}, {ELEM}"
    row(f"{mn.upper()}_elem_vector", f"0 Q {U} 01111 size L M Rm:4 {opcode} H 0 Rn Rd", vtext,
        "size in (1, 2)", sem="simd_elem_int", args=dict(op=mn, scalar=0))
    if scalar:
        row(f"{mn.upper()}_elem_scalar", f"01 {U} 11111 size L M Rm:4 {opcode} H 0 Rn Rd", stext,
            "size in (1, 2)", sem="simd_elem_int", args=dict(op=mn, scalar=1))
for U, opcode, mn in ((0, "0001", "fmla"), (0, "0101", "fmls"), (0, "1001", "fmul"), (1, "1001", "fmulx")):
    row(f"{mn.upper()}_elem_vector", f"0 Q {U} 01111 1 sz L M Rm:4 {opcode} H 0 Rn Rd",
        f"{mn} {SAME2F}, {ELEMF}", "not (sz and L) and (Q or not sz)",
        sem="simd_elem_fp", args=dict(op=mn, scalar=0))
    row(f"{mn.upper()}_elem_scalar", f"01 {U} 11111 1 sz L M Rm:4 {opcode} H 0 Rn Rd",
        f"{mn} {SCALAR2F}, {ELEMF}", "not (sz and L)",
        sem="simd_elem_fp", args=dict(op=mn, scalar=1))

# --- modified immediate --------------------------------------------------------------------

IMM8 = "{imm(modimm(abc, defgh))}"
MODIMM = [  # name, op bit, cmode condition, text
    ("MOVI_32_shifted", 0, "cmode & 9 == 0", "movi {vreg(Rd, Q, 2)}, " + IMM8 + "{shifted(0, (cmode >> 1) * 8)}"),
    ("ORR_vector_imm_32", 0, "cmode & 9 == 1", "orr {vreg(Rd, Q, 2)}, " + IMM8 + "{shifted(0, (cmode >> 1) * 8)}"),
    ("MOVI_16_shifted", 0, "cmode & 13 == 8",
     "movi {vreg(Rd, Q, 1)}, " + IMM8 + "{shifted(0, (cmode >> 1 & 1) * 8)}"),
    ("ORR_vector_imm_16", 0, "cmode & 13 == 9",
     "orr {vreg(Rd, Q, 1)}, " + IMM8 + "{shifted(0, (cmode >> 1 & 1) * 8)}"),
    ("MOVI_32_ones", 0, "cmode & 14 == 12", "movi {vreg(Rd, Q, 2)}, " + IMM8 + ", msl #{8 << (cmode & 1)}"),
    ("MOVI_8", 0, "cmode == 14", "movi {vreg(Rd, Q, 0)}, " + IMM8),
    ("FMOV_vector_imm_s", 0, "cmode == 15", "fmov {vreg(Rd, Q, 2)}, {fpimm(modimm(abc, defgh), 32)}"),
    ("MVNI_32_shifted", 1, "cmode & 9 == 0", "mvni {vreg(Rd, Q, 2)}, " + IMM8 + "{shifted(0, (cmode >> 1) * 8)}"),
    ("BIC_vector_imm_32", 1, "cmode & 9 == 1", "bic {vreg(Rd, Q, 2)}, " + IMM8 + "{shifted(0, (cmode >> 1) * 8)}"),
    ("MVNI_16_shifted", 1, "cmode & 13 == 8",
     "mvni {vreg(Rd, Q, 1)}, " + IMM8 + "{shifted(0, (cmode >> 1 & 1) * 8)}"),
    ("BIC_vector_imm_16", 1, "cmode & 13 == 9",
     "bic {vreg(Rd, Q, 1)}, " + IMM8 + "{shifted(0, (cmode >> 1 & 1) * 8)}"),
    ("MVNI_32_ones", 1, "cmode & 14 == 12", "mvni {vreg(Rd, Q, 2)}, " + IMM8 + ", msl #{8 << (cmode & 1)}"),
    ("MOVI_64_scalar", 1, "cmode == 14 and Q == 0", "movi d{Rd}, {imm(simdimm(1, cmode, modimm(abc, defgh)))}"),
    ("MOVI_64_vector", 1, "cmode == 14 and Q == 1",
     "movi v{Rd}.2d, {imm(simdimm(1, cmode, modimm(abc, defgh)))}"),
    ("FMOV_vector_imm_d", 1, "cmode == 15 and Q == 1", "fmov v{Rd}.2d, {fpimm(modimm(abc, defgh), 64)}"),
]
for name, opbit, when, text in MODIMM:
    op = name.split("_")[0].lower()
    row(name, f"0 Q {opbit} 0111100000 abc:3 cmode:4 0 1 defgh:5 Rd", text, when,
        sem="simd_modimm" if op == "fmov" else "simd_modimm_int", args=dict(op=op, opbit=opbit))

# --- shift by immediate --------------------------------------------------------------------

SHR = "{imm(shr_amount(immh, immb))}"
SHL = "{imm(shl_amount(immh, immb))}"
VSH = "{vreg(Rd, Q, hsize(immh))}, {vreg(Rn, Q, hsize(immh))}, "
SSH = "{sreg(Rd, hsize(immh))}, {sreg(Rn, hsize(immh))}, "
SHIFTS = [  # U, opcode, mnemonic, amount, family, scalar immh condition (None: no scalar form)
    (0, "00000", "sshr", SHR, "simd_shift_imm", "immh >= 8"),
    (0, "00010", "ssra", SHR, "simd_shift_imm", "immh >= 8"),
    (0, "00100", "srshr", SHR, "simd_shift_imm", "immh >= 8"),
    (0, "00110", "srsra", SHR, "simd_shift_imm", "immh >= 8"),
    (0, "01010", "shl", SHL, "simd_shift_imm", "immh >= 8"),
    (0, "01110", "sqshl", SHL, "simd_shift_imm", "immh != 0"),
    (0, "11100", "scvtf", SHR, "simd_cvt_fixed", "immh >= 4"),
    (0, "11111", "fcvtzs", SHR, "simd_cvt_fixed", "immh >= 4"),
    (1, "00000", "ushr", SHR, "simd_shift_imm", "immh >= 8"),
    (1, "00010", "usra", SHR, "simd_shift_imm", "immh >= 8"),
    (1, "00100", "urshr", SHR, "simd_shift_imm", "immh >= 8"),
    (1, "00110", "ursra", SHR, "simd_shift_imm", "immh >= 8"),
    (1, "01000", "sri", SHR, "simd_shift_imm", "immh >= 8"),
    (1, "01010", "sli", SHL, "simd_shift_imm", "immh >= 8"),
    (1, "01100", "sqshlu", SHL, "simd_shift_imm", "immh != 0"),
    (1, "01110", "uqshl", SHL, "simd_shift_imm", "immh != 0"),
    (1, "11100", "ucvtf", SHR, "simd_cvt_fixed", "immh >= 4"),
    (1, "11111", "fcvtzu", SHR, "simd_cvt_fixed", "immh >= 4"),
]
for U, opcode, mn, amount, sem, swhen in SHIFTS:
    fixed = sem == "simd_cvt_fixed"
    # SQSHL and UQSHL have register forms too; the manual calls these "(immediate)"
    suffix = "_fixed" if fixed else "_imm" if mn in ("sqshl", "uqshl") else ""
    # FP fixed point: 001x would be half precision (ARMv8.2), 000x is another group
    vwhen = "(immh >= 4 if Q else 4 <= immh < 8)" if fixed else "(immh != 0 if Q else 0 < immh < 8)"
    row(f"{mn.upper()}{suffix}_vector", f"0 Q {U} 011110 immh immb {opcode} 1 Rn Rd", f"{mn} {VSH}{amount}",
        vwhen, sem=sem, args=dict(op=mn, scalar=0))
    row(f"{mn.upper()}{suffix}_scalar", f"01 {U} 111110 immh immb {opcode} 1 Rn Rd", f"{mn} {SSH}{amount}",
        swhen, sem=sem, args=dict(op=mn, scalar=1))

NARROW_SHIFTS = [  # U, opcode, mnemonic, has scalar form
    (0, "10000", "shrn", 0), (0, "10001", "rshrn", 0), (0, "10010", "sqshrn", 1), (0, "10011", "sqrshrn", 1),
    (1, "10000", "sqshrun", 1), (1, "10001", "sqrshrun", 1), (1, "10010", "uqshrn", 1),
    (1, "10011", "uqrshrn", 1),
]
for U, opcode, mn, scalar in NARROW_SHIFTS:
    row(f"{mn.upper()}_vector", f"0 Q {U} 011110 immh immb {opcode} 1 Rn Rd",
        f"{mn}{TWO} {{vreg(Rd, Q, hsize(immh))}}, {{vreg(Rn, 1, hsize(immh) + 1)}}, {SHR}", "0 < immh < 8",
        sem="simd_shift_narrow", args=dict(op=mn, scalar=0))
    if scalar:
        row(f"{mn.upper()}_scalar", f"01 {U} 111110 immh immb {opcode} 1 Rn Rd",
            f"{mn} {{sreg(Rd, hsize(immh))}}, {{sreg(Rn, hsize(immh) + 1)}}, {SHR}", "0 < immh < 8",
            sem="simd_shift_narrow", args=dict(op=mn, scalar=1))
for U, mn in ((0, "sshll"), (1, "ushll")):
    row(f"{mn.upper()}", f"0 Q {U} 011110 immh immb 10100 1 Rn Rd",
        f"{mn}{TWO} {{vreg(Rd, 1, hsize(immh) + 1)}}, {{vreg(Rn, Q, hsize(immh))}}, {SHL}", "0 < immh < 8",
        sem="simd_shift_long", args=dict(op=mn))

# --- permute, extract, table lookup --------------------------------------------------------

for opc, mn in (("001", "uzp1"), ("010", "trn1"), ("011", "zip1"), ("101", "uzp2"), ("110", "trn2"),
                ("111", "zip2")):
    row(mn.upper(), f"0 Q 001110 size 0 Rm 0 {opc} 10 Rn Rd", f"{mn} {V3}", VSIZE["all"],
        sem="simd_permute", args=dict(op=mn))
row("EXT", "0 Q 101110 00 0 Rm 0 imm4 0 Rn Rd",
    "ext {vreg(Rd, Q, 0)}, {vreg(Rn, Q, 0)}, {vreg(Rm, Q, 0)}, {imm(imm4)}", "Q or imm4 < 8")
for op, mn in ((0, "tbl"), (1, "tbx")):
    row(mn.upper(), f"0 Q 001110 00 0 Rm 0 len {op} 00 Rn Rd",
        f"{mn} {{vreg(Rd, Q, 0)}}, {{vlist(Rn, len + 1, '16b')}}, {{vreg(Rm, Q, 0)}}",
        sem="simd_table", args=dict(op=mn))
