"""The A64 encoding table: every row reachable, reserved words UNDEFINED, disassembly as capstone's."""
import random
import struct
from collections import Counter
import importlib.util
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from dbt.frontend.a64 import TABLE, decoder
from dbt.frontend.disasm import HELPERS, Disassembler
from dbt.testing.gen import random_word

ROOT = Path(__file__).resolve().parents[1]


def test_every_row_reachable():
    """No row is shadowed: each yields random words that decode to it."""
    rng = random.Random(1234)
    dec = decoder()
    unreachable = []
    for row in TABLE:
        for _ in range(3):
            word = random_word(row, rng, tries=1000)
            if word is None or dec.decode(word)[0] is not row:
                unreachable.append(row.name)
                break
    assert not unreachable, f"rows no word decodes to: {unreachable}"


def test_row_names_fields_and_args_do_not_collide():
    names = [r.name for r in TABLE]
    assert len(names) == len(set(names))
    for row in TABLE:
        fields = {f.name for f in row.fields}
        assert not set(row.args) & fields, row.name          # handler(t, **fields, **args)
        assert not (set(row.args) | fields) & set(HELPERS), row.name   # templates see both


UNDEFINED = {
    0x00000000: "udf #0 space",
    0xFFFFFFFF: "all ones",
    0x4E284800: "aese v0.16b, v0.16b (crypto)",
    0x5E000000: "sha1c q0, s0, v0.4s (crypto)",
    0x4EE0E000: "pmull2 v0.1q, v0.2d, v0.2d (crypto 64-bit PMULL)",
    0x0E60E000: "pmull with size = 01 (reserved)",
    0x1EE22820: "fadd h0, h1, h2 (FP16, ARMv8.2)",
    0x1EE60000: "fmov w0, h0 (FP16, ARMv8.2)",
    0x1EA22820: "fadd with ftype = 10",
    0x1E020420: "scvtf s0, w1, #63 (fbits > 32 with a W register)",
    0x2E808400: "sqrdmlah v0.2s (ARMv8.1)",
    0x4E809400: "sdot v0.4s (ARMv8.2)",
    0x1E7E0000: "fjcvtzs w0, d0 (ARMv8.3)",
    0x0EE08400: "add v0.1d (size = 11, Q = 0)",
    0x0E208C00 | (3 << 22): "cmtst v0.1d (size = 11, Q = 0)",
    0x0C408C00: "ld2 {v0.1d, v1.1d} (size = 11, Q = 0)",
    0x4F00FC00: "fmov v0.8h, #imm (FP16, o2 = 1)",
    0x0F40E400: "scvtf v0.4h, #fbits (FP16 fixed point, immh = 001x)",
    0x0D409400: "ld1 {v0.d}[0] with S = 1 (reserved)",
}


@pytest.mark.parametrize("word", sorted(UNDEFINED))
def test_undefined(word):
    assert decoder().decode(word) is None, UNDEFINED[word]


DEFINED = {
    # dp_imm, dp_reg, branch_sys, ldst
    0x91000420: "ADD_imm", 0x8B020020: "ADD_shift", 0x14000000: "B", 0xF9400020: "LDR_64_imm_uoff",
    # fp
    0x1E222820: "FADD_scalar", 0x1E624020: "FCVT", 0x1EE24020: "FCVT", 0x9E660000: "FMOV_gen_x_d",
    0x9EAF0020: "FMOV_gen_top_x", 0x1F420C20: "FMADD", 0x1E202008: "FCMP_zero", 0x1E201000: "FMOV_scalar_imm",
    0x9E780020: "FCVTZS_gen", 0x1E02C020: "SCVTF_gen_fixed", 0x1E214020: "FNEG_scalar",
    # simd
    0x4EA18400: "ADD_vector", 0x5EE18400: "ADD_scalar", 0x4EA11C20: "ORR_vector", 0x6E205800: "NOT",
    0x0E20E000: "PMULL_vector", 0x4E083C20: "UMOV", 0x4E0C1C20: "INS_general", 0x5E0C0420: "DUP_element_scalar",
    0x4F000400: "MOVI_32_shifted", 0x6F00E400: "MOVI_64_vector", 0x4F00F400: "FMOV_vector_imm_s",
    0x0F0AA420: "SSHLL", 0x5F7F0420: "SSHR_scalar", 0x4F3FE420: "SCVTF_fixed_vector",
    0x4FA11020: "FMLA_elem_vector", 0x5F43C020: "SQDMULH_elem_scalar", 0x5EF1B820: "ADDP_scalar",
    0x4E216820: "FCVTN_vector", 0x6E30C820: "FMAXNMV", 0x4E020020: "TBL", 0x6E011020: "EXT",
    0x4E823820: "ZIP1", 0x4EA0D820: "FCMEQ_zero_vector", 0x7E61C820: "FCVTAU_scalar",
    # simd_ldst
    0x4C407000: "LD1_mult_1reg", 0x4CDF2000: "LD1_mult_4reg_post_imm", 0x0C9F8000: "ST2_mult_post_imm",
    0x0D400000: "LD1_single_b", 0x0DFF8400: "LD2_single_d_post_imm", 0x0DE0A400: "LD4_single_d_post_reg",
    0x4D40E400: "LD3R", 0x4DDFE400: "LD3R_post_imm",
}


@pytest.mark.parametrize("word", sorted(DEFINED))
def test_defined(word):
    hit = decoder().decode(word)
    assert hit is not None and hit[0].name == DEFINED[word], f"{word:08x}"


def _load_tool(name):
    loader = SourceFileLoader(name.replace("-", "_"), str(ROOT / "tools" / name))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def test_disassembly_agrees_with_capstone():
    capstone = pytest.importorskip("capstone")
    check = _load_tool("disasm-check")
    md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    dis = Disassembler(decoder())
    rng = random.Random(99)
    pc = 0x400000
    total, agree = Counter(), Counter()
    bad = []
    for row in TABLE:
        for _ in range(20):
            word = random_word(row, rng)
            if word is None:
                continue
            ours = dis.text(word, pc)
            ins = list(md.disasm(struct.pack("<I", word), pc))
            theirs = f"{ins[0].mnemonic} {ins[0].op_str}".strip() if ins else None
            total[row.group] += 1
            if check.normalise(ours) == check.normalise(theirs):
                agree[row.group] += 1
            else:
                bad.append(f"{row.name} {word:08x}: {ours!r} vs {theirs!r}")
    for group in total:
        print(f"{group}: {agree[group]}/{total[group]} = {100.0 * agree[group] / total[group]:.2f}%")
    overall = 100.0 * sum(agree.values()) / sum(total.values())
    print(f"agreement with capstone: {overall:.2f}%")
    for line in bad[:20]:
        print("  ", line)
    assert overall >= 98.0
    for group in ("fp", "simd", "simd_ldst"):
        assert agree[group] >= 0.98 * total[group], group
