"""The system registers of the emulated CPU (Cortex-A57 identity, ARMv8.0 features actually
implemented): who may access each, its reset value, which bits are writable, and where it
lives.  Translation and the vCPU's Python handlers both read this one table.

Storage:
- "env": a slot of the vCPU's env array, same name.  Reads (and, unless `side` is set,
  writes) are inlined into translated code.
- "const": a constant (identification registers).
- "call": the vCPU handles the access in Python (timers, GIC CPU interface, registers whose
  writes change translation: SCTLR, TTBRx, TCR, MAIR...).
"""
from dataclasses import dataclass

from .sysregs import SYSREGS


@dataclass(frozen=True)
class Reg:
    name: str
    el: int = 1                 # lowest exception level that may access it
    read: bool = True
    write: bool = True
    store: str = "env"          # env | const | call
    reset: int = 0
    wmask: int = 0xFFFF_FFFF_FFFF_FFFF
    side: bool = False          # env register whose write must go through the vCPU

    @property
    def encoding(self):
        return SYSREGS[self.name]


MIDR = 0x411FD070
# ID_AA64PFR0: EL0 and EL1 AArch64 only, no EL2/EL3, FP and AdvSIMD, GIC system registers
ID_AA64PFR0 = 0x0100_0011
# ID_AA64DFR0: debug v8, 6 breakpoints (2 context-aware), 4 watchpoints, no PMU
ID_AA64DFR0 = 0x1030_5006
ID_AA64ISAR0 = 0x0001_0000     # CRC32 only (no AES/SHA/atomics)
# ID_AA64MMFR0: 44-bit PA, 16-bit ASIDs, mixed-endian unsupported, 4K/16K/64K granules
ID_AA64MMFR0 = 0x0010_1024
CTR_EL0 = 0x8444_C004
DCZID_BS = 4                   # DC ZVA zeroes 4 << 4 = 64 bytes
CLIDR = 0x0A20_0023
# CCSIDR by CSSELR (L1D, L1I, L2) as QEMU's cortex-a57
CCSIDR = {0: 0x701FE00A, 1: 0x201FE012, 2: 0x70FFE07A}

SCTLR_RES1 = (1 << 29) | (1 << 28) | (1 << 23) | (1 << 22) | (1 << 20) | (1 << 11)
# M A C SA SA0 CP15BEN ITD SED UMA I DZE UCT nTWI nTWE WXN UCI (EE/E0E RES0: no big-endian)
SCTLR_WMASK = 0x0409_D3BF

