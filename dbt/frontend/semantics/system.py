"""System-mode forms of the system instructions (MRS/MSR/SYS, HVC/SMC, ERET, WFI/WFE, hints),
chosen by branch_sys when the block runs under the virt machine (t.system).

What is decided here is fixed by the translation context (EL, SPSel, the EL0-enable bits of
SCTLR_EL1): accesses that context forbids become the architectural exception; registers
kept in the env with no side effects are read and written inline; everything else leaves the
block with a SYSTEM exit for the vCPU to execute in Python (env[PC] at the instruction).
"""
from ...cpu import exceptions as X
from ...cpu.state import OFFSET
from ...cpu.sysreg_model import BY_ENCODING, DCZID_BS, EL0_READ
from ...jit import exits
from ...cpu.mmu import tlbi
from ...jit.emitter import I1, I64, I128, Value

NZCV_FLAGS = (("N", 31), ("Z", 30), ("C", 29), ("V", 28))
DC_ZVA_BYTES = 4 << DCZID_BS

# cache maintenance by VA that EL0 may use when SCTLR_EL1.UCI is set, and what EL1 uses; with
# no caches modelled (translated code is kept coherent by store tracking) they do nothing
CACHE_BY_VA = {(3, 7, 5, 1), (3, 7, 10, 1), (3, 7, 11, 1), (3, 7, 14, 1)}   # IC IVAU, DC CVAC/CVAU/CIVAC
CACHE_EL1 = {(0, 7, 1, 0), (0, 7, 5, 0), (0, 7, 6, 1), (0, 7, 6, 2), (0, 7, 10, 2),
             (0, 7, 14, 2)}      # IC IALLUIS/IALLU, DC IVAC/ISW/CSW/CISW
DC_ZVA = (3, 7, 4, 1)


def sysreg_iss(o0, op1, CRn, CRm, op2, Rt, read):
    """ISS of an EC 0x18 trap."""
    return ((2 + o0) << 20) | (op2 << 17) | (op1 << 14) | (CRn << 10) | (Rt << 5) \
        | (CRm << 1) | (1 if read else 0)


def trap(t, ec, iss=0):
    """Leave the block to take a synchronous exception: the dispatcher enters EL1 with
    ESR = ec/iss and ELR = this instruction."""
    t.exit(exits.EXCEPTION, info=(ec << 26) | X.IL | iss)
    return False


def to_python(t):
    t.exit(exits.SYSTEM, info=t.word)
    return False


FP_VIEWS = ("b", "h", "s", "d", "q")


def uses_fp(row) -> bool:
    """Rows that touch the FP/SIMD registers (trapped by CPACR_EL1.FPEN)."""
    return row.group in ("fp", "simd", "simd_ldst") or \
        (row.group == "ldst" and row.args.get("view") in FP_VIEWS)


def _el0_allowed(t, reg, read):
    if reg.name in EL0_READ:
        return read
    return reg.el == 0


