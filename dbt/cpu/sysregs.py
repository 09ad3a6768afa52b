"""System register encodings (op0, op1, CRn, CRm, op2) by their ARM-manual names.

The one table that disassembly, MRS/MSR translation and (later) the system CPU read.
"""

SYSREGS = {
    # name: (op0, op1, CRn, CRm, op2)
    "MIDR_EL1": (3, 0, 0, 0, 0), "MPIDR_EL1": (3, 0, 0, 0, 5), "REVIDR_EL1": (3, 0, 0, 0, 6),
    "ID_PFR0_EL1": (3, 0, 0, 1, 0), "ID_PFR1_EL1": (3, 0, 0, 1, 1), "ID_DFR0_EL1": (3, 0, 0, 1, 2),
    "ID_AFR0_EL1": (3, 0, 0, 1, 3), "ID_MMFR0_EL1": (3, 0, 0, 1, 4), "ID_MMFR1_EL1": (3, 0, 0, 1, 5),
    "ID_MMFR2_EL1": (3, 0, 0, 1, 6), "ID_MMFR3_EL1": (3, 0, 0, 1, 7),
    "ID_ISAR0_EL1": (3, 0, 0, 2, 0), "ID_ISAR1_EL1": (3, 0, 0, 2, 1), "ID_ISAR2_EL1": (3, 0, 0, 2, 2),
    "ID_ISAR3_EL1": (3, 0, 0, 2, 3), "ID_ISAR4_EL1": (3, 0, 0, 2, 4), "ID_ISAR5_EL1": (3, 0, 0, 2, 5),
    "MVFR0_EL1": (3, 0, 0, 3, 0), "MVFR1_EL1": (3, 0, 0, 3, 1), "MVFR2_EL1": (3, 0, 0, 3, 2),
    "ID_AA64PFR0_EL1": (3, 0, 0, 4, 0), "ID_AA64PFR1_EL1": (3, 0, 0, 4, 1),
    "ID_AA64DFR0_EL1": (3, 0, 0, 5, 0), "ID_AA64DFR1_EL1": (3, 0, 0, 5, 1),
    "ID_AA64AFR0_EL1": (3, 0, 0, 5, 4), "ID_AA64AFR1_EL1": (3, 0, 0, 5, 5),
    "ID_AA64ISAR0_EL1": (3, 0, 0, 6, 0), "ID_AA64ISAR1_EL1": (3, 0, 0, 6, 1),
    "ID_AA64MMFR0_EL1": (3, 0, 0, 7, 0), "ID_AA64MMFR1_EL1": (3, 0, 0, 7, 1),
    "ID_AA64MMFR2_EL1": (3, 0, 0, 7, 2),
    "CCSIDR_EL1": (3, 1, 0, 0, 0), "CLIDR_EL1": (3, 1, 0, 0, 1), "AIDR_EL1": (3, 1, 0, 0, 7),
    "CSSELR_EL1": (3, 2, 0, 0, 0), "CTR_EL0": (3, 3, 0, 0, 1), "DCZID_EL0": (3, 3, 0, 0, 7),
    "SCTLR_EL1": (3, 0, 1, 0, 0), "ACTLR_EL1": (3, 0, 1, 0, 1), "CPACR_EL1": (3, 0, 1, 0, 2),
    "TTBR0_EL1": (3, 0, 2, 0, 0), "TTBR1_EL1": (3, 0, 2, 0, 1), "TCR_EL1": (3, 0, 2, 0, 2),
    "SPSR_EL1": (3, 0, 4, 0, 0), "ELR_EL1": (3, 0, 4, 0, 1), "SP_EL0": (3, 0, 4, 1, 0),
    "SPSel": (3, 0, 4, 2, 0), "CurrentEL": (3, 0, 4, 2, 2), "DAIF": (3, 3, 4, 2, 1),
    "NZCV": (3, 3, 4, 2, 0), "FPCR": (3, 3, 4, 4, 0), "FPSR": (3, 3, 4, 4, 1),
    "DSPSR_EL0": (3, 3, 4, 5, 0), "DLR_EL0": (3, 3, 4, 5, 1),
    "AFSR0_EL1": (3, 0, 5, 1, 0), "AFSR1_EL1": (3, 0, 5, 1, 1), "ESR_EL1": (3, 0, 5, 2, 0),
    "FAR_EL1": (3, 0, 6, 0, 0), "PAR_EL1": (3, 0, 7, 4, 0),
    "PMCR_EL0": (3, 3, 9, 12, 0), "PMCNTENSET_EL0": (3, 3, 9, 12, 1),
    "PMCNTENCLR_EL0": (3, 3, 9, 12, 2), "PMOVSCLR_EL0": (3, 3, 9, 12, 3),
    "PMSWINC_EL0": (3, 3, 9, 12, 4), "PMSELR_EL0": (3, 3, 9, 12, 5), "PMCEID0_EL0": (3, 3, 9, 12, 6),
    "PMCEID1_EL0": (3, 3, 9, 12, 7), "PMCCNTR_EL0": (3, 3, 9, 13, 0),
    "PMXEVTYPER_EL0": (3, 3, 9, 13, 1), "PMXEVCNTR_EL0": (3, 3, 9, 13, 2),
    "PMUSERENR_EL0": (3, 3, 9, 14, 0), "PMINTENSET_EL1": (3, 0, 9, 14, 1),
    "PMINTENCLR_EL1": (3, 0, 9, 14, 2), "PMOVSSET_EL0": (3, 3, 9, 14, 3),
    "MAIR_EL1": (3, 0, 10, 2, 0), "AMAIR_EL1": (3, 0, 10, 3, 0),
    "VBAR_EL1": (3, 0, 12, 0, 0), "RVBAR_EL1": (3, 0, 12, 0, 1), "ISR_EL1": (3, 0, 12, 1, 0),
    "CONTEXTIDR_EL1": (3, 0, 13, 0, 1), "TPIDR_EL1": (3, 0, 13, 0, 4),
    "TPIDR_EL0": (3, 3, 13, 0, 2), "TPIDRRO_EL0": (3, 3, 13, 0, 3),
    "CNTKCTL_EL1": (3, 0, 14, 1, 0), "CNTFRQ_EL0": (3, 3, 14, 0, 0), "CNTPCT_EL0": (3, 3, 14, 0, 1),
    "CNTVCT_EL0": (3, 3, 14, 0, 2), "CNTP_TVAL_EL0": (3, 3, 14, 2, 0), "CNTP_CTL_EL0": (3, 3, 14, 2, 1),
    "CNTP_CVAL_EL0": (3, 3, 14, 2, 2), "CNTV_TVAL_EL0": (3, 3, 14, 3, 0),
    "CNTV_CTL_EL0": (3, 3, 14, 3, 1), "CNTV_CVAL_EL0": (3, 3, 14, 3, 2),
    "OSLAR_EL1": (2, 0, 1, 0, 4), "OSLSR_EL1": (2, 0, 1, 1, 4), "OSDLR_EL1": (2, 0, 1, 3, 4),
    "MDSCR_EL1": (2, 0, 0, 2, 2), "MDCCSR_EL0": (2, 3, 0, 1, 0), "MDCCINT_EL1": (2, 0, 0, 2, 0),
    "DBGPRCR_EL1": (2, 0, 1, 4, 4), "DBGCLAIMSET_EL1": (2, 0, 7, 8, 6),
    "DBGCLAIMCLR_EL1": (2, 0, 7, 9, 6), "DBGAUTHSTATUS_EL1": (2, 0, 7, 14, 6),
    "OSECCR_EL1": (2, 0, 0, 6, 2), "OSDTRRX_EL1": (2, 0, 0, 0, 2), "OSDTRTX_EL1": (2, 0, 0, 3, 2),
    "ICC_PMR_EL1": (3, 0, 4, 6, 0), "ICC_IAR0_EL1": (3, 0, 12, 8, 0), "ICC_EOIR0_EL1": (3, 0, 12, 8, 1),
    "ICC_HPPIR0_EL1": (3, 0, 12, 8, 2), "ICC_BPR0_EL1": (3, 0, 12, 8, 3), "ICC_DIR_EL1": (3, 0, 12, 11, 1),
    "ICC_RPR_EL1": (3, 0, 12, 11, 3), "ICC_SGI1R_EL1": (3, 0, 12, 11, 5), "ICC_ASGI1R_EL1": (3, 0, 12, 11, 6),
    "ICC_SGI0R_EL1": (3, 0, 12, 11, 7), "ICC_IAR1_EL1": (3, 0, 12, 12, 0), "ICC_EOIR1_EL1": (3, 0, 12, 12, 1),
    "ICC_HPPIR1_EL1": (3, 0, 12, 12, 2), "ICC_BPR1_EL1": (3, 0, 12, 12, 3), "ICC_CTLR_EL1": (3, 0, 12, 12, 4),
    "ICC_SRE_EL1": (3, 0, 12, 12, 5), "ICC_IGRPEN0_EL1": (3, 0, 12, 12, 6),
    "ICC_IGRPEN1_EL1": (3, 0, 12, 12, 7),
}
for _n in range(16):
    SYSREGS[f"DBGBVR{_n}_EL1"] = (2, 0, 0, _n, 4)
    SYSREGS[f"DBGBCR{_n}_EL1"] = (2, 0, 0, _n, 5)
    SYSREGS[f"DBGWVR{_n}_EL1"] = (2, 0, 0, _n, 6)
    SYSREGS[f"DBGWCR{_n}_EL1"] = (2, 0, 0, _n, 7)
