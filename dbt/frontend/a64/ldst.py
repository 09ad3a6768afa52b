"""Loads and stores of general and SIMD&FP registers (op0 = x1x0), except the AdvSIMD
structure loads (simd_ldst.py).

The register forms are generated from the manual's size/opc tables so that every form is a row
of its own, with its own name; `args` carries what the shared handlers need.
"""
from ..encoding import Row as I

# (size, V, opc) -> (mnemonic, register view, access bytes, sign-extends, is load, name suffix)
# Register view: 'w'/'x' general, 'b'/'h'/'s'/'d'/'q' SIMD&FP.
REGISTER_FORMS = {
    (0, 0, 0): ("strb", "w", 1, 0, 0, "STRB"),
    (0, 0, 1): ("ldrb", "w", 1, 0, 1, "LDRB"),
    (0, 0, 2): ("ldrsb", "x", 1, 1, 1, "LDRSB_64"),
    (0, 0, 3): ("ldrsb", "w", 1, 1, 1, "LDRSB_32"),
    (1, 0, 0): ("strh", "w", 2, 0, 0, "STRH"),
    (1, 0, 1): ("ldrh", "w", 2, 0, 1, "LDRH"),
    (1, 0, 2): ("ldrsh", "x", 2, 1, 1, "LDRSH_64"),
    (1, 0, 3): ("ldrsh", "w", 2, 1, 1, "LDRSH_32"),
    (2, 0, 0): ("str", "w", 4, 0, 0, "STR_32"),
    (2, 0, 1): ("ldr", "w", 4, 0, 1, "LDR_32"),
    (2, 0, 2): ("ldrsw", "x", 4, 1, 1, "LDRSW"),
    (3, 0, 0): ("str", "x", 8, 0, 0, "STR_64"),
    (3, 0, 1): ("ldr", "x", 8, 0, 1, "LDR_64"),
    (3, 0, 2): ("prfm", "prf", 8, 0, 0, "PRFM"),
    (0, 1, 0): ("str", "b", 1, 0, 0, "STR_B"),
    (0, 1, 1): ("ldr", "b", 1, 0, 1, "LDR_B"),
    (0, 1, 2): ("str", "q", 16, 0, 0, "STR_Q"),
    (0, 1, 3): ("ldr", "q", 16, 0, 1, "LDR_Q"),
    (1, 1, 0): ("str", "h", 2, 0, 0, "STR_H"),
    (1, 1, 1): ("ldr", "h", 2, 0, 1, "LDR_H"),
    (2, 1, 0): ("str", "s", 4, 0, 0, "STR_S"),
    (2, 1, 1): ("ldr", "s", 4, 0, 1, "LDR_S"),
    (3, 1, 0): ("str", "d", 8, 0, 0, "STR_D"),
    (3, 1, 1): ("ldr", "d", 8, 0, 1, "LDR_D"),
}

# mode -> (pattern after "size 111 V", name, address text)
MODES = {
    "uoff": ("01 opc imm12 Rn Rt", "imm_uoff", "[{xs(Rn)}{', ' + imm(imm12 * nbytes) if imm12 else ''}]"),
    "post": ("00 opc 0 imm9 01 Rn Rt", "imm_post", "[{xs(Rn)}], {imm(simm(imm9, 9))}"),
    "pre": ("00 opc 0 imm9 11 Rn Rt", "imm_pre", "[{xs(Rn)}, {imm(simm(imm9, 9))}]!"),
    "reg": ("00 opc 1 Rm option S 10 Rn Rt", "reg",
            "[{xs(Rn)}, {r(Rm, option & 1)}{regext(option, S, nbytes.bit_length() - 1)}]"),
    "unscaled": ("00 opc 0 imm9 00 Rn Rt", "unscaled", "[{xs(Rn)}{', ' + imm(simm(imm9, 9)) if imm9 else ''}]"),
    "unpriv": ("00 opc 0 imm9 10 Rn Rt", "unpriv", "[{xs(Rn)}{', ' + imm(simm(imm9, 9)) if imm9 else ''}]"),
}

MNEMONIC_PREFIX = {"unscaled": ("ldur", "stur", "prfum"), "unpriv": ("ldtr", "sttr", None)}