def mrs(t, o0, op1, CRn, CRm, op2, Rt):
    e = t.e
    key = (2 + o0, op1, CRn, CRm, op2)
    name = {(3, 3, 4, 2, 0): "NZCV", (3, 3, 4, 2, 1): "DAIF", (3, 3, 4, 4, 0): "FPCR",
            (3, 3, 4, 4, 1): "FPSR", (3, 0, 4, 2, 2): "CurrentEL", (3, 0, 4, 2, 0): "SPSel",
            (3, 0, 4, 1, 0): "SP_EL0"}.get(key)
    if name == "NZCV":
        v = e.c(I64, 0)
        for flag, bit in NZCV_FLAGS:
            v = e.or_(v, e.shl(e.zext(t.flag(flag), I64), e.c(I64, bit)))
        t.set_X(Rt, v)
        return None
    if name in ("FPCR", "FPSR"):
        if t.ctx & X.CTX_FP_TRAP:
            return trap(t, X.EC_FP, X.ISS_FP_TRAP)
        t.set_X(Rt, e.env_load(OFFSET[name]))
        return None
    if name == "DAIF":
        if t.el == 0 and not t.ctx & X.CTX_UMA:
            return trap(t, X.EC_SYSREG, sysreg_iss(o0, op1, CRn, CRm, op2, Rt, True))
        t.set_X(Rt, e.env_load(OFFSET["DAIF"]))
        return None
    if name is not None and t.el == 0:
        return t.undefined() or False
    if name == "CurrentEL":
        t.set_X(Rt, e.c(I64, t.el << 2))
        return None
    if name == "SPSel":
        t.set_X(Rt, e.c(I64, 1 if t.ctx & X.CTX_SPSEL else 0))
        return None
    if name == "SP_EL0":
        if not t.ctx & X.CTX_SPSEL:
            return t.undefined() or False
        t.set_X(Rt, e.env_load(OFFSET["SP_EL0"]))
        return None
    reg = BY_ENCODING.get(key)
    if reg is None and key[:3] == (3, 0, 0) and key[3] >= 1 and t.el == 1:
        # the unallocated encodings of the ID register space read as zero (later
        # architecture versions' ID registers: features this CPU does not have)
        t.set_X(Rt, e.c(I64, 0))
        return None
    if reg is None or not reg.read:
        return t.undefined() or False
    if t.el == 0 and not _el0_allowed(t, reg, True):
        return t.undefined() or False
    if reg.name == "CTR_EL0" and t.el == 0 and not t.ctx & X.CTX_UCT:
        return trap(t, X.EC_SYSREG, sysreg_iss(o0, op1, CRn, CRm, op2, Rt, True))
    if reg.name == "DCZID_EL0":
        # DZP: DC ZVA is prohibited at EL0 unless SCTLR_EL1.DZE
        dzp = 1 << 4 if t.el == 0 and not t.ctx & X.CTX_DZE else 0
        t.set_X(Rt, e.c(I64, reg.reset | dzp))
    elif reg.store == "const":
        t.set_X(Rt, e.c(I64, reg.reset))
    elif reg.store == "env":
        t.set_X(Rt, e.env_load(OFFSET[reg.name]))
    else:
        return to_python(t)
    return None


def _check_irq(t):
    """After an unmasking write to DAIF: leave if an interrupt line (or a pending SError) is
    up and now unmasked, so it is taken before the next instruction."""
    e = t.e
    daif = e.env_load(OFFSET["DAIF"])
    irq = e.and_(e.icmp("ne", e.env_load(OFFSET["IRQ_LINE"]), e.c(I64, 0)),
                 e.icmp("eq", e.and_(daif, e.c(I64, X.DAIF_I)), e.c(I64, 0)))
    fiq = e.and_(e.icmp("ne", e.env_load(OFFSET["FIQ_LINE"]), e.c(I64, 0)),
                 e.icmp("eq", e.and_(daif, e.c(I64, X.DAIF_F)), e.c(I64, 0)))
    serror = e.and_(e.icmp("ne", e.env_load(OFFSET["SERROR_LINE"]), e.c(I64, 0)),
                    e.icmp("eq", e.and_(daif, e.c(I64, X.DAIF_A)), e.c(I64, 0)))
    go, stay = e.label("irq"), e.label("noirq")
    e.cbr(e.or_(e.or_(irq, fiq), serror), go, stay)
    e.start(go)
    t.exit(exits.IRQ_CHECK, pc=t.pc + 4)
    e.start(stay)


