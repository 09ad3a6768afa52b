"""The architectural state of one vCPU, declared once.

A vCPU is one contiguous uint64 numpy array (`env`): translated code receives its address and
reaches every register at a constant offset.  The array has two parts:

- the architectural part (ARCH_FIELDS): what a snapshot saves and a test compares;
- the runtime part (RUNTIME_FIELDS): instruction budget, exit information and the soft TLB --
  derived state that is rebuilt, never saved.

Each field is (name, number of uint64 slots).  Offsets are computed from the declaration order.
"""
import numpy as np

ARCH_FIELDS = (
    [(f"X{n}", 1) for n in range(31)]
    + [("SP", 1), ("PC", 1),
       # NZCV one flag per slot (0/1): translated code reads and writes them as i1 values
       ("N", 1), ("Z", 1), ("C", 1), ("V", 1),
       ("FPCR", 1), ("FPSR", 1), ("TPIDR_EL0", 1), ("TPIDRRO_EL0", 1),
       # the local exclusive monitor: address, size (0 = open), the value(s) loaded
       ("EXCL_ADDR", 1), ("EXCL_SIZE", 1), ("EXCL_VAL", 2)]
    + [(f"V{n}", 2) for n in range(32)]
    # system state (used by the virt machine; zero and unused in user mode).  PSTATE is kept
    # in parts: EL (0/1), SPSel, DAIF in its register layout (D A I F at bits 9:6), SS, IL.
    # SP above is the stack pointer in use; SP_EL0/SP_EL1 hold the banked copies.
    + [("EL", 1), ("SPSEL", 1), ("DAIF", 1), ("PSTATE_SS", 1), ("PSTATE_IL", 1),
       ("SP_EL0", 1), ("SP_EL1", 1)]
    + [(name, 1) for name in (
        "SCTLR_EL1", "ACTLR_EL1", "CPACR_EL1", "TTBR0_EL1", "TTBR1_EL1", "TCR_EL1",
        "ESR_EL1", "FAR_EL1", "AFSR0_EL1", "AFSR1_EL1", "PAR_EL1", "MAIR_EL1", "AMAIR_EL1",
        "VBAR_EL1", "CONTEXTIDR_EL1", "TPIDR_EL1", "ELR_EL1", "SPSR_EL1", "CSSELR_EL1",
        "CNTKCTL_EL1", "CNTV_CTL_EL0", "CNTV_CVAL_EL0", "CNTP_CTL_EL0", "CNTP_CVAL_EL0",
        "MDSCR_EL1", "OSLSR_EL1", "OSDLR_EL1", "MDCCINT_EL1", "OSECCR_EL1",
        "DBGCLAIM", "MPIDR_EL1")]
    + [(f"DBG{kind}{n}_EL1", 1) for kind, count in (("BVR", 6), ("BCR", 6), ("WVR", 4), ("WCR", 4))
       for n in range(count)]
)

TLB_ENTRIES = 1024            # direct-mapped, indexed by virtual page number
# One soft TLB per MMU index: 0 for EL0 accesses (and all of user mode), 1 for EL1.  Each has a
# tag array per access kind (the page address, or -1) and the host addend.
MMU_INDEXES = 2
TLB_WAYS = ("READ", "WRITE", "EXEC", "ADDEND")
TLB_WAYS_FIELDS = tuple(f"TLB{m}_{w}" for m in range(MMU_INDEXES) for w in TLB_WAYS)

