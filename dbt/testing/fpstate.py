"""Random vCPU states biased towards floating-point edge cases, for the differential tests of the
FP rows: V registers filled with half, single or double lanes drawn from denormals, values near
overflow and underflow, NaNs and infinities, integers and halves, short mantissas, and copies of
other registers (equal or nearly equal operands); FPCR with any combination of RMode, FZ, DN and
AHP; FPSR sometimes holding cumulative flags already (Unicorn then takes QEMU's host-FPU paths).
"""
from __future__ import annotations

import random

from .oracle import State, random_state

FORMATS = {16: (5, 10), 32: (8, 23), 64: (11, 52)}


def fp_value(rng: random.Random, N: int) -> int:
    """One N-bit encoding."""
    E, F = FORMATS[N]
    emax = (1 << E) - 1
    bias = emax >> 1
    sign = rng.getrandbits(1) << (N - 1)
    k = rng.random()
    if k < 0.15:
        return rng.getrandbits(N)
    if k < 0.25:                                            # denormal
        return sign | rng.getrandbits(F) >> rng.randrange(F)
    if k < 0.32:                                            # near overflow
        return sign | (rng.randrange(emax - 3, emax) << F) | rng.getrandbits(F)
    if k < 0.40:                                            # near underflow
        return sign | (rng.randrange(1, 4) << F) | rng.getrandbits(F)
    if k < 0.48:                                            # special values
        return sign | rng.choice([0, emax << F, (emax << F) | 1, (emax << F) | (1 << (F - 1)),
                                  (emax << F) | rng.getrandbits(F), 1, (1 << F) - 1, 1 << F,
                                  ((emax - 1) << F) | ((1 << F) - 1)])
    if k < 0.65:                                            # near 1.0: integers, halves
        frac = rng.getrandbits(F)
        if rng.random() < 0.5:
            frac &= ~((1 << rng.randrange(F)) - 1)
        return sign | ((bias + rng.randrange(-4, 25)) << F) | frac
    if k < 0.8:                                             # short mantissas
        e = max(1, min(emax - 1, bias + rng.randrange(-60, 64)))
        return sign | (e << F) | (rng.getrandbits(6) << (F - 6))
    return sign | (rng.randrange(0, emax) << F) | rng.getrandbits(F)


def fp_vreg(rng: random.Random, earlier: list) -> int:
    if earlier and rng.random() < 0.3:                      # a copy, perhaps perturbed
        v = rng.choice(earlier)
        if rng.random() < 0.5:
            v ^= 1 << rng.choice((15, 31, 63, 127))
        if rng.random() < 0.3:
            v ^= 1 << rng.randrange(3)
        return v
    N = rng.choice((16, 32, 32, 64, 64))
    return sum(fp_value(rng, N) << (i * N) for i in range(128 // N))


def fp_state(rng: random.Random) -> State:
    s = random_state(rng)
    earlier = []
    for i in range(32):
        if rng.random() < 0.85:
            s.v[i] = fp_vreg(rng, earlier)
            earlier.append(s.v[i])
    s.fpcr = (rng.randrange(4) << 22 | rng.choice((0, 1 << 24)) | rng.choice((0, 1 << 25))
              | rng.choice((0, 0, 1 << 26)))
    if rng.random() < 0.3:
        s.fpsr = rng.choice((0x10, 0x9F, 0x1, 0x8))
    for i in range(31):                                     # integers of every magnitude
        if rng.random() < 0.3:
            b = rng.randrange(1, 65)
            x = rng.getrandbits(b)
            s.x[i] = x if rng.random() < 0.7 else ((1 << 64) - x) & ((1 << 64) - 1)
    return s
