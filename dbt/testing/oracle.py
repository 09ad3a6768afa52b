"""Differential testing against Unicorn: the same instructions from the same random state,
compared register by register and byte by byte.

Both sides map a code page at CODE and a data window at DATA filled with the same random
bytes; base registers are biased towards pointers into the window so loads and stores land.
"""
from __future__ import annotations

import random
import re
import struct
from dataclasses import dataclass, field

import numpy as np

CODE = 0x10000
CODE_SIZE = 0x4000
CASE_STRIDE = 0x100           # batched cases sit this far apart in the code region
DATA = 0x1000000
DATA_SIZE = 0x40000
# Unicorn runs a CLREX before every case: it keeps its exclusive monitor from one run to the
# next, while each case starts with ours in the Open Access state.  The CLREX sits in the code
# region's last word, where no case's instructions go (see check_many).
CLREX_AT = CODE + CODE_SIZE - 4
CLREX = 0xD5033F5F
MID = DATA + DATA_SIZE // 2
MASK64 = (1 << 64) - 1
# BRK #0x7a1 after the instructions under test ends our block where Unicorn's count stops
STOP = 0xD4200000 | (0x7A1 << 5)

NOT_COMPARABLE_SEMS = {
    # exception generation and system instructions: user-mode exits vs Unicorn's EL1 traps
    "SVC", "HVC", "SMC", "BRK", "HLT", "ERET", "undefined", "SYS", "SYSL", "MSR_imm", "MSR_reg",
    "MRS", "WFE", "WFI", "SEV", "SEVL", "HINT", "ISB", "CLREX", "barrier", "prfm",
}


@dataclass
class State:
    x: list                 # X0..X30
    sp: int
    pc: int
    nzcv: int
    v: list                 # V0..V31 as 128-bit ints
    fpcr: int = 0
    fpsr: int = 0
    data: bytes = b""
    fault: str | None = None
    fault_kind: int | None = None

    def diff(self, other: "State") -> list[str]:
        out = []
        for i in range(31):
            if self.x[i] != other.x[i]:
                out.append(f"x{i}")
        for name in ("sp", "pc", "nzcv", "fpsr"):
            if getattr(self, name) != getattr(other, name):
                out.append(name)
        for i in range(32):
            if self.v[i] != other.v[i]:
                out.append(f"v{i}")
        if self.data != other.data:
            out.append("memory")
        if (self.fault is None) != (other.fault is None):
            out.append("fault")
        return out


