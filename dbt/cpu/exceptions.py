"""PSTATE, the banked stack pointers, exception entry and exception return (EL0/EL1, AArch64).

Numba functions over the env array, so the dispatcher can take the common synchronous
exceptions (SVC, faults, undefined instructions) without returning to Python.
"""
from numba import njit

from .state import OFFSET

# translation context bits (env[CTX]); the code cache keys blocks on them
CTX_SYSTEM = 0x10       # system mode (user mode has ctx 0)
CTX_EL = 0x3
CTX_SPSEL = 0x4
CTX_MMU_OFF = 0x8       # data accesses are Device: only aligned ones take the fast path
CTX_UCI = 0x20          # EL0 only: SCTLR_EL1.UCI, .DZE, .UCT, .UMA allow EL0 cache
CTX_DZE = 0x40          # maintenance, DC ZVA, CTR_EL0 and DAIF access
CTX_UCT = 0x80
CTX_UMA = 0x100
CTX_ALIGN = 0x200       # SCTLR_EL1.A: every unaligned access faults
CTX_FP_TRAP = 0x400     # CPACR_EL1.FPEN traps FP/AdvSIMD at the current EL
CTX_DEBUG = 0x800       # a hardware breakpoint or watchpoint is armed for the current EL:
                        # one instruction a block, no chaining, every access to the slow path
CTX_BITS = 0xFFF
NUM_BRPS, NUM_WRPS = 6, 4

# exception classes (ESR_ELx.EC)
EC_UNKNOWN = 0x00
EC_WFX = 0x01
EC_FP = 0x07
ISS_FP_TRAP = 0x1E0_0000     # CV = 1, COND = 0b1110 (unconditional)
EC_ILLEGAL = 0x0E
EC_SVC = 0x15
EC_HVC = 0x16
EC_SMC = 0x17
EC_SYSREG = 0x18
EC_IABT_LOWER = 0x20
EC_IABT = 0x21
EC_PC_ALIGN = 0x22
EC_DABT_LOWER = 0x24
EC_DABT = 0x25
EC_SP_ALIGN = 0x26
EC_SERROR = 0x2F
EC_BREAKPOINT_LOWER = 0x30
EC_SOFTSTEP_LOWER = 0x32
EC_SOFTSTEP_CUR = 0x33
EC_WATCHPOINT_LOWER = 0x34
ISS_DEBUG = 0x22             # IFSC/DFSC: debug exception
WATCH_MARK = 1 << 40         # in EXIT_INFO2 of a FAULT exit: the fault is a watchpoint
EC_BRK = 0x3C
IL = 1 << 25

# vector offsets
VEC_SYNC, VEC_IRQ, VEC_FIQ, VEC_SERROR = 0x000, 0x080, 0x100, 0x180

DAIF_D, DAIF_A, DAIF_I, DAIF_F = 1 << 9, 1 << 8, 1 << 7, 1 << 6
DAIF_ALL = DAIF_D | DAIF_A | DAIF_I | DAIF_F

# SCTLR_EL1 bits
SCTLR_M = 1 << 0
SCTLR_A = 1 << 1
SCTLR_UMA = 1 << 9
SCTLR_DZE = 1 << 14
SCTLR_UCT = 1 << 15
SCTLR_NTWI = 1 << 16
SCTLR_NTWE = 1 << 18
SCTLR_UCI = 1 << 26

_EL = OFFSET["EL"]
_SPSEL = OFFSET["SPSEL"]
_DAIF = OFFSET["DAIF"]
_SS = OFFSET["PSTATE_SS"]
_IL = OFFSET["PSTATE_IL"]
_SP = OFFSET["SP"]
_SP_EL0 = OFFSET["SP_EL0"]
_SP_EL1 = OFFSET["SP_EL1"]
_PC = OFFSET["PC"]
_N, _Z, _C, _V = OFFSET["N"], OFFSET["Z"], OFFSET["C"], OFFSET["V"]
_SPSR = OFFSET["SPSR_EL1"]
_ELR = OFFSET["ELR_EL1"]
_ESR = OFFSET["ESR_EL1"]
_FAR = OFFSET["FAR_EL1"]
_VBAR = OFFSET["VBAR_EL1"]
_SCTLR = OFFSET["SCTLR_EL1"]
_CPACR = OFFSET["CPACR_EL1"]
_MDSCR = OFFSET["MDSCR_EL1"]
_OSLSR = OFFSET["OSLSR_EL1"]
_OSDLR = OFFSET["OSDLR_EL1"]
_DBGBCR = OFFSET["DBGBCR0_EL1"]
_DBGBVR = OFFSET["DBGBVR0_EL1"]
_DBGWCR = OFFSET["DBGWCR0_EL1"]
_DBGWVR = OFFSET["DBGWVR0_EL1"]
_CTX = OFFSET["CTX"]
_EXCL_SIZE = OFFSET["EXCL_SIZE"]