_regs = [
    # identification
    Reg("MIDR_EL1", store="const", reset=MIDR, write=False),
    Reg("REVIDR_EL1", store="const", write=False),
    Reg("MPIDR_EL1", write=False),          # per vCPU, set at creation
    Reg("AIDR_EL1", store="const", write=False),
    Reg("ID_AA64PFR0_EL1", store="const", reset=ID_AA64PFR0, write=False),
    Reg("ID_AA64PFR1_EL1", store="const", write=False),
    Reg("ID_AA64DFR0_EL1", store="const", reset=ID_AA64DFR0, write=False),
    Reg("ID_AA64DFR1_EL1", store="const", write=False),
    Reg("ID_AA64AFR0_EL1", store="const", write=False),
    Reg("ID_AA64AFR1_EL1", store="const", write=False),
    Reg("ID_AA64ISAR0_EL1", store="const", reset=ID_AA64ISAR0, write=False),
    Reg("ID_AA64ISAR1_EL1", store="const", write=False),
    Reg("ID_AA64MMFR0_EL1", store="const", reset=ID_AA64MMFR0, write=False),
    Reg("ID_AA64MMFR1_EL1", store="const", write=False),
    Reg("ID_AA64MMFR2_EL1", store="const", write=False),
    Reg("CLIDR_EL1", store="const", reset=CLIDR, write=False),
    Reg("CCSIDR_EL1", store="call", write=False),
    Reg("CSSELR_EL1", wmask=0xF),
    Reg("CTR_EL0", el=0, store="const", reset=CTR_EL0, write=False),
    Reg("DCZID_EL0", el=0, store="const", reset=DCZID_BS, write=False),
    # memory system
    Reg("SCTLR_EL1", reset=SCTLR_RES1, wmask=SCTLR_WMASK, side=True),
    Reg("ACTLR_EL1", wmask=0),
    Reg("CPACR_EL1", wmask=0x0030_0000, side=True),     # FPEN: changes the context
    Reg("TTBR0_EL1", side=True),
    Reg("TTBR1_EL1", side=True),
    Reg("TCR_EL1", wmask=0x0000_007F_FFFF_FFBF, side=True),
    Reg("MAIR_EL1", side=True),
    Reg("AMAIR_EL1"),
    Reg("PAR_EL1"),
    Reg("CONTEXTIDR_EL1", wmask=0xFFFF_FFFF),
    # exceptions
    Reg("VBAR_EL1", wmask=~0x7FF & 0xFFFF_FFFF_FFFF_FFFF),
    Reg("ESR_EL1", wmask=0xFFFF_FFFF),
    Reg("FAR_EL1"),
    Reg("AFSR0_EL1", wmask=0),
    Reg("AFSR1_EL1", wmask=0),
    Reg("ELR_EL1"),
    Reg("SPSR_EL1", wmask=0xF03F_03DF),
    Reg("ISR_EL1", store="call", write=False),
    Reg("TPIDR_EL1"),
    Reg("TPIDR_EL0", el=0),
    Reg("TPIDRRO_EL0"),                     # EL0 may read (see EL0_READ)
    # generic timer
    Reg("CNTFRQ_EL0", el=0, store="call", write=False),
    Reg("CNTKCTL_EL1", wmask=0x3FF, side=True),
    Reg("CNTPCT_EL0", el=0, store="call", write=False),
    Reg("CNTVCT_EL0", el=0, store="call", write=False),
    *(Reg(f"CNT{t}_{r}_EL0", el=0, store="call")
      for t in ("P", "V") for r in ("CTL", "CVAL", "TVAL")),
    # self-hosted debug
    Reg("MDSCR_EL1", wmask=0xB001, side=True),      # SS, TDCC, KDE, MDE
    Reg("MDCCINT_EL1", wmask=(1 << 29) | (1 << 30)),
    Reg("MDCCSR_EL0", el=0, store="const", write=False),
    Reg("OSLAR_EL1", read=False, store="call"),
    Reg("OSLSR_EL1", write=False, reset=0b1010),     # OSLM = 0b10, OSLK set at reset
    Reg("OSDLR_EL1", wmask=1, side=True),
    Reg("OSECCR_EL1", wmask=0xFFFF_FFFF),
    Reg("DBGPRCR_EL1", store="const", write=True),
    Reg("DBGCLAIMSET_EL1", store="const", reset=0xFF),
    Reg("DBGCLAIMCLR_EL1", store="call"),
    Reg("DBGAUTHSTATUS_EL1", store="const", reset=0xAA, write=False),
    *(Reg(f"DBG{k}{n}_EL1", side=True,
          wmask=0xFFFF_FFFF_FFFF_FFFC if k in ("BVR", "WVR") else 0xFFFF_FFFF)
      for k, count in (("BVR", 6), ("BCR", 6), ("WVR", 4), ("WCR", 4)) for n in range(count)),
    # GIC CPU interface
    *(Reg(name, store="call") for name in SYSREGS if name.startswith("ICC_")),
]
REGS = {r.name: r for r in _regs}
BY_ENCODING = {r.encoding: r for r in _regs}

# registers with a different rule for EL0: readable there, writable only at EL1
EL0_READ = {"TPIDRRO_EL0"}


def reset_values() -> dict:
    """name -> reset value for every register kept in the env."""
    return {r.name: r.reset for r in _regs if r.store == "env"}