def random_state(rng: random.Random) -> State:
    def gpr():
        k = rng.random()
        if k < 0.45:
            return MID + rng.randrange(-0x4000, 0x4000) * rng.choice((1, 1, 1, 4, 8))
        if k < 0.6:
            return rng.randrange(0, 64)
        if k < 0.7:
            return rng.choice((0, 1, MASK64, 1 << 63, (1 << 63) - 1, 0xFFFFFFFF, 0x80000000))
        return rng.getrandbits(64)

    def vreg():
        k = rng.random()
        if k < 0.6:
            return rng.getrandbits(128)
        # interesting floats in each lane
        specials = (0, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001,
                    0x00000001, 0x80000000, 0x4B000000, 0x3FF00000_00000000 >> 32)
        return sum(rng.choice(specials) << (32 * i) for i in range(4))

    return State(
        x=[gpr() for _ in range(31)],
        sp=(MID + rng.randrange(-0x1000, 0x1000) * 16) & MASK64,
        pc=CODE,
        nzcv=rng.getrandbits(4) << 28,
        v=[vreg() for _ in range(32)],
        fpcr=rng.choice((0, 0, 0, 1 << 22, 2 << 22, 3 << 22, 1 << 24, 1 << 25)),
        fpsr=0,
        data=bytes(rng.getrandbits(8) for _ in range(64)) * (DATA_SIZE // 64),
    )


class UnicornSide:
    def __init__(self):
        from unicorn import arm64_const as A
        self.A = A
        self.uc = self._new()
        self.xregs = [getattr(A, f"UC_ARM64_REG_X{i}") for i in range(31)]
        self.qregs = [getattr(A, f"UC_ARM64_REG_Q{i}") for i in range(32)]

    def _new(self, code: bytes = b""):
        from unicorn import Uc, UC_ARCH_ARM64, UC_MODE_ARM
        uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
        uc.mem_map(CODE, CODE_SIZE)
        uc.mem_map(DATA, DATA_SIZE)
        uc.mem_write(CODE, code)
        uc.mem_write(CLREX_AT, struct.pack("<I", CLREX))
        uc.reg_write(self.A.UC_ARM64_REG_CPACR_EL1, 3 << 20)   # FP/SIMD enabled
        return uc

    def write_code(self, base, words):
        self.uc.mem_write(base, b"".join(struct.pack("<I", w) for w in words))

    def run(self, words, s: State, base: int = CODE, written: bool = False) -> State:
        from unicorn import UcError
        A, uc = self.A, self.uc
        if not written:
            self.write_code(base, words)
        uc.mem_write(DATA, s.data)
        for r, v in zip(self.xregs, s.x):
            uc.reg_write(r, v)
        uc.reg_write(A.UC_ARM64_REG_SP, s.sp)
        uc.reg_write(A.UC_ARM64_REG_NZCV, s.nzcv)
        uc.reg_write(A.UC_ARM64_REG_FPCR, s.fpcr)
        uc.reg_write(A.UC_ARM64_REG_FPSR, s.fpsr)
        for r, v in zip(self.qregs, s.v):
            uc.reg_write(r, v)
        fault = None
        uc.emu_start(CLREX_AT, CLREX_AT + 4, count=1)
        try:
            uc.emu_start(base, base + 4 * len(words), count=len(words))
        except UcError as e:
            fault = str(e)
        if fault is not None and "UC_ERR_EXCEPTION" in fault:
            # an exception Unicorn does not take (EXCP_ATOMIC for an exclusive pair, say) can
            # stay pending in it and stop a later run: go on with a new instance
            self.uc = self._new(bytes(uc.mem_read(CODE, CODE_SIZE)))
        return State(
            x=[uc.reg_read(r) for r in self.xregs],
            sp=uc.reg_read(A.UC_ARM64_REG_SP),
            pc=uc.reg_read(A.UC_ARM64_REG_PC),
            nzcv=uc.reg_read(A.UC_ARM64_REG_NZCV) & 0xF0000000,
            v=[uc.reg_read(r) for r in self.qregs],
            fpcr=uc.reg_read(A.UC_ARM64_REG_FPCR),
            fpsr=uc.reg_read(A.UC_ARM64_REG_FPSR),
            data=bytes(uc.mem_read(DATA, DATA_SIZE)),
            fault=fault,
        )


class DbtSide:
    def __init__(self):
        from ..jit.engine import Engine
        from ..user.addrspace import PROT_EXEC, PROT_READ, PROT_WRITE, AddressSpace
        self.space = AddressSpace(ram_bytes=DATA_SIZE + (1 << 20), l2_tables=2)
        self.space.map(CODE, CODE_SIZE, PROT_READ | PROT_EXEC)
        self.space.map(DATA, DATA_SIZE, PROT_READ | PROT_WRITE)
        # random code is never worth keeping in the on-disk code cache
        self.engine = Engine(self.space, disk_cache=False)
        ent = self.space.entry(DATA)
        first = ((ent >> 12) - 1) * 4096
        self.data_view = self.space.ram[first:first + DATA_SIZE]   # frames are contiguous

    def write_code(self, base, words):
        self.space.write(base, b"".join(struct.pack("<I", w) for w in list(words) + [STOP]),
                         force=True)

    def run(self, words, s: State, base: int = CODE, written: bool = False) -> State:
        from ..cpu.state import OFFSET
        from ..jit import exits
        st = self.engine.state
        if not written:
            self.write_code(base, words)
        self.data_view[:] = np.frombuffer(s.data, dtype=np.uint8)
        for i, v in enumerate(s.x):
            st.set_x(i, v)
        st["SP"] = s.sp
        st["PC"] = base
        st.nzcv = s.nzcv
        st["FPCR"] = s.fpcr
        st["FPSR"] = s.fpsr
        st["EXCL_SIZE"] = 0
        for i, v in enumerate(s.v):
            st.set_v(i, v)
        code = self.engine.run(len(words))
        fault = None
        stopped = code == exits.BRK and st["PC"] == base + 4 * len(words)
        kind = None
        if code != exits.BUDGET and not stopped:
            fault = exits.NAMES.get(code, str(code))
            if code == exits.FAULT:
                kind = int(self.engine.envi[OFFSET["EXIT_INFO2"]])
        return State(
            x=[st.x(i) for i in range(31)], sp=st["SP"], pc=st["PC"], nzcv=st.nzcv,
            v=[st.v(i) for i in range(32)], fpcr=st["FPCR"], fpsr=st["FPSR"],
            data=self.data_view.tobytes(), fault=fault, fault_kind=kind,
        )


@dataclass
class Mismatch:
    words: list
    before: State
    ours: State
    theirs: State
    fields: list = field(default_factory=list)
    base: int = CODE

    def report(self) -> str:
        from ..frontend.a64 import decoder
        from ..frontend.disasm import Disassembler
        dis = Disassembler(decoder())
        lines = ["instructions:"]
        for i, w in enumerate(self.words):
            lines.append(f"  {self.base + 4 * i:#x}: {w:08x}  {dis.text(w, self.base + 4 * i)}")
        lines.append(f"differs in: {', '.join(self.fields)}")
        lines.append(f"{'':6} {'before':>34} {'dbt':>34} {'unicorn':>34}")

        def row(name, b, o, t, width=16):
            mark = "*" if o != t else " "
            fmt = f"0x{{:0{width}x}}"
            lines.append(f"{mark}{name:5} {fmt.format(b):>34} {fmt.format(o):>34} {fmt.format(t):>34}")

        for i in range(31):
            row(f"x{i}", self.before.x[i], self.ours.x[i], self.theirs.x[i])
        row("sp", self.before.sp, self.ours.sp, self.theirs.sp)
        row("pc", self.before.pc, self.ours.pc, self.theirs.pc)
        row("nzcv", self.before.nzcv, self.ours.nzcv, self.theirs.nzcv, 8)
        row("fpcr", self.before.fpcr, self.ours.fpcr, self.theirs.fpcr, 8)
        row("fpsr", self.before.fpsr, self.ours.fpsr, self.theirs.fpsr, 8)
        for i in range(32):
            if self.ours.v[i] != self.theirs.v[i]:
                row(f"v{i}", self.before.v[i], self.ours.v[i], self.theirs.v[i], 32)
        if self.ours.data != self.theirs.data:
            a, b = np.frombuffer(self.ours.data, np.uint8), np.frombuffer(self.theirs.data, np.uint8)
            idx = np.nonzero(a != b)[0]
            lines.append(f"memory differs at {len(idx)} bytes, first at {DATA + int(idx[0]):#x}")
        lines.append(f"fault: dbt={self.ours.fault} unicorn={self.theirs.fault}")
        return "\n".join(lines)


def load_known(path=None):
    """Rows where Unicorn is known to be wrong: {row name: [reason, ...]} from
    unicorn_known.txt."""
    import pathlib
    path = pathlib.Path(path or pathlib.Path(__file__).with_name("unicorn_known.txt"))
    known = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, reason = line.split(None, 1)
            known.setdefault(name, []).append(reason.strip())
    return known


def _exclusive_size(name):
    """The access size of a load/store-exclusive row (LDXRB, STLXP_64, ...), else None."""
    m = re.fullmatch(r"(LDA?X|STL?X)(R|P)(B|H|_32|_64)", name)
    if not m:
        return None
    size = {"B": 1, "H": 2, "_32": 4, "_64": 8}[m.group(3)]
    return size * 2 if m.group(2) == "P" else size


def _mixed_exclusive_sizes(row_names, reasons):
    """A store-exclusive whose row has a "size" reason follows a load-exclusive of another
    size (no CLREX between)."""
    loaded = None
    for name in row_names:
        size = _exclusive_size(name)
        if name == "CLREX":
            loaded = None
        elif size is not None and name.startswith("LD"):
            loaded = size
        elif size is not None and loaded not in (None, size) \
                and any(r.startswith("size") for r in reasons(name)):
            return True
    return False


class Differ:
    def __init__(self):
        self.uc = UnicornSide()
        self.dbt = DbtSide()
        self.known = load_known()
        self.excused = 0

    def _reasons(self, name):
        return self.known.get(name, ())

    def _excused(self, words, state, base, row_names, ours, theirs, fields) -> bool:
        """A difference explained by a known Unicorn defect (see unicorn_known.txt)."""
        from ..jit import exits
        if ours.fault_kind == exits.ACCESS_ALIGN and theirs.fault is None and any(
                r.startswith("alignment") for name in row_names for r in self._reasons(name)):
            return True
        if fields == ["memory"] and _mixed_exclusive_sizes(row_names, self._reasons):
            return True
        k = (theirs.pc - base) // 4
        if ours.fault is None and theirs.fault and "UNMAPPED" in theirs.fault \
                and 0 <= k < len(row_names) \
                and any(r.startswith("monitor") for r in self._reasons(row_names[k])):
            # the store-exclusive Unicorn stopped at: excused only if its address is -1
            at = self.uc.run(words[:k], state, base) if k else state
            rn = (words[k] >> 5) & 31
            return (at.sp if rn == 31 else at.x[rn]) == MASK64
        return False

    def check_many(self, cases):
        """[(words, state, row_names)] -> [Mismatch or None]: the cases' code is laid out side
        by side and translated in one compile."""
        assert len(cases) * CASE_STRIDE <= CODE_SIZE
        bases = [CODE + i * CASE_STRIDE for i in range(len(cases))]
        for base, (words, _, _) in zip(bases, cases):
            assert 4 * (len(words) + 1) <= CASE_STRIDE
            self.uc.write_code(base, words)
            self.dbt.write_code(base, words)
        self.dbt.engine.pretranslate(bases)
        return [self.check(words, state, names, base=base, written=True)
                for base, (words, state, names) in zip(bases, cases)]

    def check(self, words, state: State, row_names=(), base: int = CODE,
              written: bool = False) -> Mismatch | None:
        theirs = self.uc.run(words, state, base, written)
        ours = self.dbt.run(words, state, base, written)
        fields = ours.diff(theirs)
        if (theirs.fault and "FETCH_UNMAPPED" in theirs.fault and ours.fault is None
                and ours.pc == theirs.pc):
            # Unicorn probes the next instruction after a branch even when its count is spent
            fields.remove("fault")
        if theirs.fault is not None and ours.fault is not None:
            # both stopped on an exception: registers at the fault are not compared
            fields = []
        if fields and self._excused(words, state, base, row_names, ours, theirs, fields):
            self.excused += 1
            fields = []
        if fields:
            return Mismatch(list(words), state, ours, theirs, fields, base)
        return None


def comparable_rows(table, handlers, extra_skip=()):
    """Rows the differential test draws from: implemented, and meaningful to compare."""
    return [r for r in table if r.sem in handlers and r.sem not in NOT_COMPARABLE_SEMS
            and r.name not in extra_skip]