@njit(cache=True)
def update_ctx(env):
    el = env[_EL]
    sctlr = env[_SCTLR]
    ctx = CTX_SYSTEM | el | (CTX_SPSEL if env[_SPSEL] else 0)
    if (sctlr & SCTLR_M) == 0:
        ctx |= CTX_MMU_OFF
    if sctlr & SCTLR_A:
        ctx |= CTX_ALIGN
    fpen = (env[_CPACR] >> 20) & 3
    if fpen == 0 or fpen == 2 or (fpen == 1 and el == 0):
        ctx |= CTX_FP_TRAP
    if el == 0:
        ctx |= (CTX_UCI if sctlr & SCTLR_UCI else 0) | (CTX_DZE if sctlr & SCTLR_DZE else 0) \
            | (CTX_UCT if sctlr & SCTLR_UCT else 0) | (CTX_UMA if sctlr & SCTLR_UMA else 0)
    if debug_armed(env, el):
        ctx |= CTX_DEBUG
    env[_CTX] = ctx


@njit(cache=True)
def debug_enabled(env, el):
    """Debug exceptions from el are enabled: MDSCR_EL1.MDE (for breakpoints and watchpoints),
    the OS lock and double lock clear, and at EL1 MDSCR_EL1.KDE with PSTATE.D clear."""
    mdscr = env[_MDSCR]
    if (mdscr >> 15) & 1 == 0 or env[_OSLSR] & 2 or env[_OSDLR] & 1:
        return False
    if el == 1:
        return (mdscr >> 13) & 1 == 1 and (env[_DAIF] & DAIF_D) == 0
    return True


@njit(cache=True, inline="always")
def _el_selected(pmc, el):
    """PMC/PAC field: bit 0 selects EL1, bit 1 EL0."""
    return (pmc >> (1 - el)) & 1 == 1


@njit(cache=True)
def debug_armed(env, el):
    """Some enabled breakpoint or watchpoint applies at el (decided when translating; the
    D mask and the addresses are checked per instruction and per access)."""
    mdscr = env[_MDSCR]
    if (mdscr >> 15) & 1 == 0 or env[_OSLSR] & 2 or env[_OSDLR] & 1:
        return False
    if el == 1 and (mdscr >> 13) & 1 == 0:
        return False
    for n in range(NUM_BRPS):
        bcr = env[_DBGBCR + n]
        if bcr & 1 and _el_selected((bcr >> 1) & 3, el):
            return True
    for n in range(NUM_WRPS):
        wcr = env[_DBGWCR + n]
        if wcr & 1 and _el_selected((wcr >> 1) & 3, el):
            return True
    return False


@njit(cache=True)
def breakpoint_hit(env, pc):
    """An unlinked address-match breakpoint (BT = 0) matches pc at the current EL."""
    el = env[_EL]
    if not debug_enabled(env, el):
        return False
    for n in range(NUM_BRPS):
        bcr = env[_DBGBCR + n]
        if bcr & 1 and _el_selected((bcr >> 1) & 3, el) and (bcr >> 20) & 0xF == 0:
            if (env[_DBGBVR + n] & 0x0001_FFFF_FFFF_FFFC) == (pc & 0x0001_FFFF_FFFF_FFFC):
                return True
    return False


