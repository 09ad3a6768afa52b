"""AdvSIMD element and structure loads and stores (op0 = 0x00 with bits 29:27 = 001, V = 1):
LD1-LD4/ST1-ST4 (multiple structures), LD1-LD4/ST1-ST4 (single structure) and LD1R-LD4R, each
with no offset, post-index by the transfer size (Rm = 31) and post-index by a register.

Row names: LD2_mult, LD1_mult_3reg (LD1/ST1 with 1-4 registers), LD3_single_h (element size
b/h/s/d), LD4R; the post-indexed forms add _post_imm or _post_reg.

Semantics families (handler(t, **fields, **args)); Rn is the base (31 = SP), Rt the first
register, registers wrap from v31 to v0; `Rm` exists only in the _post_reg rows, and the
_post_imm rows increment Rn by the number of bytes transferred:

  simd_ldst_multiple(Q, size, Rn, Rt, [Rm]; load, selem, rpt, wback)
        selem structure elements interleaved over rpt * selem registers (LD1/ST1: selem = 1 and
        rpt = 1..4; LDn/STn: rpt = 1); elements are 8 << size bits, 64 << Q bits per register.
  simd_ldst_single(Q, S, size, Rn, Rt, [Rm]; load, selem, esize, wback)
        one element of esize bytes (1, 2, 4, 8) into/from each of selem registers; the index
        is Q:S:size (bytes), Q:S:size<1> (halfwords), Q:S (words), Q (doublewords); the rest of
        each register is preserved.
  simd_ld_replicate(Q, size, Rn, Rt, [Rm]; selem, wback)
        LD1R-LD4R: one element of 8 << size bits loaded and replicated to every lane of each of
        selem registers.
"""
from ..encoding import Row as I

# opcode (bits 15:12) -> registers, selem (LDn/STn structure size)
MULTIPLE = [  # name part, opcode, register count, selem
    ("4_mult", "0000", 4, 4), ("1_mult_4reg", "0010", 4, 1), ("3_mult", "0100", 3, 3),
    ("1_mult_3reg", "0110", 3, 1), ("1_mult_1reg", "0111", 1, 1), ("2_mult", "1000", 2, 2),
    ("1_mult_2reg", "1010", 2, 1),
]

# element size -> (opcode bits 15:14, condition on S:size, bytes)
SINGLE = {
    "b": ("00", None, 1),
    "h": ("01", "size & 1 == 0", 2),
    "s": ("10", "size == 0", 4),
    "d": ("10", "size == 1 and S == 0", 8),
}

ADDRESS = {  # mode -> (bit 23, Rm bits, address text with {n} the byte count)
    "": ("0", "00000", "[{xs(Rn)}]"),
    "_post_imm": ("1", "11111", "[{xs(Rn)}], #%d"),
    "_post_reg": ("1", "Rm", "[{xs(Rn)}], {x(Rm)}"),
}


def _address(mode, nbytes):
    text = ADDRESS[mode][2]
    return text % nbytes if "%d" in text else text


def _rows():
    rows = []
    for L, mn in ((0, "st"), (1, "ld")):
        for part, opcode, nregs, selem in MULTIPLE:
            for mode, (post, rm, _) in ADDRESS.items():
                base_when = "Q == 1 or size != 3" if selem > 1 else None
                when = " and ".join(c for c in (base_when, "Rm != 31" if rm == "Rm" else None) if c) or None
                # the transfer size depends on Q: the text picks it at disassembly time
                addr = ADDRESS[mode][2].replace("%d", "{%d << (3 + Q)}" % nregs)
                rows.append(I(f"{mn.upper()}{part}{mode}", f"0 Q 0011 00 {post} {L} 0 {rm} {opcode} size Rn Rt",
                              f"{mn}{selem} {{vlist(Rt, {nregs}, arr(Q, size))}}, {addr}", when=when,
                              sem="simd_ldst_multiple",
                              args=dict(load=L, selem=selem, rpt=nregs // selem, wback=int(bool(mode)))))
        for selem in (1, 2, 3, 4):
            o0, R = (selem - 1) >> 1, (selem - 1) & 1
            for esize, (op21, cond, nbytes) in SINGLE.items():
                if esize == "b":
                    index = "(Q << 3) | (S << 2) | size"
                elif esize == "h":
                    index = "(Q << 2) | (S << 1) | (size >> 1)"
                elif esize == "s":
                    index = "(Q << 1) | S"
                else:
                    index = "Q"
                for mode, (post, rm, _) in ADDRESS.items():
                    when = " and ".join(c for c in (cond, "Rm != 31" if rm == "Rm" else None) if c) or None
                    rows.append(I(f"{mn.upper()}{selem}_single_{esize}{mode}",
                                  f"0 Q 0011 01 {post} {L} {R} {rm} {op21}{o0} S size Rn Rt",
                                  f"{mn}{selem} {{vlist(Rt, {selem}, '{esize}')}}{{lane({index})}}, "
                                  + _address(mode, selem * nbytes),
                                  when=when, sem="simd_ldst_single",
                                  args=dict(load=L, selem=selem, esize=nbytes, wback=int(bool(mode)))))
    for selem in (1, 2, 3, 4):
        o0, R = (selem - 1) >> 1, (selem - 1) & 1
        for mode, (post, rm, _) in ADDRESS.items():
            addr = ADDRESS[mode][2].replace("%d", "{%d << size}" % selem)
            rows.append(I(f"LD{selem}R{mode}", f"0 Q 0011 01 {post} 1 {R} {rm} 11{o0} 0 size Rn Rt",
                          f"ld{selem}r {{vlist(Rt, {selem}, arr(Q, size))}}, {addr}",
                          when="Rm != 31" if rm == "Rm" else None, sem="simd_ld_replicate",
                          args=dict(selem=selem, wback=int(bool(mode)))))
    return rows


ROWS = _rows()