def msr_reg(t, o0, op1, CRn, CRm, op2, Rt):
    e = t.e
    key = (2 + o0, op1, CRn, CRm, op2)
    v = t.X(Rt)
    if key == (3, 3, 4, 2, 0):      # NZCV
        t.set_nzcv(*(e.trunc(e.lshr(v, e.c(I64, bit)), I1) for _, bit in NZCV_FLAGS))
        return None
    if key in ((3, 3, 4, 4, 0), (3, 3, 4, 4, 1)) and t.ctx & X.CTX_FP_TRAP:
        return trap(t, X.EC_FP, X.ISS_FP_TRAP)
    if key == (3, 3, 4, 4, 0):
        e.env_store(OFFSET["FPCR"], e.and_(v, e.c(I64, 0x07F79F00)))
        return None
    if key == (3, 3, 4, 4, 1):
        e.env_store(OFFSET["FPSR"], e.and_(v, e.c(I64, 0xF800009F)))
        return None
    if key == (3, 3, 4, 2, 1):      # DAIF
        if t.el == 0 and not t.ctx & X.CTX_UMA:
            return trap(t, X.EC_SYSREG, sysreg_iss(o0, op1, CRn, CRm, op2, Rt, False))
        e.env_store(OFFSET["DAIF"], e.and_(v, e.c(I64, X.DAIF_ALL)))
        _check_irq(t)
        return None
    if key in ((3, 0, 4, 2, 2), (3, 0, 4, 2, 0), (3, 0, 4, 1, 0)):
        if t.el == 0 or key == (3, 0, 4, 2, 2):     # CurrentEL is read-only
            return t.undefined() or False
        if key == (3, 0, 4, 2, 0):                  # SPSel: switches the SP in use
            return to_python(t)
        if not t.ctx & X.CTX_SPSEL:
            return t.undefined() or False
        e.env_store(OFFSET["SP_EL0"], v)
        return None
    reg = BY_ENCODING.get(key)
    if reg is None or not reg.write:
        return t.undefined() or False
    if t.el == 0 and (reg.el != 0 or reg.name in EL0_READ):
        return t.undefined() or False
    if reg.store == "env" and not reg.side:
        e.env_store(OFFSET[reg.name], e.and_(v, e.c(I64, reg.wmask)) if reg.wmask != (1 << 64) - 1
                    else v)
        return None
    if reg.store == "const":
        return None             # writes ignored (DBGPRCR, DBGCLAIMSET)
    return to_python(t)


def msr_imm(t, op1, CRm, op2):
    """MSR DAIFSet/DAIFClr/SPSel (PSTATE fields)."""
    e = t.e
    field = (op1, op2)
    if field in ((3, 6), (3, 7)):           # DAIFSet, DAIFClr
        if t.el == 0 and not t.ctx & X.CTX_UMA:
            return trap(t, X.EC_SYSREG, sysreg_iss(0, op1, 4, CRm, op2, 31, False))
        daif = e.env_load(OFFSET["DAIF"])
        bits = e.c(I64, CRm << 6)
        if op2 == 6:
            e.env_store(OFFSET["DAIF"], e.or_(daif, bits))
            return None
        e.env_store(OFFSET["DAIF"], e.and_(daif, e.not_(bits)))
        _check_irq(t)
        return None
    if field == (0, 5) and t.el == 1:       # SPSel
        return to_python(t)
    return t.undefined() or False


def dc_zva(t, Rt):
    """DC ZVA: zero the DCZID-sized, aligned block holding X[Rt]."""
    e = t.e
    base = e.and_(t.X(Rt), e.c(I64, -DC_ZVA_BYTES))
    for off in range(0, DC_ZVA_BYTES, 16):
        t.store(e.add(base, e.c(I64, off)), 16, e.c(I128, 0))


def sys(t, op1, CRn, CRm, op2, Rt):
    e = t.e
    op = (op1, CRn, CRm, op2)
    if op == DC_ZVA:
        if t.el == 0 and not t.ctx & X.CTX_DZE:
            return trap(t, X.EC_SYSREG, _sys_iss(op, Rt))
        dc_zva(t, Rt)
        return None
    if op in CACHE_BY_VA:
        if t.el == 0 and not t.ctx & X.CTX_UCI:
            return trap(t, X.EC_SYSREG, _sys_iss(op, Rt))
        return None
    if t.el == 0:
        return t.undefined() or False
    if op in CACHE_EL1:
        return None
    if CRn == 8:            # TLBI: a native helper flushes (every vCPU for the IS forms)
        t.e.call_native(tlbi, "void", Value("%env", "i64*"), e.c(I64, (CRm << 3) | op2), t.X(Rt))
        return None
    if CRn == 7:            # AT: the vCPU walks and fills PAR_EL1
        return to_python(t)
    return t.undefined() or False


def _sys_iss(op, Rt):
    op1, CRn, CRm, op2 = op
    return (1 << 20) | (op2 << 17) | (op1 << 14) | (CRn << 10) | (Rt << 5) | (CRm << 1)
