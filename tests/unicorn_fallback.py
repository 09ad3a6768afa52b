"""dbt-run with a safety net, for tests only: an instruction the translator leaves UNDEFINED is
executed by Unicorn (one instruction, on a copy of the registers and of the pages it touches),
then translated execution goes on.

This lets the user-mode tests exercise glibc's start-up, stdio, malloc and busybox -- the loader
and the system calls -- while parts of the SIMD&FP semantics are still missing.  A word Unicorn
cannot execute either (e.g. .inst 0xffffffff) is still SIGILL.

    python3 tests/unicorn_fallback.py [dbt-run options] PROGRAM [ARGS...]

Prints "unicorn-fallback: N executions of M distinct words: 0x..." on stderr at exit when
DBT_FALLBACK_REPORT is set.
"""
import collections
import os
import sys

from unicorn import UC_ARCH_ARM64, UC_HOOK_MEM_UNMAPPED, UC_MODE_ARM, UC_PROT_ALL, Uc, UcError
from unicorn import arm64_const as A

from dbt.user import run
from dbt.user.addrspace import PAGE, PROT_READ, PROT_WRITE

_X = [getattr(A, f"UC_ARM64_REG_X{i}") for i in range(31)]
_Q = [getattr(A, f"UC_ARM64_REG_Q{i}") for i in range(32)]
_SYS = {"FPCR": A.UC_ARM64_REG_FPCR, "FPSR": A.UC_ARM64_REG_FPSR,
        "TPIDR_EL0": A.UC_ARM64_REG_TPIDR_EL0, "SP": A.UC_ARM64_REG_SP}
hits = collections.Counter()


class FallbackRunner(run.Runner):
    uc = None

    def _unicorn(self):
        if self.uc is None:
            self.uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
            self.uc.reg_write(A.UC_ARM64_REG_CPACR_EL1, 3 << 20)     # FP/SIMD enabled at EL0
            self.pages = set()
            self.uc.hook_add(UC_HOOK_MEM_UNMAPPED,
                             lambda uc, acc, addr, size, val, ud:
                             self._map_in(addr) and self._map_in(addr + size - 1))
        return self.uc

    def _map_in(self, va):
        page = va & ~(PAGE - 1)
        if page in self.pages:
            return True
        ent = self.space.entry(page)
        if not ent or not ent & PROT_READ:
            return False
        self.uc.mem_map(page, PAGE, UC_PROT_ALL)
        self.uc.mem_write(page, self.space.read(page, PAGE))
        self.pages.add(page)
        return True

    def undefined(self):
        st, space = self.state, self.space
        pc = st["PC"]
        word = space.fetch(pc)
        if word is None or word == 0xFFFFFFFF:
            return super().undefined()
        uc = self._unicorn()
        self._map_in(pc)
        for i in range(31):
            uc.reg_write(_X[i], st.x(i))
        for i in range(32):
            uc.reg_write(_Q[i], st.v(i))
        for name, reg in _SYS.items():
            uc.reg_write(reg, st[name])
        uc.reg_write(A.UC_ARM64_REG_NZCV, st.nzcv)
        try:
            uc.emu_start(pc, pc + 4, count=1)
        except UcError:
            self._drop_pages()
            return super().undefined()
        hits[word] += 1
        for i in range(31):
            st.set_x(i, uc.reg_read(_X[i]))
        for i in range(32):
            st.set_v(i, uc.reg_read(_Q[i]))
        for name, reg in _SYS.items():
            st[name] = uc.reg_read(reg)
        st.nzcv = uc.reg_read(A.UC_ARM64_REG_NZCV)
        st["PC"] = uc.reg_read(A.UC_ARM64_REG_PC)
        for page in self.pages:
            if space.entry(page) & PROT_WRITE:
                new = bytes(uc.mem_read(page, PAGE))
                if new != space.read(page, PAGE):
                    space.write(page, new)
        self._drop_pages()

    def _drop_pages(self):
        for page in self.pages:
            self.uc.mem_unmap(page, PAGE)
        self.pages.clear()


def main(argv=None):
    run.Runner = FallbackRunner
    status = run.main(argv)
    if os.environ.get("DBT_FALLBACK_REPORT"):
        words = " ".join(f"{w:#010x}" for w in sorted(hits))
        print(f"unicorn-fallback: {sum(hits.values())} executions of {len(hits)} distinct "
              f"words: {words}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
