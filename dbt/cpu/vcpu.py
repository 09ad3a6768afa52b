"""One system-level vCPU: its env, its generic timer, and the exits translated code hands to
Python (system registers with side effects, AT/TLBI, WFI/WFE, HVC/SMC, interrupts).

The machine owns the scheduler; `run(budget)` executes at most `budget` instructions and
returns why it stopped (see RunResult).
"""
from __future__ import annotations

import ctypes
import enum

import numpy as np

from ..gicv3 import READABLE as ICC_READABLE, WRITABLE as ICC_WRITABLE
from ..jit import exits, symbols
from ..jit.dispatch import finish_exit, run_system
from . import exceptions as X
from . import mmu
from .state import ARCH_SIZE, OFFSET, CPUState, flush_tlb
from .sysreg_model import BY_ENCODING, CCSIDR, REGS, reset_values
from .timer import GenericTimer

_BUDGET = OFFSET["BUDGET"]
_TAKEN = OFFSET["BUDGET_TAKEN"]
_PC = OFFSET["PC"]
MDSCR_SS, MDSCR_KDE = 1 << 0, 1 << 13
SPSR_SS = 1 << 21


def _s64(v: int) -> int:
    v &= 0xFFFF_FFFF_FFFF_FFFF
    return v - (1 << 64) if v >> 63 else v


class RunResult(enum.Enum):
    BUDGET = "budget"       # quantum used up (or an exit was requested)
    WAIT = "wait"           # WFI: nothing to do until an interrupt
    WAIT_EVENT = "wfe"      # WFE: nothing to do until an event (see VCPU.wfe_ended)
    OFF = "off"             # the vCPU powered itself off (PSCI CPU_OFF)
    STOP = "stop"           # the machine must stop (SYSTEM_OFF/RESET, emulator error)