def _reg_text(view):
    if view == "prf":
        return "{prfop(Rt)}"
    if view in "wx":
        return "{%s(Rt)}" % view
    return view + "{Rt}"


def _register_rows():
    rows = []
    for (size, V, opc), (mn, view, nbytes, signed, load, name) in REGISTER_FORMS.items():
        for mode, (tail, suffix, addr) in MODES.items():
            if view == "prf" and mode in ("post", "pre", "unpriv"):
                continue            # PRFM has no writeback or unprivileged form
            if V and mode == "unpriv":
                continue            # no unprivileged SIMD&FP loads
            mnem = mn
            if mode in MNEMONIC_PREFIX:
                ld, st, prf = MNEMONIC_PREFIX[mode]
                mnem = prf if view == "prf" else mn.replace("ldr", ld, 1).replace("str", st, 1)
                row_name = (name.replace("LDR", ld.upper(), 1).replace("STR", st.upper(), 1)
                            if view != "prf" else "PRFUM")
            else:
                row_name = f"{name}_{suffix}"
            pattern = f"{size:02b} 111 {V} {tail.replace('opc', f'{opc:02b}')}"
            when = "option & 2" if mode == "reg" else None
            writeback = mode in ("post", "pre")
            rows.append(I(row_name, pattern, f"{mnem} {_reg_text(view)}, {addr}", when=when,
                          sem="prfm" if view == "prf" else "ldst_reg",
                          args=dict(nbytes=nbytes, signed=signed, load=load, view=view, mode=mode),
                          unpred="Rn == Rt and Rn != 31" if writeback and not V else None))
    return rows


LITERAL = [
    I("LDR_lit_32", "00 011 0 00 imm19 Rt", "ldr {w(Rt)}, {target(pc, imm19, 19)}", sem="ldr_lit",
      args=dict(nbytes=4, signed=0, view="w")),
    I("LDR_lit_64", "01 011 0 00 imm19 Rt", "ldr {x(Rt)}, {target(pc, imm19, 19)}", sem="ldr_lit",
      args=dict(nbytes=8, signed=0, view="x")),
    I("LDRSW_lit", "10 011 0 00 imm19 Rt", "ldrsw {x(Rt)}, {target(pc, imm19, 19)}", sem="ldr_lit",
      args=dict(nbytes=4, signed=1, view="x")),
    I("PRFM_lit", "11 011 0 00 imm19 Rt", "prfm {prfop(Rt)}, {target(pc, imm19, 19)}", sem="prfm"),
    I("LDR_lit_S", "00 011 1 00 imm19 Rt", "ldr s{Rt}, {target(pc, imm19, 19)}", sem="ldr_lit",
      args=dict(nbytes=4, signed=0, view="s")),
    I("LDR_lit_D", "01 011 1 00 imm19 Rt", "ldr d{Rt}, {target(pc, imm19, 19)}", sem="ldr_lit",
      args=dict(nbytes=8, signed=0, view="d")),
    I("LDR_lit_Q", "10 011 1 00 imm19 Rt", "ldr q{Rt}, {target(pc, imm19, 19)}", sem="ldr_lit",
      args=dict(nbytes=16, signed=0, view="q")),
]

# opc V L -> (mnemonic, view, bytes per register, sign-extends)
PAIR_FORMS = {
    (0, 0, 0): ("stp", "w", 4, 0, "STP_32"), (0, 0, 1): ("ldp", "w", 4, 0, "LDP_32"),
    (1, 0, 1): ("ldpsw", "x", 4, 1, "LDPSW"),
    (2, 0, 0): ("stp", "x", 8, 0, "STP_64"), (2, 0, 1): ("ldp", "x", 8, 0, "LDP_64"),
    (0, 1, 0): ("stp", "s", 4, 0, "STP_S"), (0, 1, 1): ("ldp", "s", 4, 0, "LDP_S"),
    (1, 1, 0): ("stp", "d", 8, 0, "STP_D"), (1, 1, 1): ("ldp", "d", 8, 0, "LDP_D"),
    (2, 1, 0): ("stp", "q", 16, 0, "STP_Q"), (2, 1, 1): ("ldp", "q", 16, 0, "LDP_Q"),
}
PAIR_MODES = {  # bits 25:23
    "noalloc": ("000", "{xs(Rn)}{', ' + imm(simm(imm7, 7, nbytes)) if imm7 else ''}]"),
    "post": ("001", "{xs(Rn)}], {imm(simm(imm7, 7, nbytes))}"),
    "offset": ("010", "{xs(Rn)}{', ' + imm(simm(imm7, 7, nbytes)) if imm7 else ''}]"),
    "pre": ("011", "{xs(Rn)}, {imm(simm(imm7, 7, nbytes))}]!"),
}


