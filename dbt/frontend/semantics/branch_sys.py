"""Branches, exception generation and the system instructions user code reaches."""
from ..bits import sign_extend
from ...cpu.sysregs import SYSREGS
from ...cpu.state import OFFSET
from ...cpu.sysreg_model import CTR_EL0, DCZID_BS, MIDR
from ...jit import exits
from ...jit.emitter import I1, I64
from . import sem, system


@sem
def B(t, imm26):
    t.goto(t.pc + sign_extend(imm26, 26) * 4)
    return False


@sem
def BL(t, imm26):
    t.set_X(30, t.e.c(I64, t.pc + 4))
    t.goto(t.pc + sign_extend(imm26, 26) * 4)
    return False


@sem
def compare_branch(t, sf, imm19, Rt, op):
    e = t.e
    v = t.X(Rt, sf)
    cond = e.icmp("ne" if op else "eq", v, e.c(v.ty, 0))
    t.goto_cond(cond, t.pc + sign_extend(imm19, 19) * 4, t.pc + 4)
    return False


@sem
def test_branch(t, b5, b40, imm14, Rt, op):
    e = t.e
    bit = (b5 << 5) | b40
    v = e.trunc(e.lshr(t.X(Rt), e.c(I64, bit)), I1)
    if not op:
        v = e.not_(v)
    t.goto_cond(v, t.pc + sign_extend(imm14, 14) * 4, t.pc + 4)
    return False


@sem
def B_cond(t, imm19, cond):
    t.goto_cond(t.condition_holds(cond), t.pc + sign_extend(imm19, 19) * 4, t.pc + 4)
    return False


@sem
def BR(t, Rn):
    t.goto_indirect(t.X(Rn))
    return False


@sem
def BLR(t, Rn):
    target = t.X(Rn)
    t.set_X(30, t.e.c(I64, t.pc + 4))
    t.goto_indirect(target)
    return False


@sem
def RET(t, Rn):
    t.goto_indirect(t.X(Rn))
    return False


@sem
def SVC(t, imm16):
    t.exit(exits.SVC, pc=t.pc + 4, info=imm16)
    return False


@sem
def BRK(t, imm16):
    t.exit(exits.BRK, info=imm16)
    return False


@sem
def HLT(t, imm16):
    if t.system:        # no halting debug: UNDEFINED
        return undefined(t)
    t.exit(exits.HLT, info=imm16)
    return False


@sem
def undefined(t, **fields):
    t.undefined()
    return False


def _el1_exit(code):
    """HVC/SMC (the PSCI conduits) and ERET: UNDEFINED at EL0 and in user mode."""
    def handler(t, imm16=None):
        if not t.system or t.el == 0:
            return undefined(t)
        if code == exits.ERET:
            t.exit(code, completed=t.index + 1)
        else:
            t.exit(code, pc=t.pc + 4, info=imm16)
        return False
    return handler


sem(_el1_exit(exits.HVC), name="HVC")
sem(_el1_exit(exits.SMC), name="SMC")
sem(_el1_exit(exits.ERET), name="ERET")
sem(undefined, name="SYSL")


@sem
def MSR_imm(t, op1, CRm, op2):
    if not t.system:
        return undefined(t)
    return system.msr_imm(t, op1, CRm, op2)

@sem
def SYS(t, op1, CRn, CRm, op2, Rt):
    """The SYS instructions EL0 may execute: DC ZVA zeroes a block; cache maintenance by VA is a
    no-op (translated code is kept coherent by store tracking); the rest is UNDEFINED."""
    if t.system:
        return system.sys(t, op1, CRn, CRm, op2, Rt)
    if (op1, CRn, CRm, op2) == system.DC_ZVA:
        system.dc_zva(t, Rt)
        return None
    if (op1, CRn, CRm, op2) in system.CACHE_BY_VA:     # what Linux lets EL0 use (UCI)
        return None
    t.undefined()
    return False


@sem
def HINT(t, **fields):
    """NOP, YIELD and unallocated hints: no effect."""


