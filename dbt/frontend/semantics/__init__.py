"""Instruction semantics, written once per instruction family against the block builder.

A handler is named after its table row (or the row's `sem`), receives the row's fields and
bound constants as keyword arguments, emits the instruction, and returns False when the
instruction ends the block.
"""
HANDLERS = {}


def sem(fn=None, *, name=None):
    def register(f):
        key = name or f.__name__
        if key in HANDLERS:
            raise ValueError(f"semantics {key} defined twice")
        HANDLERS[key] = f
        return f
    return register(fn) if fn is not None else register


from . import dp_imm, dp_reg, branch_sys, ldst  # noqa: E402,F401
from . import fp, simd_int, simd_fp, simd_ldst  # noqa: E402,F401
from . import simd_int_3same, simd_int_3diff, simd_int_2misc, simd_int_shift  # noqa: E402,F401