for _n in range(31):
    SYSREGS[f"PMEVCNTR{_n}_EL0"] = (3, 3, 14, 8 + (_n >> 3), _n & 7)
    SYSREGS[f"PMEVTYPER{_n}_EL0"] = (3, 3, 14, 12 + (_n >> 3), _n & 7)
SYSREGS["PMCCFILTR_EL0"] = (3, 3, 14, 15, 7)
for _n in range(4):
    SYSREGS[f"ICC_AP0R{_n}_EL1"] = (3, 0, 12, 8, 4 + _n)
    SYSREGS[f"ICC_AP1R{_n}_EL1"] = (3, 0, 12, 9, _n)

BY_ENCODING = {enc: name for name, enc in SYSREGS.items()}


def name_of(op0, op1, CRn, CRm, op2) -> str:
    """The register's name in lower case, or the generic s<op0>_<op1>_c<n>_c<m>_<op2>."""
    name = BY_ENCODING.get((op0, op1, CRn, CRm, op2))
    if name is not None:
        return name.lower()
    return f"s{op0}_{op1}_c{CRn}_c{CRm}_{op2}"


# SYS aliases: (op1, CRn, CRm, op2) -> (kind, operation)
SYS_ALIASES = {
    (0, 7, 1, 0): ("ic", "ialluis"), (0, 7, 5, 0): ("ic", "iallu"), (3, 7, 5, 1): ("ic", "ivau"),
    (3, 7, 4, 1): ("dc", "zva"), (0, 7, 6, 1): ("dc", "ivac"), (0, 7, 6, 2): ("dc", "isw"),
    (3, 7, 10, 1): ("dc", "cvac"), (0, 7, 10, 2): ("dc", "csw"), (3, 7, 11, 1): ("dc", "cvau"),
    (3, 7, 14, 1): ("dc", "civac"), (0, 7, 14, 2): ("dc", "cisw"),
    (0, 7, 8, 0): ("at", "s1e1r"), (0, 7, 8, 1): ("at", "s1e1w"), (0, 7, 8, 2): ("at", "s1e0r"),
    (0, 7, 8, 3): ("at", "s1e0w"),
    (0, 8, 3, 0): ("tlbi", "vmalle1is"), (0, 8, 3, 1): ("tlbi", "vae1is"),
    (0, 8, 3, 2): ("tlbi", "aside1is"), (0, 8, 3, 3): ("tlbi", "vaae1is"),
    (0, 8, 3, 5): ("tlbi", "vale1is"), (0, 8, 3, 7): ("tlbi", "vaale1is"),
    (0, 8, 7, 0): ("tlbi", "vmalle1"), (0, 8, 7, 1): ("tlbi", "vae1"), (0, 8, 7, 2): ("tlbi", "aside1"),
    (0, 8, 7, 3): ("tlbi", "vaae1"), (0, 8, 7, 5): ("tlbi", "vale1"), (0, 8, 7, 7): ("tlbi", "vaale1"),
}


def sys_alias(op1, CRn, CRm, op2):
    return SYS_ALIASES.get((op1, CRn, CRm, op2))
