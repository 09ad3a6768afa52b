"""The machinery behind the encoding table: rows, bit patterns, the decoder built from them.

A row is one instruction form as the ARM manual names it.  Its pattern lists the 32 bits from
bit 31 down to bit 0 as space-separated tokens:

    "sf 0 0 100010 sh imm12 Rn Rd"

- a run of 0/1 is fixed bits, a run of x is don't-care bits;
- a name is a field; its width is given as name:width, or taken from a trailing number
  (imm12 -> 12), or from DEFAULT_WIDTHS (Rd -> 5, sf -> 1).

`when` is an optional Python expression over the fields that must hold for the row to match
(the manual's "unallocated if ..." conditions, written positively).  Rows are tried from the
most specific (most fixed bits) to the least; a word that no row accepts is UNDEFINED.  Where two
rows of equal specificity overlap, the one with `prio` set higher wins, and a test proves that
every row can still be reached.
"""
from __future__ import annotations

import re

import numpy as np
from dataclasses import dataclass, field

from .bits import logical_imm_valid, decode_bit_masks

PREDICATES = {"logical_imm_valid": logical_imm_valid, "decode_bit_masks": decode_bit_masks}

DEFAULT_WIDTHS = {
    "sf": 1, "Rd": 5, "Rn": 5, "Rm": 5, "Rt": 5, "Rt2": 5, "Ra": 5, "Rs": 5,
    "N": 1, "S": 1, "Q": 1, "U": 1, "o0": 1, "o1": 1, "o2": 1, "o3": 1, "op": 1,
    "sh": 1, "L": 1, "V": 1, "b5": 1, "M": 1, "size": 2, "cond": 4, "nzcv": 4, "opc": 2,
    "shift": 2, "option": 3, "type": 2, "rmode": 2, "immr": 6, "imms": 6, "hw": 2,
    "immlo": 2, "immhi": 19, "CRn": 4, "CRm": 4, "op1": 3, "op2": 3, "scale": 6,
    "immh": 4, "immb": 3, "len": 2, "sz": 1, "H": 1, "opcode": 4, "a": 1, "b": 1, "c": 1,
    "d": 1, "e": 1, "f": 1, "g": 1, "h": 1, "R": 1, "ftype": 2, "op0": 2,
}


@dataclass(frozen=True)
class Field:
    name: str
    lo: int
    width: int

    def extract(self, word: int) -> int:
        return (word >> self.lo) & ((1 << self.width) - 1)


@dataclass
class Row:
    name: str                      # ARM-manual name with a form suffix: ADD_imm, LDR_reg_x
    pattern: str
    asm: str | None = None          # disassembly template (see disasm.py)
    when: str | None = None         # extra match condition over the fields
    sem: str | None = None          # semantics handler (defaults to the row name)
    args: dict = field(default_factory=dict)   # constants bound for the handler
    prio: int = 0
    alias: list = field(default_factory=list)  # [(when, asm)]: preferred disassembly
    unpred: str | None = None       # CONSTRAINED UNPREDICTABLE field values the tests avoid
    group: str = ""                # the manual's encoding group, set by the table module
    mask: int = 0
    value: int = 0
    fields: tuple = ()
    cond: object = None

    def __post_init__(self):
        self.mask, self.value, self.fields = parse_pattern(self.pattern)
        self.cond = compile(self.when, f"<when {self.name}>", "eval") if self.when else None
        if self.sem is None:
            self.sem = self.name

    @property
    def specificity(self) -> int:
        return bin(self.mask).count("1")

    def field_values(self, word: int) -> dict:
        return {f.name: f.extract(word) for f in self.fields}

    def matches(self, word: int) -> bool:
        if (word & self.mask) != self.value:
            return False
        return self.cond is None or bool(eval(self.cond, PREDICATES, self.field_values(word)))


_token = re.compile(r"^([A-Za-z_][A-Za-z_0-9]*?)(?::(\d+))?$")


def parse_pattern(pattern: str):
    mask = value = 0
    pos = 32
    fields = []
    for tok in pattern.split():
        if set(tok) <= set("01x"):
            for ch in tok:
                pos -= 1
                if ch != "x":
                    mask |= 1 << pos
                    value |= int(ch) << pos
            continue
        m = _token.match(tok)
        if not m:
            raise ValueError(f"bad pattern token {tok!r} in {pattern!r}")
        name, width = m.group(1), m.group(2)
        if width is None:
            if name in DEFAULT_WIDTHS:
                width = DEFAULT_WIDTHS[name]
            else:
                digits = re.search(r"(\d+)$", name)
                if not digits:
                    raise ValueError(f"field {name!r} needs a width in {pattern!r}")
                width = digits.group(1)
        width = int(width)
        pos -= width
        fields.append(Field(name, pos, width))
    if pos != 0:
        raise ValueError(f"pattern {pattern!r} has {32 - pos} bits, not 32")
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate field in {pattern!r}")
    return mask, value, tuple(fields)


# The fast lookup splits the table on these bits: op0 (28:25) and bits 31, 30, 29, 24.
BUCKET_BITS = (31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21)


def bucket_of(word: int) -> int:
    b = 0
    for bit in BUCKET_BITS:
        b = (b << 1) | ((word >> bit) & 1)
    return b


class Decoder:
    """Decodes a 32-bit word to (row, fields) or None (UNDEFINED)."""

    def __init__(self, rows):
        self.rows = list(rows)
        names = [r.name for r in self.rows]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate row names: {sorted(dup)}")
        self.by_name = {r.name: r for r in self.rows}
        # most specific first; ties broken by prio, then table order
        order = sorted(range(len(self.rows)),
                       key=lambda i: (-self.rows[i].specificity, -self.rows[i].prio, i))
        self.ordered = [self.rows[i] for i in order]
        nb = 1 << len(BUCKET_BITS)
        self.buckets = [[] for _ in range(nb)]
        index = np.arange(nb)
        for row in self.ordered:
            fmask = fval = 0
            for k, bit in enumerate(reversed(BUCKET_BITS)):
                if (row.mask >> bit) & 1:
                    fmask |= 1 << k
                    fval |= ((row.value >> bit) & 1) << k
            for b in np.nonzero((index & fmask) == fval)[0]:
                self.buckets[b].append(row)

    def decode(self, word: int):
        word &= 0xFFFFFFFF
        for row in self.buckets[bucket_of(word)]:
            if (word & row.mask) == row.value:
                f = row.field_values(word)
                if row.cond is None or eval(row.cond, PREDICATES, f):
                    return row, f
        return None

    def candidates(self, word: int):
        """Every row whose pattern and condition accept the word, in priority order."""
        return [r for r in self.ordered if r.matches(word)]
