"""The native dispatcher: looks up and calls compiled blocks, fills chain slots, and returns to
Python only for exits that need it.  No Python runs per block."""
from numba import njit

from ..cpu import exceptions as X
from ..cpu import mmu as mmu_mod
from ..cpu.state import OFFSET, TLB_ENTRIES
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


_CTX = OFFSET["CTX"]
_TRACE = OFFSET["TRACE"]
_EL = OFFSET["EL"]
_IL = OFFSET["PSTATE_IL"]
_SS = OFFSET["PSTATE_SS"]
_DAIF = OFFSET["DAIF"]
_IRQ = OFFSET["IRQ_LINE"]
_FIQ = OFFSET["FIQ_LINE"]
_SERROR = OFFSET["SERROR_LINE"]
_PENDING = OFFSET["PENDING"]
_INFO = OFFSET["EXIT_INFO"]
_INFO2 = OFFSET["EXIT_INFO2"]
_TLB_EXEC = (OFFSET["TLB0_EXEC"], OFFSET["TLB1_EXEC"])
_TLB_ADDEND = (OFFSET["TLB0_ADDEND"], OFFSET["TLB1_ADDEND"])


@njit(cache=True)
def _interrupt_ready(env):
    daif = env[_DAIF]
    return (env[_IRQ] != 0 and (daif & X.DAIF_I) == 0) \
        or (env[_FIQ] != 0 and (daif & X.DAIF_F) == 0) \
        or (env[_SERROR] != 0 and (daif & X.DAIF_A) == 0)


@njit(cache=True)
def run_system(env, env_addr, keys_pc, keys_ctx, fns, mc):
    """The system-mode dispatcher: blocks are keyed by (virtual PC, physical page | context),
    so the instruction address is translated first (through the EXEC TLB, walking on a miss).
    Synchronous exceptions raised by blocks or by instruction fetch, and ERET, are taken here
    without Python; interrupts, system instructions and the rest return."""
    code = exits.LOOKUP
    tlb_exec0, tlb_exec1 = _TLB_EXEC
    add0, add1 = _TLB_ADDEND
    while True:
        if env[_BUDGET] <= 0:
            return exits.BUDGET
        pc = env[_PC]
        if env[_IL] != 0:
            X.sync_exception(env, X.EC_ILLEGAL, 0, 0, pc, False)
            env[_BUDGET] -= 1     # counted, so a guest looping on faults still yields
            code = exits.LOOKUP
            continue
        if pc & 3:
            X.sync_exception(env, X.EC_PC_ALIGN, 0, pc, pc, True)
            env[_BUDGET] -= 1     # counted, so a guest looping on faults still yields
            code = exits.LOOKUP
            continue
        ctx = env[_CTX]
        mmu = ctx & X.CTX_EL
        idx = (pc >> 12) & (TLB_ENTRIES - 1)
        page = pc & ~0xFFF
        if env[(tlb_exec1 if mmu else tlb_exec0) + idx] != page:
            fsc, host = mmu_mod.fill_exec(env, mc, pc, mmu)
            if fsc != mmu_mod.NO_FAULT:
                X.sync_exception(env, X.EC_IABT, fsc, pc, pc, True)
                env[_BUDGET] -= 1
                code = exits.LOOKUP
                continue
        if ctx & X.CTX_DEBUG and X.breakpoint_hit(env, pc):
            X.take_exception(env, X.VEC_SYNC, ((X.EC_BREAKPOINT_LOWER + env[_EL]) << 26) | X.IL
                             | X.ISS_DEBUG, 0, pc, False)
            env[_BUDGET] -= 1     # counted, so a guest looping on faults still yields
            code = exits.LOOKUP
            continue
        host = env[(add1 if mmu else add0) + idx] + pc
        phys = host - mc[mmu_mod.MC_RAM_HOST] + mc[mmu_mod.MC_RAM_BASE]
        key = (phys & ~0xFFF) | ctx
        f = lookup(keys_pc, keys_ctx, fns, pc, key)
        if f == 0:
            env[_INFO] = key        # the code-cache context to translate under
            return exits.MISS
        if code == exits.LINK:
            store_u64(env[_LINK_SLOT], f)
        code = call_block(f, env_addr)
        if code == exits.LOOKUP or code == exits.LINK:
            continue
        if env[_TRACE] != 0:
            return code
        code = finish_exit(env, code)
        if code != exits.LOOKUP:
            return code


@njit(cache=True)
def finish_exit(env, code):
    """Take the synchronous exception (or perform the ERET) a block exit asks for: LOOKUP when
    done, IRQ_CHECK when Python must look at interrupts or stepping, else the exit code."""
    if code == exits.SVC:
        X.sync_exception(env, X.EC_SVC, env[_INFO] & 0xFFFF, 0, env[_PC], False)
    elif code == exits.EXCEPTION:
        X.take_exception(env, X.VEC_SYNC, env[_INFO], 0, env[_PC], False)
    elif code == exits.UNDEFINED:
        X.sync_exception(env, X.EC_UNKNOWN, 0, 0, env[_PC], False)
    elif code == exits.BRK:
        X.sync_exception(env, X.EC_BRK, env[_INFO] & 0xFFFF, 0, env[_PC], False)
    elif code == exits.FAULT and (env[_PENDING] & exits.PENDING_CODE_WRITE) == 0:
        env[_PENDING] = 0
        if env[_INFO2] & X.WATCH_MARK:
            X.take_exception(env, X.VEC_SYNC, ((X.EC_WATCHPOINT_LOWER + env[_EL]) << 26) | X.IL
                             | (env[_INFO2] & 0xFFFFFF), env[_INFO], env[_PC], True)
        else:
            X.sync_exception(env, X.EC_DABT, env[_INFO2], env[_INFO], env[_PC], True)
    elif code == exits.ERET:
        X.exception_return(env)
        if env[_SS] != 0 or _interrupt_ready(env):
            return exits.IRQ_CHECK
    else:
        return code
    return exits.LOOKUP
