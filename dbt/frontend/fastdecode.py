"""A Numba-compiled decoder generated from the same encoding table, for sweeps over the whole
32-bit space (tools/decode-sweep).  Returns the row's index in TABLE, or -1 for UNDEFINED.

The Python decoder (encoding.Decoder) stays the one translation uses; the sweep checks the two
agree on a sample and that the generated code accepts every word.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .encoding import BUCKET_BITS


@njit(cache=True)
def _logical_imm_valid(sf, N, imms, immr):
    if not sf and N:
        return False
    combined = (N << 6) | (~imms & 0x3F)
    if combined == 0:
        return False
    length = 0
    while (combined >> (length + 1)) != 0:
        length += 1
    if length < 1 or (1 << length) > (64 if sf else 32):
        return False
    levels = (1 << length) - 1
    return (imms & levels) != levels


def build(table):
    """(decode(word) -> index, the generated condition source) for the table.

    The bucket lists, masks and values are arrays; only the rows' extra conditions become
    generated code, one small function per distinct (condition, field layout)."""
    from .encoding import Decoder
    index = {id(r): i for i, r in enumerate(table)}
    dec = Decoder(table)
    conds = {}
    for row in dec.ordered:
        if row.when:
            conds.setdefault((row.when, row.fields), len(conds))
    src = ["def _make(njit, logical_imm_valid):"]
    for (when, fields), k in conds.items():
        src.append("    @njit(inline='always')")
        src.append(f"    def cond{k}(w):")
        for f in fields:
            src.append(f"        {f.name} = (w >> {f.lo}) & {(1 << f.width) - 1}")
        src.append(f"        return bool({when})")
    src.append("    @njit")
    src.append("    def check(k, w):")
    # a balanced binary dispatch over the condition numbers
    def emit(lo, hi, indent):
        pad = " " * indent
        if hi - lo == 1:
            src.append(f"{pad}return cond{lo}(w)")
            return
        mid = (lo + hi) // 2
        src.append(f"{pad}if k < {mid}:")
        emit(lo, mid, indent + 4)
        src.append(f"{pad}else:")
        emit(mid, hi, indent + 4)
    emit(0, len(conds), 8)
    src.append("    return check")
    text = "\n".join(src)
    ns = {}
    exec(compile(text, "<fastdecode>", "exec"), ns)
    check = ns["_make"](njit, _logical_imm_valid)

    nb = 1 << len(BUCKET_BITS)
    starts = np.zeros(nb + 1, dtype=np.int64)
    cand, masks, values, condk = [], [], [], []
    for b in range(nb):
        starts[b] = len(cand)
        for row in dec.buckets[b]:
            cand.append(index[id(row)])
            masks.append(row.mask)
            values.append(row.value)
            condk.append(conds[(row.when, row.fields)] if row.when else -1)
    starts[nb] = len(cand)
    tables = (starts, np.array(cand, np.int64), np.array(masks, np.int64),
              np.array(values, np.int64), np.array(condk, np.int64))
    bucket_bits = np.array(BUCKET_BITS, dtype=np.int64)

    @njit
    def decode(w):
        b = 0
        for bit in bucket_bits:
            b = (b << 1) | ((w >> bit) & 1)
        st, cd, mk, vl, ck = tables
        for j in range(st[b], st[b + 1]):
            if (w & mk[j]) == vl[j] and (ck[j] < 0 or check(ck[j], w)):
                return cd[j]
        return -1

    return decode, text


def sweep_counts(decode, start: int, stop: int, nrows: int):
    """Histogram of row indices (last bin: UNDEFINED) for words in [start, stop)."""
    return _sweep(decode, start, stop, nrows)


@njit
def _sweep_impl(decode, start, stop, counts):
    undefined = counts.shape[0] - 1
    for w in range(start, stop):
        i = decode(w)
        counts[undefined if i < 0 else i] += 1
    return counts


def _sweep(decode, start, stop, nrows):
    counts = np.zeros(nrows + 1, dtype=np.int64)
    return _sweep_impl(decode, start, stop, counts)
