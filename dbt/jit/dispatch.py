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
    code = exits.LOOKUP
    while True:
        if env[_BUDGET] <= 0:
            return exits.BUDGET
        f = lookup(keys_pc, keys_ctx, fns, env[_PC], ctx)
        if f == 0:
            return exits.MISS
        if code == exits.LINK:
            # the last block stopped at a direct branch whose chain slot was empty: fill it
            store_u64(env[_LINK_SLOT], f)
        code = call_block(f, env_addr)
        if code != exits.LOOKUP and code != exits.LINK:
            return code