@njit(cache=True)
def watchpoint_hit(env, va, nbytes, el, is_write):
    """Some enabled watchpoint covers a byte of [va, va+nbytes) for this kind of access."""
    if not debug_enabled(env, el):
        return False
    for n in range(NUM_WRPS):
        wcr = env[_DBGWCR + n]
        if wcr & 1 == 0 or not _el_selected((wcr >> 1) & 3, el):
            continue
        if ((wcr >> 3) & 3 & (2 if is_write else 1)) == 0:     # LSC
            continue
        wvr = env[_DBGWVR + n] & 0x0001_FFFF_FFFF_FFFC
        mask = (wcr >> 24) & 0x1F
        if mask:
            lo = wvr & ~((1 << mask) - 1)
            if va < lo + (1 << mask) and va + nbytes > lo:
                return True
            continue
        bas = (wcr >> 5) & 0xFF
        base = wvr & ~7
        if wvr & 4:                       # a word-aligned DBGWVR uses BAS[3:0] for its word
            bas = (bas & 0xF) << 4
        for i in range(8):
            if (bas >> i) & 1 and va <= base + i < va + nbytes:
                return True
    return False


@njit(cache=True, inline="always")
def _sp_bank(el, spsel):
    return _SP_EL1 if el == 1 and spsel else _SP_EL0


@njit(cache=True)
def set_pstate_sp(env, el, spsel):
    """Change EL and SPSel, moving the stack pointer in use to its bank and back."""
    env[_sp_bank(env[_EL], env[_SPSEL])] = env[_SP]
    env[_EL] = el
    env[_SPSEL] = spsel
    env[_SP] = env[_sp_bank(el, spsel)]


@njit(cache=True)
def sync_banked_sp(env):
    """Bring the bank of the SP in use up to date (before reading SP_EL0/SP_EL1 or saving)."""
    env[_sp_bank(env[_EL], env[_SPSEL])] = env[_SP]


@njit(cache=True)
def spsr_of(env):
    """PSTATE in SPSR_EL1 layout."""
    return (env[_N] << 31) | (env[_Z] << 30) | (env[_C] << 29) | (env[_V] << 28) \
        | (env[_SS] << 21) | (env[_IL] << 20) | env[_DAIF] | (env[_EL] << 2) | env[_SPSEL]


@njit(cache=True)
def take_exception(env, vector, esr, far, ret, has_far):
    """Exception entry to EL1: vector is VEC_*; esr < 0 leaves ESR_EL1 alone (interrupts);
    FAR_EL1 is written only when has_far; ret is the preferred return address."""
    from_el = env[_EL]
    if from_el == 0:
        base = 0x400
    else:
        base = 0x200 if env[_SPSEL] else 0x000
    env[_SPSR] = spsr_of(env)
    env[_ELR] = ret
    if esr >= 0:
        env[_ESR] = esr
    if has_far:
        env[_FAR] = far
    set_pstate_sp(env, 1, 1)
    env[_DAIF] = DAIF_ALL
    env[_SS] = 0
    env[_IL] = 0
    env[_PC] = (env[_VBAR] & ~0x7FF) + base + vector
    update_ctx(env)


@njit(cache=True)
def sync_exception(env, ec, iss, far, ret, has_far):
    """A synchronous exception with class ec (lower-EL variants chosen here)."""
    if env[_EL] == 0 and (ec == EC_IABT or ec == EC_DABT):
        ec -= 1
    take_exception(env, VEC_SYNC, (ec << 26) | IL | (iss & 0x1FFFFFF), far, ret, has_far)


@njit(cache=True)
def exception_return(env):
    """ERET from EL1.  An illegal return (to EL2/EL3, AArch32 or a reserved mode) keeps EL and
    SP, sets PSTATE.IL, and the next instruction takes an Illegal Execution State exception."""
    spsr = env[_SPSR]
    m = spsr & 0x1F
    illegal = m not in (0b00000, 0b00100, 0b00101)
    env[_N] = (spsr >> 31) & 1
    env[_Z] = (spsr >> 30) & 1
    env[_C] = (spsr >> 29) & 1
    env[_V] = (spsr >> 28) & 1
    env[_DAIF] = spsr & DAIF_ALL
    env[_SS] = (spsr >> 21) & 1
    if illegal:
        env[_IL] = 1
    else:
        env[_IL] = (spsr >> 20) & 1
        set_pstate_sp(env, m >> 2, m & 1)
    env[_PC] = env[_ELR]
    env[_EXCL_SIZE] = 0
    update_ctx(env)