class VCPU:
    def __init__(self, index: int, mpidr: int, phys, code, clock, gic=None, psci=None):
        self.index = index
        self.mpidr = mpidr
        self.state = CPUState()
        self.env = self.state.env
        self.envi = self.env.view(np.int64)
        self.env_addr = self.env.ctypes.data
        self.phys = phys
        self.code = code
        self.gic = gic
        self.psci = psci            # callable(cpu, conduit) -> RunResult | None
        self.timer = GenericTimer(self.env, clock, self._timer_ppi)
        self.event = False          # the WFE event register
        self.wfe_since = None       # in WFE since this counter value (None: not waiting)
        self.exceptions = 0         # synchronous exceptions taken from Python (stepping)
        self.executed = 0
        self.log = None             # callable(category, text) for -d
        self.trace = False          # -d int: log synchronous exceptions too
        self.single_step = False    # -d exec: one instruction at a time, each logged
        phys.attach(self.envi, self)
        self.reset()

    # -- reset and identity ---------------------------------------------------------------
    def reset(self, entry: int = 0, context_id: int = 0):
        """Architectural warm reset: EL1h, interrupts masked, MMU off, registers at their
        reset values; PC = entry, X0 = context_id (PSCI CPU_ON)."""
        env = self.envi
        env[:] = 0
        for name, value in reset_values().items():
            env[OFFSET[name]] = value
        env[OFFSET["MPIDR_EL1"]] = self.mpidr | (1 << 31)
        env[OFFSET["EL"]] = 1
        env[OFFSET["SPSEL"]] = 1
        env[OFFSET["DAIF"]] = X.DAIF_ALL
        self.env[_PC] = np.uint64(entry & 0xFFFF_FFFF_FFFF_FFFF)
        self.env[OFFSET["X0"]] = np.uint64(context_id & 0xFFFF_FFFF_FFFF_FFFF)
        env[OFFSET["MEM_CTX"]] = self.phys.mc.ctypes.data
        env[OFFSET["TRACE"]] = 1 if self.trace else 0
        symbols.fill(env)
        flush_tlb(self.env)
        X.update_ctx(env)
        self.event = False
        self.wfe_since = None
        if self.gic is not None:
            # the timer outputs fall with CNTx_CTL cleared; the CPU interface resets with
            # its CPU (and re-drives the lines into env)
            self.timer.levels = {"P": True, "V": True}
            self.timer.update()
            self.gic.cpuif_reset(self.index)

    # -- snapshots ------------------------------------------------------------------------
    def save_arch(self) -> bytes:
        """The architectural part of env (state.ARCH_FIELDS), as saved in a snapshot."""
        return self.env[:ARCH_SIZE].tobytes()

    def load_arch(self, data: bytes) -> None:
        """Take a saved architectural state; the runtime part is derived again (TLB empty,
        translation context recomputed; the GIC re-drives the interrupt lines)."""
        self.env[:ARCH_SIZE] = np.frombuffer(data, dtype=np.uint64)
        flush_tlb(self.env)
        X.update_ctx(self.envi)

    # -- interrupts -----------------------------------------------------------------------
    def _timer_ppi(self, intid, level):
        if self.gic is not None:
            self.gic.set_irq(intid, level, cpu=self.index)

    def set_irq_line(self, level: bool, fiq: bool = False):
        self.envi[OFFSET["FIQ_LINE" if fiq else "IRQ_LINE"]] = 1 if level else 0
        if level:
            self.request_exit()

    def request_exit(self):
        """Make translated code stop at the next block boundary (takes the rest of the
        budget; run() gives it back)."""
        env = self.envi
        b = int(env[_BUDGET])
        if b > 0:
            env[_TAKEN] += b
            env[_BUDGET] = 0

    def wake_pending(self) -> bool:
        """WFI ends when an interrupt or SError is pending, masked or not."""
        env = self.envi
        return bool(env[OFFSET["IRQ_LINE"]] or env[OFFSET["FIQ_LINE"]]
                    or env[OFFSET["SERROR_LINE"]])

    def raise_serror(self):
        """Make a physical SError pending (an asynchronous external abort).  It is taken when
        PSTATE.A allows, shows in ISR_EL1.A meanwhile, and wakes WFI.  No device of this board
        raises one (as on QEMU's virt without RAS); the host may."""
        self.envi[OFFSET["SERROR_LINE"]] = 1
        self.request_exit()

    def wfe_ended(self) -> bool:
        """A WFE wait ends: the event register is set (another vCPU's SEV), an unmasked
        interrupt or SError is pending, or the event stream fired since the wait began.  The
        board also ends it when another vCPU ran, whose stores may have cleared this one's
        exclusive monitor."""
        env = self.envi
        daif = int(env[OFFSET["DAIF"]])
        if self.event or (env[OFFSET["IRQ_LINE"]] and not daif & X.DAIF_I) \
                or (env[OFFSET["FIQ_LINE"]] and not daif & X.DAIF_F) \
                or (env[OFFSET["SERROR_LINE"]] and not daif & X.DAIF_A):
            return True
        at = self.timer.event_stream_after(self.wfe_since)
        return at is not None and self.timer.clock.ticks() >= at

    def end_wfe(self):
        """The WFE completes; the event that ended it, if it was one, is consumed."""
        self.wfe_since = None
        self.event = False

    def take_interrupt(self) -> bool:
        env = self.envi
        daif = int(env[OFFSET["DAIF"]])
        esr = -1                                          # IRQ/FIQ leave ESR_EL1 alone
        if env[OFFSET["SERROR_LINE"]] and not daif & X.DAIF_A:
            vector, esr = X.VEC_SERROR, (X.EC_SERROR << 26) | X.IL   # ISS 0: uncategorized
            env[OFFSET["SERROR_LINE"]] = 0                # taken: no longer pending
        elif env[OFFSET["FIQ_LINE"]] and not daif & X.DAIF_F:
            vector = X.VEC_FIQ
        elif env[OFFSET["IRQ_LINE"]] and not daif & X.DAIF_I:
            vector = X.VEC_IRQ
        else:
            return False
        if self.log:
            name = {X.VEC_SERROR: "SError", X.VEC_FIQ: "FIQ", X.VEC_IRQ: "IRQ"}[vector]
            self.log("int", f"cpu{self.index}: {name} at pc {int(self.env[_PC]):#x} "
                            f"el{int(env[OFFSET['EL']])}")
        X.take_exception(env, vector, esr, 0, int(env[_PC]), False)
        return True

    def exception(self, ec: int, iss: int = 0, far: int | None = None, ret: int | None = None):
        """Take a synchronous exception (ELR = ret, default the current PC)."""
        self.exceptions += 1
        ret = int(self.envi[_PC]) if ret is None else ret
        X.sync_exception(self.envi, ec, iss, _s64(far or 0), _s64(ret), far is not None)

    # -- running --------------------------------------------------------------------------
    def run(self, budget: int) -> RunResult:
        env = self.envi
        env[_BUDGET] = budget
        env[_TAKEN] = 0
        code = self.code
        try:
            while True:
                if code.phys.code_written:
                    code.apply_code_writes()
                self.take_interrupt()
                if self.single_step or env[OFFSET["PSTATE_SS"]] and self._stepping():
                    result = self._step()
                else:
                    r = run_system(env, self.env_addr, code.cache.keys_pc, code.cache.keys_ctx,
                                   code.cache.fns, self.phys.mc)
                    result = None if self.phys.error is not None else self._exit(r)
                if self.phys.error is not None:
                    return RunResult.STOP
                if result is not None:
                    return result
        finally:
            taken = int(env[_TAKEN])
            self.executed += budget - int(env[_BUDGET]) - taken
            env[_TAKEN] = 0

    def _exit(self, r: int):
        env = self.envi
        if r == exits.BUDGET:
            return RunResult.BUDGET if env[_BUDGET] <= 0 else None
        if r == exits.MISS:
            self.code.translate(int(self.env[_PC]), int(env[OFFSET["EXIT_INFO"]]))
            return None
        if env[OFFSET["PENDING"]] & exits.PENDING_CODE_WRITE:
            env[OFFSET["PENDING"]] &= ~exits.PENDING_CODE_WRITE
            lo, hi = int(env[OFFSET["CODE_WRITE_LO"]]), int(env[OFFSET["CODE_WRITE_HI"]])
            self.code.invalidate(lo, hi - lo)
            if r == exits.FAULT:
                r = finish_exit(env, r)
        if r in (exits.CODE_WRITE, exits.IRQ_CHECK, exits.LOOKUP, exits.STEP):
            return None
        if r in (exits.SVC, exits.EXCEPTION, exits.UNDEFINED, exits.BRK, exits.FAULT,
                 exits.ERET):
            # only under -d int: the dispatcher left the exception to be logged here
            pc = int(self.env[_PC])
            what = exits.NAMES[r].lower()
            r = finish_exit(env, r)
            if self.log and what == "eret":
                self.log("int", f"cpu{self.index}: eret at pc {pc:#x} -> pc "
                                f"{int(self.env[_PC]):#x} el{int(env[OFFSET['EL']])}")
            elif self.log:
                self.log("int", f"cpu{self.index}: {what} at pc {pc:#x}: esr "
                                f"{int(self.env[OFFSET['ESR_EL1']]):#010x} far "
                                f"{int(self.env[OFFSET['FAR_EL1']]):#x} -> pc "
                                f"{int(self.env[_PC]):#x} el{int(env[OFFSET['EL']])}")
            if r in (exits.LOOKUP, exits.IRQ_CHECK):
                return None
        if r == exits.SYSTEM:
            return self._system(int(env[OFFSET["EXIT_INFO"]]) & 0xFFFF_FFFF)
        if r in (exits.HVC, exits.SMC):
            return self.psci(self, "hvc" if r == exits.HVC else "smc")
        raise RuntimeError(f"cpu{self.index}: unexpected exit {exits.NAMES.get(r, r)} "
                           f"at pc {int(env[_PC]):#x}")

    def _stepping(self) -> bool:
        """Software step is active: MDSCR_EL1.SS set, the OS lock and double lock clear, and
        debug exceptions enabled at this EL (always at EL0; at EL1 with MDSCR_EL1.KDE and
        PSTATE.D clear)."""
        env = self.envi
        mdscr = int(env[OFFSET["MDSCR_EL1"]])
        if not mdscr & MDSCR_SS or env[OFFSET["OSLSR_EL1"]] & 2 or env[OFFSET["OSDLR_EL1"]] & 1:
            return False
        return env[OFFSET["EL"]] == 0 or (mdscr & MDSCR_KDE
                                           and not int(env[OFFSET["DAIF"]]) & X.DAIF_D)

    def _step(self):
        """Run one instruction alone (single-step mode, and the guest's software step); the
        RunResult of its exit, or None."""
        env = self.envi
        if env[_BUDGET] <= 0:
            return RunResult.BUDGET
        stepping = bool(env[OFFSET["PSTATE_SS"]]) and self._stepping()
        pc = int(self.env[_PC])
        el = int(env[OFFSET["EL"]])
        fsc, host = mmu.fill_exec(env, self.phys.mc, _s64(pc), int(env[OFFSET["CTX"]]) & X.CTX_EL)
        if fsc != mmu.NO_FAULT:
            self.exception(X.EC_IABT, fsc, pc, pc)
            return None
        key = ((host - self.phys.ram.ctypes.data + self.phys.ram_base) & ~0xFFF) \
            | int(env[OFFSET["CTX"]])
        if self.single_step and self.log:
            self.log("exec", f"cpu{self.index}: pc {pc:#018x} el{el}")
        block = self.code.translate(pc, key, single_step=True)
        word = self.phys.fetch(host - self.phys.ram.ctypes.data + self.phys.ram_base)
        taken = self.exceptions
        r = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)(block.fn)(self.env_addr)
        self.code.cache.discard(block)
        took = r in (exits.SVC, exits.EXCEPTION, exits.UNDEFINED, exits.BRK, exits.FAULT)
        r = exits.LOOKUP if r in (exits.LINK, exits.LOOKUP, exits.STEP) else finish_exit(env, r)
        # exits Python completes (system instructions, PSCI calls) are stepped over too
        result = None if self.phys.error is not None else self._exit(r)
        if not stepping or self.phys.error is not None \
                or result not in (None, RunResult.WAIT, RunResult.WAIT_EVENT):
            return result
        if took or self.exceptions != taken:
            # the stepped instruction took an exception: the step is pending on its return
            env[OFFSET["SPSR_EL1"]] &= ~SPSR_SS
            return result
        env[OFFSET["PSTATE_SS"]] = 0
        if self._stepping():
            # taken from the EL the instruction left the PE in (an ERET may have changed it);
            # ISS.EX: the stepped instruction was a load-exclusive
            ec = X.EC_SOFTSTEP_LOWER if env[OFFSET["EL"]] == 0 else X.EC_SOFTSTEP_CUR
            ex = 1 << 6 if word is not None and (word & 0x3FC00000) == 0x08400000 else 0
            self.exception(ec, (1 << 24) | ex | 0x22)
        return result

    # -- system instructions executed in Python -------------------------------------------
    def _system(self, word: int):
        env = self.envi
        pc = int(env[_PC])
        if (word & 0xFFFFF01F) == 0xD503201F:             # hints: WFI, WFE, SEV, SEVL
            op = (word >> 5) & 0x7F
            return self._hint(op, pc)
        if (word & 0xFFF8F01F) == 0xD500401F:            # MSR (immediate): SPSel
            X.set_pstate_sp(env, 1, (word >> 8) & 1)
            X.update_ctx(env)
            self.set_pc(pc + 4)
            return None
        l = (word >> 21) & 1
        op0 = (word >> 19) & 3
        op1, crn, crm, op2 = (word >> 16) & 7, (word >> 12) & 15, (word >> 8) & 15, (word >> 5) & 7
        rt = word & 31
        if op0 == 1:
            self._sys(op1, crn, crm, op2, rt)
        elif (op0, op1, crn, crm, op2) == (3, 0, 4, 2, 0):   # MSR SPSel, Xt
            X.set_pstate_sp(env, 1, self.x(rt) & 1)
            X.update_ctx(env)
        else:
            reg = BY_ENCODING.get((op0, op1, crn, crm, op2))
            if l:
                value = self.read_sysreg(reg)
                if value is None:
                    return None
                self.set_x(rt, value)
            elif not self.write_sysreg(reg, self.x(rt)):
                return None
        if int(env[_PC]) == pc:
            self.set_pc(pc + 4)
        return None

    def set_pc(self, value):
        self.env[_PC] = np.uint64(value & 0xFFFF_FFFF_FFFF_FFFF)

    def x(self, n):
        return 0 if n == 31 else int(self.env[OFFSET[f"X{n}"]])

    def set_x(self, n, value):
        if n != 31:
            self.env[OFFSET[f"X{n}"]] = np.uint64(value & 0xFFFF_FFFF_FFFF_FFFF)

    def _el0_timer_allowed(self, name) -> bool:
        kctl = int(self.envi[OFFSET["CNTKCTL_EL1"]])
        if name == "CNTPCT_EL0":
            return bool(kctl & 1)
        if name == "CNTVCT_EL0":
            return bool(kctl & 2)
        if name == "CNTFRQ_EL0":
            return bool(kctl & 3)
        return bool(kctl & (1 << 9)) if name.startswith("CNTP_") else bool(kctl & (1 << 8))

    def _trap_sysreg(self, reg, read):
        op0, op1, crn, crm, op2 = reg.encoding
        word = int(self.envi[OFFSET["EXIT_INFO"]])
        iss = (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | ((word & 31) << 5) \
            | (crm << 1) | (1 if read else 0)
        self.exception(X.EC_SYSREG, iss)

    def read_sysreg(self, reg):
        """Value of a register the translator sent here, or None after raising the guest's
        exception."""
        el = int(self.envi[OFFSET["EL"]])
        name = reg.name
        # the timer outputs are otherwise refreshed between quanta: a guest that polls the
        # counter and then looks at its interrupt state must see them current
        self.timer.update()
        if name.startswith("CNT"):
            if el == 0 and not self._el0_timer_allowed(name):
                self._trap_sysreg(reg, True)
                return None
            return self.timer.read(name)
        if name.startswith("ICC_"):
            if name not in ICC_READABLE:
                self.exception(X.EC_UNKNOWN)
                return None
            return self.gic.cpuif_read(self.index, name)
        if name == "CCSIDR_EL1":
            return CCSIDR.get(int(self.envi[OFFSET["CSSELR_EL1"]]), 0)
        if name == "ISR_EL1":
            return (0x100 if self.envi[OFFSET["SERROR_LINE"]] else 0) \
                | (0x80 if self.envi[OFFSET["IRQ_LINE"]] else 0) \
                | (0x40 if self.envi[OFFSET["FIQ_LINE"]] else 0)
        if reg.store == "env":
            return int(self.env[OFFSET[name]])
        raise RuntimeError(f"read of {name} reached the vCPU")

    def write_sysreg(self, reg, value) -> bool:
        env = self.envi
        name = reg.name
        el = int(env[OFFSET["EL"]])
        if name.startswith("CNT") and name != "CNTKCTL_EL1":
            if el == 0 and not self._el0_timer_allowed(name):
                self._trap_sysreg(reg, False)
                return False
            self.timer.write(name, value)
            return True
        if name.startswith("ICC_"):
            if name not in ICC_WRITABLE:
                self.exception(X.EC_UNKNOWN)
                return False
            self.gic.cpuif_write(self.index, name, value)
            return True
        if name == "OSLAR_EL1":
            oslsr = int(env[OFFSET["OSLSR_EL1"]])
            env[OFFSET["OSLSR_EL1"]] = (oslsr & ~2) | ((value & 1) << 1)
            X.update_ctx(env)
            return True
        if name == "DBGCLAIMCLR_EL1":
            return True
        if reg.store != "env":
            raise RuntimeError(f"write of {name} reached the vCPU")
        old = int(self.env[OFFSET[name]])
        new = (value & reg.wmask) | (REGS[name].reset if name == "SCTLR_EL1" else 0)
        self.env[OFFSET[name]] = np.uint64(new & 0xFFFF_FFFF_FFFF_FFFF)
        if name in ("SCTLR_EL1", "TCR_EL1", "MAIR_EL1") or \
                (name in ("TTBR0_EL1", "TTBR1_EL1") and new != old):
            # the soft TLB is not tagged by ASID or regime: start it afresh
            mmu.flush_all(env)
        if name in ("SCTLR_EL1", "CPACR_EL1", "MDSCR_EL1", "OSDLR_EL1") or name.startswith("DBG"):
            X.update_ctx(env)
        if name == "SCTLR_EL1" and self.log and (old ^ new) & 1:
            self.log("mmu", f"cpu{self.index}: MMU {'on' if new & 1 else 'off'}")
        return True

    def _sys(self, op1, crn, crm, op2, rt):
        env = self.envi
        value = self.x(rt)
        if crn == 7 and crm == 8:                        # AT S1E1R/W, S1E0R/W
            el = 1 if op2 in (0, 1) else 0
            acc = mmu.ACC_WRITE if op2 & 1 else mmu.ACC_READ
            fsc, pa, prot, device, _ = mmu.walk(env, self.phys.mc, _s64(value), el, acc)
            if mmu.FSC_EXTERNAL_WALK <= fsc < mmu.FSC_EXTERNAL_WALK + 4:
                # an external abort on the walk is taken as a Data Abort (CM and WnR set)
                self.exception(X.EC_DABT, fsc | (1 << 8) | (1 << 6), far=value)
                return
            if fsc == mmu.NO_FAULT:
                # ATTR: Device-nGnRnE or Normal write-back; SH: inner shareable for Normal
                attr = 0x00 if device else 0xFF
                self.env[OFFSET["PAR_EL1"]] = np.uint64((pa & ~0xFFF & ((1 << 48) - 1))
                                                        | (attr << 56) | (0 if device else 3 << 7))
            else:
                env[OFFSET["PAR_EL1"]] = 1 | (fsc << 1)
            return
        raise RuntimeError(f"SYS {op1},{crn},{crm},{op2} reached the vCPU")

    def _hint(self, op, pc):
        env = self.envi
        el = int(env[OFFSET["EL"]])
        sctlr = int(env[OFFSET["SCTLR_EL1"]])
        if op == 3:                                       # WFI
            if el == 0 and not sctlr & X.SCTLR_NTWI:
                self.exception(X.EC_WFX, (1 << 24) | (0xE << 20))
                return None
            self.set_pc(pc + 4)
            return None if self.wake_pending() else RunResult.WAIT
        if op == 2:                                       # WFE
            if el == 0 and not sctlr & X.SCTLR_NTWE:
                self.exception(X.EC_WFX, (1 << 24) | (0xE << 20) | 1)
                return None
            self.set_pc(pc + 4)
            if self.event:
                self.event = False
                return None
            self.wfe_since = self.timer.clock.ticks()
            return RunResult.WAIT_EVENT
        self.set_pc(pc + 4)
        if op == 4:                                       # SEV: every vCPU's event register
            for cpu in self.phys.envs_by_addr.values():
                if cpu is not None:
                    cpu.event = True
        elif op == 5:                                     # SEVL
            self.event = True
        return None
