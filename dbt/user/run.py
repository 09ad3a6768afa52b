"""`dbt-run [--single-step] [--stats] [--strace] PROGRAM [ARGS...]`: run a static AArch64 Linux
program.

The engine runs the guest in quanta; this loop handles the exits that need the process:
system calls, counter reads, and the faults the kernel would turn into signals.  Guest
misbehaviour ends the run with the shell's 128 + signal status and a one-line message, never a
Python traceback.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from .loader import LoadError, parse_elf

QUANTUM = 1_000_000
SIGILL, SIGTRAP, SIGSEGV = 4, 5, 11
COUNTER_WORDS = {0xD53BE040: "CNTVCT_EL0", 0xD53BE020: "CNTPCT_EL0"}   # MRS Xt, <reg>


def _parse(argv):
    ap = argparse.ArgumentParser(prog="dbt-run",
                                 description="Run a static AArch64 Linux ELF program.")
    ap.add_argument("--single-step", action="store_true",
                    help="translate and run one instruction at a time (slow; for debugging)")
    ap.add_argument("--stats", action="store_true",
                    help="print execution and translation statistics on stderr at exit")
    ap.add_argument("--strace", action="store_true",
                    help="log every system call on stderr")
    ap.add_argument("program", metavar="PROGRAM")
    ap.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    return ap.parse_args(argv)


def _errname(err: int) -> str:
    import errno
    return errno.errorcode.get(err, str(err))


def _say(msg: str):
    try:
        sys.stderr.write(f"dbt-run: {msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class Runner:
    def __init__(self, program: str, args: list[str], single_step: bool = False,
                 strace: bool = False):
        self.strace = strace
        elf = parse_elf(program)           # fails fast, before Numba and LLVM load
        from ..jit.engine import Engine
        from .addrspace import AddressSpace
        from .loader import load_elf, setup_stack
        from .mm import MemoryMap
        from .process import Process

        self.space = AddressSpace()
        self.mm = MemoryMap(self.space)
        self.image = load_elf(self.mm, elf)
        sp = setup_stack(self.mm, self.image, [program] + list(args),
                         [k + b"=" + v for k, v in os.environb.items()])
        self.engine = Engine(self.space)
        self.engine.single_step = single_step
        self.mm.engine = self.engine
        self.state = self.engine.state
        self.state["PC"] = self.image.entry
        self.state["SP"] = sp
        self.process = Process(self.mm, self.engine, program)
        self.process.image_ranges = self.image.ranges
        self.process.auxv = self.image.auxv
        self.process.cmdline = b"".join(os.fsencode(a) + b"\0" for a in [program, *args])

    def run(self) -> int:
        """Run the guest to its end; returns the exit status."""
        from ..jit import exits
        from .process import ProcessExit

        handlers = {exits.SVC: self.syscall, exits.SYSTEM: self.system,
                    exits.UNDEFINED: self.undefined, exits.HLT: self.undefined,
                    exits.FAULT: self.fault, exits.BRK: self.brk}
        try:
            while True:
                code = self.engine.run(QUANTUM)
                if code == exits.BUDGET:
                    continue
                handler = handlers.get(code)
                if handler is None:
                    raise RuntimeError(f"unexpected engine exit {exits.NAMES.get(code, code)}")
                handler()
        except ProcessExit as e:
            if e.message:
                self.process.warn(e.message)
            return e.status

    # -- exits -------------------------------------------------------------------------------
    def syscall(self):
        from .syscalls import NAMES, dispatch
        st, p = self.state, self.process
        args = [st.x(i) for i in range(6)]
        nr = st.x(8)
        if self.strace:
            p.warn(f"[pc {st['PC'] - 4:#x}] {NAMES.get(nr, nr)}({', '.join(hex(a) for a in args)})")
        ret = dispatch(p, nr, args)
        if self.strace:
            p.warn(f"  = {ret:#x}" if ret >= 0 else f"  = -{_errname(-ret)}")
        st.set_x(0, ret)

    def system(self):
        """MRS of the virtual/physical counter: 62.5 MHz (CNTFRQ_EL0) from host monotonic time."""
        st = self.state
        word = st["EXIT_INFO"] & 0xFFFFFFFF
        if word & ~0x1F not in COUNTER_WORDS:
            self._signal(SIGILL, f"SIGILL: undefined instruction {word:#010x} at pc {st['PC']:#x}")
        rt = word & 0x1F
        if rt != 31:
            st.set_x(rt, time.monotonic_ns() // 16)
        st["PC"] = st["PC"] + 4

    def undefined(self):
        st = self.state
        word = self.space.fetch(st["PC"])
        if word is None:
            word = st["EXIT_INFO"] & 0xFFFFFFFF
        self._signal(SIGILL, f"SIGILL: undefined instruction {word:#010x} at pc {st['PC']:#x}")

    def fault(self):
        from ..jit import exits
        st = self.state
        addr, kind = st["EXIT_INFO"], st["EXIT_INFO2"]
        what = {exits.ACCESS_READ: "read from", exits.ACCESS_WRITE: "write to",
                exits.ACCESS_EXEC: "instruction fetch from"}.get(kind, "access to")
        self._signal(SIGSEGV, f"SIGSEGV: invalid {what} address {addr:#x} at pc {st['PC']:#x}")

    def brk(self):
        st = self.state
        self._signal(SIGTRAP, f"SIGTRAP: brk #{st['EXIT_INFO'] & 0xFFFF:#x} at pc {st['PC']:#x}")

    def _signal(self, sig: int, message: str):
        """A synchronous signal: handlers cannot run yet, so the process dies of it."""
        from .process import ProcessExit
        raise ProcessExit(128 + sig, sig, message)

    def stats(self, wall: float) -> str:
        cache = self.engine.cache
        comp = cache.compile_seconds
        med = statistics.median(comp) * 1e3 if comp else 0.0
        disk = getattr(cache, "disk_hits", 0)
        return (f"stats: {self.engine.executed} guest instructions, "
                f"{len(comp)} blocks translated"
                + (f" + {disk} from the disk cache" if disk else "")
                + f" ({len(cache.blocks)} in the cache), "
                f"median compile {med:.2f} ms/block (total {sum(comp):.2f} s), "
                f"wall {wall:.2f} s")


def main(argv=None) -> int:
    opts = _parse(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    runner = None
    try:
        runner = Runner(opts.program, opts.args, opts.single_step, opts.strace)
        status = runner.run()
    except LoadError as e:
        _say(str(e))
        return 1
    except KeyboardInterrupt:
        _say("interrupted")
        status = 130
    except Exception as e:                  # a bug of ours, not the guest's
        if os.environ.get("DBT_DEBUG"):
            import traceback
            traceback.print_exc()
        state = getattr(runner, "state", None)
        pc = f" at pc {state['PC']:#x}" if state is not None else ""
        _say(f"internal error{pc}: {type(e).__name__}: {e}")
        status = 70
    if opts.stats and runner is not None and hasattr(runner, "engine"):
        _say(runner.stats(time.perf_counter() - t0))
    return status


if __name__ == "__main__":
    sys.exit(main())
