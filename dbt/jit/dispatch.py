"""The native dispatcher: looks up and calls compiled blocks, fills chain slots, and returns to
Python only for exits that need it.  No Python runs per block."""
from numba import njit

from ..cpu.state import OFFSET
from . import exits
from .native import call_block, store_u64

_PC = OFFSET["PC"]
_BUDGET = OFFSET["BUDGET"]
_LINK_SLOT = OFFSET["LINK_SLOT"]


@njit(cache=True, inline="always")
def lookup(keys_pc, keys_ctx, fns, pc, ctx):
    mask = keys_pc.shape[0] - 1
    h = ((pc >> 2) ^ (pc >> 17) ^ ctx) & mask
    while True:
        f = fns[h]
        if f == 0:
            return 0
        if keys_pc[h] == pc and keys_ctx[h] == ctx:
            return f
        h = (h + 1) & mask


@njit(cache=True)
def run(env, env_addr, keys_pc, keys_ctx, fns, ctx):
    """env is the vCPU array viewed as int64; keys and fns are the code-cache hash arrays."""
    while True:
        if env[_BUDGET] <= 0:
            return exits.BUDGET
        pc = env[_PC]
        f = lookup(keys_pc, keys_ctx, fns, pc, ctx)
        if f == 0:
            return exits.MISS
        code = call_block(f, env_addr)
        while code == exits.LINK:
            # the block stopped at a direct branch whose chain slot is empty: fill it if the
            # successor exists, then run the successor
            if env[_BUDGET] <= 0:
                return exits.BUDGET
            pc = env[_PC]
            f = lookup(keys_pc, keys_ctx, fns, pc, ctx)
            if f == 0:
                return exits.MISS
            store_u64(env[_LINK_SLOT], f)
            code = call_block(f, env_addr)
        if code != exits.LOOKUP:
            return code
