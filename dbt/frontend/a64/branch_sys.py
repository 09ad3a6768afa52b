"""Branches, exception generation and system instructions (op0 = 101x)."""
from ..encoding import Row as I

ROWS = [
    I("B", "0 00101 imm26", "b {target(pc, imm26, 26)}"),
    I("BL", "1 00101 imm26", "bl {target(pc, imm26, 26)}"),
    I("CBZ", "sf 011010 0 imm19 Rt", "cbz {r(Rt,sf)}, {target(pc, imm19, 19)}", sem="compare_branch", args=dict(op=0)),
    I("CBNZ", "sf 011010 1 imm19 Rt", "cbnz {r(Rt,sf)}, {target(pc, imm19, 19)}", sem="compare_branch", args=dict(op=1)),
    I("TBZ", "b5 011011 0 b40:5 imm14 Rt", "tbz {r(Rt,b5)}, {imm((b5 << 5) | b40)}, {target(pc, imm14, 14)}",
      sem="test_branch", args=dict(op=0)),
    I("TBNZ", "b5 011011 1 b40:5 imm14 Rt", "tbnz {r(Rt,b5)}, {imm((b5 << 5) | b40)}, {target(pc, imm14, 14)}",
      sem="test_branch", args=dict(op=1)),
    I("B_cond", "0101010 0 imm19 0 cond", "b.{cc(cond)} {target(pc, imm19, 19)}"),

    I("SVC", "11010100 000 imm16 000 01", "svc {imm(imm16)}"),
    I("HVC", "11010100 000 imm16 000 10", "hvc {imm(imm16)}"),
    I("SMC", "11010100 000 imm16 000 11", "smc {imm(imm16)}"),
    I("BRK", "11010100 001 imm16 000 00", "brk {imm(imm16)}"),
    I("HLT", "11010100 010 imm16 000 00", "hlt {imm(imm16)}"),
    # DCPSn are UNDEFINED outside Debug state, which this CPU never enters.
    I("DCPS1", "11010100 101 imm16 000 01", "dcps1{' ' + imm(imm16) if imm16 else ''}", sem="undefined"),
    I("DCPS2", "11010100 101 imm16 000 10", "dcps2{' ' + imm(imm16) if imm16 else ''}", sem="undefined"),
    I("DCPS3", "11010100 101 imm16 000 11", "dcps3{' ' + imm(imm16) if imm16 else ''}", sem="undefined"),

    I("BR", "1101011 0000 11111 000000 Rn 00000", "br {x(Rn)}"),
    I("BLR", "1101011 0001 11111 000000 Rn 00000", "blr {x(Rn)}"),
    I("RET", "1101011 0010 11111 000000 Rn 00000", "ret{'' if Rn == 30 else ' ' + x(Rn)}"),
    I("ERET", "1101011 0100 11111 000000 11111 00000", "eret"),
    # DRPS is UNDEFINED outside Debug state.
    I("DRPS", "1101011 0101 11111 000000 11111 00000", "drps", sem="undefined"),

    # PSTATE fields of ARMv8.0: SPSel, DAIFSet, DAIFClr.
    I("MSR_imm", "1101010100 0 00 op1 0100 CRm op2 11111",
      "msr {('spsel' if op1 == 0 else 'daifset' if op2 == 6 else 'daifclr')}, {imm(CRm)}",
      when="(op1 == 0 and op2 == 5) or (op1 == 3 and op2 in (6, 7))"),
    I("NOP", "1101010100 0 00 011 0010 0000 000 11111", "nop", sem="HINT", prio=1),
    I("YIELD", "1101010100 0 00 011 0010 0000 001 11111", "yield", sem="HINT", prio=1),
    I("WFE", "1101010100 0 00 011 0010 0000 010 11111", "wfe"),
    I("WFI", "1101010100 0 00 011 0010 0000 011 11111", "wfi"),
    I("SEV", "1101010100 0 00 011 0010 0000 100 11111", "sev"),
    I("SEVL", "1101010100 0 00 011 0010 0000 101 11111", "sevl"),
    # Unallocated hints execute as NOP.
    I("HINT", "1101010100 0 00 011 0010 CRm op2 11111", "hint {imm((CRm << 3) | op2)}"),
    I("CLREX", "1101010100 0 00 011 0011 CRm 010 11111", "clrex{'' if CRm == 15 else ' ' + imm(CRm)}"),
    I("DSB", "1101010100 0 00 011 0011 CRm 100 11111", "dsb {barrier(CRm)}", sem="barrier"),
    I("DMB", "1101010100 0 00 011 0011 CRm 101 11111", "dmb {barrier(CRm)}", sem="barrier"),
    I("ISB", "1101010100 0 00 011 0011 CRm 110 11111", "isb{'' if CRm == 15 else ' ' + imm(CRm)}"),

    I("SYS", "1101010100 0 01 op1 CRn CRm op2 Rt", "{sys_text(op1, CRn, CRm, op2, Rt)}"),
    I("SYSL", "1101010100 1 01 op1 CRn CRm op2 Rt",
      "sysl {x(Rt)}, {imm(op1)}, c{CRn}, c{CRm}, {imm(op2)}"),
    I("MSR_reg", "1101010100 0 1 o0 op1 CRn CRm op2 Rt", "msr {sysreg(o0, op1, CRn, CRm, op2)}, {x(Rt)}"),
    I("MRS", "1101010100 1 1 o0 op1 CRn CRm op2 Rt", "mrs {x(Rt)}, {sysreg(o0, op1, CRn, CRm, op2)}"),
]
