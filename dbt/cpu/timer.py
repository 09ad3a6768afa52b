"""The generic timer of one vCPU: the EL1 physical and virtual timers over the system counter.

The counter comes from a `Clock` shared by the machine: host time by default, or with
--icount a virtual time that advances with the instructions executed (and jumps to the next
deadline when every vCPU waits), which makes a run bit-for-bit repeatable.  CNTVOFF is 0 (no
EL2), so CNTVCT equals CNTPCT.

Timer registers live in the vCPU's env (CNTx_CTL_EL0 holds ENABLE and IMASK; ISTATUS is
computed; CNTx_CVAL_EL0 the compare value), so a snapshot of the env carries them.
"""
import time

from ..machine.memmap import CNTFRQ, PPI_PTIMER, PPI_VTIMER
from .state import OFFSET

CTL_ENABLE, CTL_IMASK, CTL_ISTATUS = 1, 2, 4
KCTL_EVNTEN, KCTL_EVNTDIR = 1 << 2, 1 << 3
NS_PER_INSN = 1          # --icount: one instruction is one nanosecond of guest time


class Clock:
    """The system counter (CNTFRQ ticks).  With icount, guest time is instructions x
    NS_PER_INSN plus the time skipped while every vCPU waited."""

    def __init__(self, icount: bool = False):
        self.icount = icount
        self.instructions = 0        # retired by all vCPUs (icount)
        self.skipped_ns = 0          # icount: idle time jumped over
        self.t0 = time.monotonic_ns()
        self.paused_at = None        # host time: the clock stands still while code compiles

    def ns(self) -> int:
        if self.icount:
            return self.instructions * NS_PER_INSN + self.skipped_ns
        now = self.paused_at if self.paused_at is not None else time.monotonic_ns()
        return now - self.t0

    def pause(self):
        """Stop guest time (host-time mode) while the emulator does work the guest must not
        see as its own time passing: translating code.  Otherwise a first boot, which
        compiles for minutes, looks to the guest like CPUs stuck for minutes."""
        if not self.icount and self.paused_at is None:
            self.paused_at = time.monotonic_ns()

    def resume(self):
        if self.paused_at is not None:
            self.t0 += time.monotonic_ns() - self.paused_at
            self.paused_at = None

    def ticks(self) -> int:
        return self.ns() * CNTFRQ // 1_000_000_000

    def ns_until(self, ticks: int) -> int:
        """Guest nanoseconds until the counter reaches ticks (0 if already there)."""
        target_ns = -(-ticks * 1_000_000_000 // CNTFRQ)
        return max(0, target_ns - self.ns())

    def skip_to(self, ticks: int):
        """icount: every vCPU waits; jump guest time forward to ticks."""
        gap = self.ns_until(ticks)
        self.skipped_ns += gap


TIMERS = (("P", PPI_PTIMER), ("V", PPI_VTIMER))


class GenericTimer:
    def __init__(self, env, clock: Clock, set_ppi):
        """set_ppi(intid, level): the timer outputs into the GIC."""
        self.env = env
        self.clock = clock
        self.set_ppi = set_ppi
        self.levels = {"P": False, "V": False}

    def _ctl(self, t):
        return int(self.env[OFFSET[f"CNT{t}_CTL_EL0"]])

    def _cval(self, t):
        return int(self.env[OFFSET[f"CNT{t}_CVAL_EL0"]])

    def istatus(self, t, now=None) -> bool:
        now = self.clock.ticks() if now is None else now
        # an unsigned comparison: Linux parks CVAL at ~0 to mean "never"
        return bool(self._ctl(t) & CTL_ENABLE) and now >= self._cval(t)

    def read(self, name: str) -> int:
        now = self.clock.ticks()
        if name in ("CNTPCT_EL0", "CNTVCT_EL0"):
            return now
        if name == "CNTFRQ_EL0":
            return CNTFRQ
        t, reg = name[3], name[5:-4]
        if reg == "CTL":
            return self._ctl(t) | (CTL_ISTATUS if self.istatus(t, now) else 0)
        if reg == "CVAL":
            return self._cval(t)
        # TVAL: the signed 32-bit distance to CVAL
        return (self._cval(t) - now) & 0xFFFF_FFFF

    def write(self, name: str, value: int):
        t, reg = name[3], name[5:-4]
        if reg == "CTL":
            self.env[OFFSET[f"CNT{t}_CTL_EL0"]] = value & (CTL_ENABLE | CTL_IMASK)
        elif reg == "CVAL":
            self.env[OFFSET[f"CNT{t}_CVAL_EL0"]] = value & 0xFFFF_FFFF_FFFF_FFFF
        else:
            tval = value & 0xFFFF_FFFF
            if tval & 0x8000_0000:
                tval -= 1 << 32
            self.env[OFFSET[f"CNT{t}_CVAL_EL0"]] = (self.clock.ticks() + tval) & 0xFFFF_FFFF_FFFF_FFFF
        self.update()

    def update(self):
        """Recompute the interrupt outputs (ISTATUS and not IMASK) and drive the PPIs."""
        now = self.clock.ticks()
        for t, ppi in TIMERS:
            level = self.istatus(t, now) and not (self._ctl(t) & CTL_IMASK)
            if level != self.levels[t]:
                self.levels[t] = level
                self.set_ppi(ppi, level)

    def next_deadline(self):
        """Counter value at which an output will rise, or None."""
        best = None
        for t, _ in TIMERS:
            ctl = self._ctl(t)
            if ctl & CTL_ENABLE and not ctl & CTL_IMASK and not self.levels[t]:
                cval = self._cval(t)
                best = cval if best is None else min(best, cval)
        return best

    def event_stream_after(self, start: int):
        """The counter value of the first event-stream event after start, or None when
        CNTKCTL_EL1.EVNTEN is clear: an event is a transition of counter bit EVNTI, 0 to 1
        (or 1 to 0 with EVNTDIR)."""
        kctl = int(self.env[OFFSET["CNTKCTL_EL1"]])
        if not kctl & KCTL_EVNTEN:
            return None
        bit = (kctl >> 4) & 0xF
        period = 1 << (bit + 1)
        at = start - start % period + (0 if kctl & KCTL_EVNTDIR else 1 << bit)
        return at if at > start else at + period

    def reset(self):
        for t, _ in TIMERS:
            self.env[OFFSET[f"CNT{t}_CTL_EL0"]] = 0
        self.update()