@sem
def wait_event(t, **fields):
    """WFI/WFE/SEV/SEVL: in user mode one thread has nothing to wait for; under the machine
    the vCPU scheduler handles them."""
    if t.system:
        return system.to_python(t)


for _name in ("WFE", "WFI", "SEV", "SEVL"):
    sem(wait_event, name=_name)


@sem
def CLREX(t, CRm):
    t.e.set(OFFSET["EXCL_SIZE"], t.e.c(I64, 0))


@sem
def barrier(t, CRm):
    """DSB/DMB: one host thread runs the vCPU, so ordering is already sequential."""


@sem
def ISB(t, CRm):
    # end the block so later instructions see any code change made before the barrier
    t.goto(t.pc + 4)
    return False


# EL0-accessible registers kept in the env; others trap (UNDEFINED) in user mode.
EL0_RW = {"TPIDR_EL0": "TPIDR_EL0", "FPCR": "FPCR", "FPSR": "FPSR"}
EL0_RO = {
    "TPIDRRO_EL0": None, "CTR_EL0": CTR_EL0, "DCZID_EL0": DCZID_BS, "MIDR_EL1": MIDR,
    "MPIDR_EL1": 0x80000000, "REVIDR_EL1": 0, "ID_AA64PFR0_EL1": 0x11,
    "ID_AA64ISAR0_EL1": 0x10000, "ID_AA64MMFR0_EL1": 0, "ID_AA64PFR1_EL1": 0,
    "ID_AA64ISAR1_EL1": 0, "ID_AA64DFR0_EL1": 0x6, "ID_AA64MMFR1_EL1": 0,
    "ID_AA64MMFR2_EL1": 0, "CNTFRQ_EL0": 62500000,
}
_BY_ENC = {enc: name for name, enc in SYSREGS.items()}
NZCV_FLAGS = (("N", 31), ("Z", 30), ("C", 29), ("V", 28))


@sem
def MRS(t, o0, op1, CRn, CRm, op2, Rt):
    if t.system:
        return system.mrs(t, o0, op1, CRn, CRm, op2, Rt)
    e = t.e
    name = _BY_ENC.get((2 + o0, op1, CRn, CRm, op2))
    if name == "NZCV":
        v = e.c(I64, 0)
        for flag, bit in NZCV_FLAGS:
            v = e.or_(v, e.shl(e.zext(t.flag(flag), I64), e.c(I64, bit)))
        t.set_X(Rt, v)
    elif name in EL0_RW or name == "TPIDRRO_EL0":
        t.set_X(Rt, e.env_load(OFFSET[name]))
    elif name in EL0_RO:
        t.set_X(Rt, e.c(I64, EL0_RO[name]))
    elif name in ("CNTVCT_EL0", "CNTPCT_EL0"):
        t.exit(exits.SYSTEM, info=t.word)
        return False
    else:
        t.undefined()
        return False


@sem
def MSR_reg(t, o0, op1, CRn, CRm, op2, Rt):
    if t.system:
        return system.msr_reg(t, o0, op1, CRn, CRm, op2, Rt)
    e = t.e
    name = _BY_ENC.get((2 + o0, op1, CRn, CRm, op2))
    v = t.X(Rt)
    if name == "NZCV":
        t.set_nzcv(*(e.trunc(e.lshr(v, e.c(I64, bit)), I1) for _, bit in NZCV_FLAGS))
    elif name == "FPCR":
        # only the fields ARMv8.0 defines are writable: AHP, DN, FZ, RMode, Stride, Len
        e.env_store(OFFSET["FPCR"], e.and_(v, e.c(I64, 0x07F79F00)))
    elif name == "FPSR":
        e.env_store(OFFSET["FPSR"], e.and_(v, e.c(I64, 0xF800009F)))
    elif name == "TPIDR_EL0":
        e.env_store(OFFSET["TPIDR_EL0"], v)
    else:
        t.undefined()
        return False
