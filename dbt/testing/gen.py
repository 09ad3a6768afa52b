"""Random instruction generation from the encoding table (used by tests and tools)."""
from __future__ import annotations

import random

from ..frontend.encoding import PREDICATES


def random_word(row, rng: random.Random, tries: int = 5000):
    """A random word that decodes to `row`, avoiding CONSTRAINED UNPREDICTABLE field values."""
    from ..frontend.a64 import decoder
    dec = decoder()
    unpred = compile(row.unpred, "<unpred>", "eval") if row.unpred else None
    for _ in range(tries):
        word = (rng.getrandbits(32) & ~row.mask) | row.value
        hit = dec.decode(word)
        if hit is None or hit[0] is not row:
            continue
        if unpred is not None and eval(unpred, PREDICATES, hit[1]):
            continue
        return word
    return None
