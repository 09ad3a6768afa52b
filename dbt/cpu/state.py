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
)

TLB_ENTRIES = 1024            # direct-mapped, indexed by virtual page number
TLB_WAYS_FIELDS = ("TLB_READ", "TLB_WRITE", "TLB_ADDEND")

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

GPR = [OFFSET[f"X{n}"] for n in range(31)]
VREG = [OFFSET[f"V{n}"] for n in range(32)]


def new_env() -> np.ndarray:
    env = np.zeros(ENV_SIZE, dtype=np.uint64)
    flush_tlb(env)
    return env


def flush_tlb(env: np.ndarray) -> None:
    env[OFFSET["TLB_READ"]:OFFSET["TLB_READ"] + TLB_ENTRIES] = np.uint64(0xFFFFFFFFFFFFFFFF)
    env[OFFSET["TLB_WRITE"]:OFFSET["TLB_WRITE"] + TLB_ENTRIES] = np.uint64(0xFFFFFFFFFFFFFFFF)


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