RUNTIME_FIELDS = [
    ("BUDGET", 1),            # signed instructions left in this quantum; <= 0 makes blocks exit
    ("EXIT_PC", 1),           # PC of the instruction that caused an exit
    ("EXIT_INFO", 1),         # exit detail: SVC immediate, fault address, undefined word
    ("EXIT_INFO2", 1),        # second detail: access kind of a fault
    ("LINK_SLOT", 1),         # address of the chain slot a block asks the dispatcher to fill
    ("MEM_CTX", 1),           # address of the memory context the slow paths use
    ("PENDING", 1),           # set by a slow path that needs the block to stop (see exits.py)
    ("CODE_WRITE_LO", 1),     # [LO, HI): guest range stores wrote over translated code
    ("CODE_WRITE_HI", 1),
    ("CTX", 1),               # translation context of the current state (see cpu/context.py)
    ("IRQ_LINE", 1),          # interrupt inputs from the GIC (1 = asserted)
    ("FIQ_LINE", 1),
    ("SERROR_LINE", 1),       # a physical SError is pending (VCPU.raise_serror)
    ("BUDGET_TAKEN", 1),      # instructions taken from BUDGET by exit requests
    ("MMIO_STATUS", 1),       # set by the MMIO callback when nothing answers an address
    ("TRACE", 1),             # -d int: exceptions go to Python (to be logged) before being taken
    ("HELPERS", 16),          # addresses of the native helpers blocks call (jit/symbols.py)
    # the VA range covered by block/large pages in each TLB, so TLBI by VA knows when a
    # single entry is not enough
    ("TLB0_LARGE_LO", 1), ("TLB0_LARGE_HI", 1), ("TLB1_LARGE_LO", 1), ("TLB1_LARGE_HI", 1),
] + [(name, TLB_ENTRIES) for name in TLB_WAYS_FIELDS]


def _layout(fields, start=0):
    offsets, pos = {}, start
    for name, size in fields:
        offsets[name] = pos
        pos += size
    return offsets, pos


OFFSET, ARCH_SIZE = _layout(ARCH_FIELDS)
_runtime, ENV_SIZE = _layout(RUNTIME_FIELDS, ARCH_SIZE)
OFFSET.update(_runtime)
# user mode has one address space: its TLB is MMU index 0
for _w in TLB_WAYS:
    OFFSET[f"TLB_{_w}"] = OFFSET[f"TLB0_{_w}"]

GPR = [OFFSET[f"X{n}"] for n in range(31)]
VREG = [OFFSET[f"V{n}"] for n in range(32)]


def new_env() -> np.ndarray:
    env = np.zeros(ENV_SIZE, dtype=np.uint64)
    flush_tlb(env)
    from ..jit import symbols
    symbols.fill(env)
    return env


def flush_tlb(env: np.ndarray) -> None:
    for m in range(MMU_INDEXES):
        for w in ("READ", "WRITE", "EXEC"):
            o = OFFSET[f"TLB{m}_{w}"]
            env[o:o + TLB_ENTRIES] = np.uint64(0xFFFFFFFFFFFFFFFF)
        env[OFFSET[f"TLB{m}_LARGE_LO"]] = np.uint64(0xFFFFFFFFFFFFFFFF)
        env[OFFSET[f"TLB{m}_LARGE_HI"]] = 0


class CPUState:
    """Named access to an env array, for Python code (loaders, syscalls, tests)."""

    def __init__(self, env=None):
        self.env = new_env() if env is None else env

    def __getitem__(self, name):
        return int(self.env[OFFSET[name]])

    def __setitem__(self, name, value):
        self.env[OFFSET[name]] = np.uint64(value & 0xFFFFFFFFFFFFFFFF)

    def x(self, n):
        return int(self.env[GPR[n]])

    def set_x(self, n, value):
        self.env[GPR[n]] = np.uint64(value & 0xFFFFFFFFFFFFFFFF)

    def v(self, n) -> int:
        o = VREG[n]
        return int(self.env[o]) | (int(self.env[o + 1]) << 64)

    def set_v(self, n, value):
        o = VREG[n]
        self.env[o] = np.uint64(value & 0xFFFFFFFFFFFFFFFF)
        self.env[o + 1] = np.uint64((value >> 64) & 0xFFFFFFFFFFFFFFFF)

    @property
    def nzcv(self) -> int:
        return (self["N"] << 31) | (self["Z"] << 30) | (self["C"] << 29) | (self["V"] << 28)

    @nzcv.setter
    def nzcv(self, value):
        for bit, name in ((31, "N"), (30, "Z"), (29, "C"), (28, "V")):
            self[name] = (value >> bit) & 1

    def arch(self) -> np.ndarray:
        return self.env[:ARCH_SIZE]
