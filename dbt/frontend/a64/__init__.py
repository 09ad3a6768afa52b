"""The A64 encoding table: ARMv8.0-A plus CRC32, one module per encoding group of the manual.

TABLE is the single source for the decoder, the disassembler and the random instruction
generator used by the differential tests.
"""
from ..encoding import Decoder
from . import dp_imm, branch_sys, ldst, dp_reg, fp, simd, simd_ldst

GROUPS = (dp_imm, branch_sys, ldst, dp_reg, fp, simd, simd_ldst)

TABLE = []
for _group in GROUPS:
    for _row in _group.ROWS:
        _row.group = _group.__name__.rsplit(".", 1)[-1]
        TABLE.append(_row)

_decoder = None


def decoder() -> Decoder:
    global _decoder
    if _decoder is None:
        _decoder = Decoder(TABLE)
    return _decoder