def _pair_rows():
    rows = []
    for (opc, V, L), (mn, view, nbytes, signed, name) in PAIR_FORMS.items():
        for mode, (bits, addr) in PAIR_MODES.items():
            if mode == "noalloc":
                if signed:
                    continue
                mn_, name_ = mn.replace("p", "np", 1), name.replace("P", "NP", 1)
            else:
                mn_, name_ = mn, f"{name}_{mode}"
            regs = ("{%s(Rt)}, {%s(Rt2)}" % (view, view) if view in "wx"
                    else f"{view}{{Rt}}, {view}{{Rt2}}")
            unpred = []
            if L:
                unpred.append("Rt == Rt2")
            if mode in ("post", "pre") and not V:
                unpred.append("(Rn == Rt or Rn == Rt2) and Rn != 31")
            rows.append(I(name_, f"{opc:02b} 101 {V} {bits} {L} imm7 Rt2 Rn Rt", f"{mn_} {regs}, [{addr}",
                          sem="ldst_pair",
                          args=dict(nbytes=nbytes, signed=signed, load=L, view=view, mode=mode),
                          unpred=" or ".join(unpred) or None))
    return rows


def _exclusive_rows():
    # size 001000 o2 L o1 Rs o0 Rt2 Rn Rt ; (o2, L, o1, o0) -> form
    forms = {
        (0, 0, 0, 0): ("stxr", "STXR", 0), (0, 0, 0, 1): ("stlxr", "STLXR", 0),
        (0, 1, 0, 0): ("ldxr", "LDXR", 0), (0, 1, 0, 1): ("ldaxr", "LDAXR", 0),
        (0, 0, 1, 0): ("stxp", "STXP", 1), (0, 0, 1, 1): ("stlxp", "STLXP", 1),
        (0, 1, 1, 0): ("ldxp", "LDXP", 1), (0, 1, 1, 1): ("ldaxp", "LDAXP", 1),
        (1, 0, 0, 1): ("stlr", "STLR", 0), (1, 1, 0, 1): ("ldar", "LDAR", 0),
    }
    suffix = {0: "b", 1: "h", 2: "", 3: ""}
    rows = []
    for (o2, L, o1, o0), (mn, name, pair) in forms.items():
        for size in range(4):
            if pair and size < 2:
                continue
            view = "x" if size == 3 else "w"
            nm = f"{name}{suffix[size].upper()}" + ({2: "_32", 3: "_64"}.get(size, ""))
            mnem = mn + suffix[size]
            status = not L and not o2
            rs = "Rs" if status else "11111"
            rt2 = "Rt2" if pair else "11111"
            regs = "{%s(Rt)}" % view + (", {%s(Rt2)}" % view if pair else "")
            text = (f"{mnem} " + ("{w(Rs)}, " if status else "") + regs + ", [{xs(Rn)}]")
            unpred = []
            if status:
                unpred.append("Rs == Rt or (Rs == Rn and Rn != 31)" + (" or Rs == Rt2" if pair else ""))
            if pair and L:
                unpred.append("Rt == Rt2")
            rows.append(I(nm, f"{size:02b} 001000 {o2} {L} {o1} {rs} {o0} {rt2} Rn Rt", text,
                          sem="ldst_exclusive",
                          args=dict(nbytes=1 << size, load=L, pair=pair, exclusive=1 - o2,
                                    ordered=o0),
                          unpred=" or ".join(unpred) or None))
    return rows


ROWS = _register_rows() + LITERAL + _pair_rows() + _exclusive_rows()
