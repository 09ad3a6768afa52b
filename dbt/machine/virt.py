"""The virt board: RAM, GICv3, PL011, generic timers and PSCI around the vCPUs, and the
scheduler that runs every powered-on vCPU round-robin on one host thread.

Every *possible* vCPU (`maxcpus`) exists from creation with its MPIDR and GIC redistributor;
`smp` of them are plugged at boot.  A vCPU in WFI costs no host time: when nothing can run
the host sleeps until the next timer deadline or console input.
"""
from __future__ import annotations

import select
import time
from dataclasses import dataclass

from ..cpu.state import OFFSET
from ..cpu.timer import Clock
from ..cpu.vcpu import VCPU, RunResult
from ..gicv3 import GICv3
from ..jit.syscode import SharedCode
from . import psci
from .chardev import CharFrontend, open_chardev
from .memmap import MAX_CPUS, MEMMAP, RAM_BASE, gicr_frames
from .memory import PhysicalMemory
from .pl011 import PL011
from .psci import Power

QUANTUM = 50_000            # instructions a vCPU runs before the next one gets its turn
CLUSTER_SIZE = 16           # GICv3 affinity: Aff0 holds 16 CPUs


def mpidr_of(index: int) -> int:
    """MPIDR affinity of possible CPU `index` (Aff1 = cluster, Aff0 = CPU in cluster)."""
    return ((index // CLUSTER_SIZE) << 8) | (index % CLUSTER_SIZE)


@dataclass
class MachineConfig:
    memory: int = 512 << 20
    smp: int = 1
    maxcpus: int = 1
    icount: bool = False
    serial: str = "stdio"
    disk_cache: bool = True

    def check(self):
        if not 1 <= self.smp <= self.maxcpus:
            raise ValueError(f"--smp {self.smp} must be between 1 and --maxcpus {self.maxcpus}")
        if self.maxcpus > MAX_CPUS:
            raise ValueError(f"--maxcpus {self.maxcpus} is above this board's limit of {MAX_CPUS}")
        if self.memory < (16 << 20) or self.memory % 4096:
            raise ValueError("--memory must be at least 16M and a multiple of 4K")


class Machine:
    def __init__(self, config: MachineConfig, serial_backend=None, log=None, log_items=()):
        """log(category, text) receives the -d categories named in log_items."""
        config.check()
        self.config = config
        self.log = log
        self.phys = PhysicalMemory(RAM_BASE, config.memory)
        self.clock = Clock(config.icount)
        self.mpidrs = [mpidr_of(i) for i in range(config.maxcpus)]
        self.gic = GICv3(self.mpidrs)
        gicd, gicr = MEMMAP["gicd"], MEMMAP["gicr"]
        self.phys.map_device(gicd.base, gicd.size, self.gic.distributor)
        self.phys.map_device(gicr.base, gicr_frames(config.maxcpus), self.gic.redistributors)
        self.serial = serial_backend if serial_backend is not None else open_chardev(config.serial)
        uart = MEMMAP["uart"]
        self.uart = PL011(self.serial.write, lambda level: self.gic.set_irq(uart.intid, level))
        self.phys.map_device(uart.base, uart.size, self.uart)
        self.console = CharFrontend(self.serial, self.uart)
        self.code = SharedCode(self.phys, disk_cache=config.disk_cache, clock=self.clock)
        self.cpus = [VCPU(i, self.mpidrs[i], self.phys, self.code, self.clock, self.gic,
                          self._psci) for i in range(config.maxcpus)]
        items = log_items if log is not None else ()
        if "in_asm" in items:
            self.code.log_asm = lambda text: log("in_asm", text)
        for cpu in self.cpus:
            cpu.log = log
            cpu.trace = "int" in items
            cpu.single_step = "exec" in items
            cpu.envi[OFFSET["TRACE"]] = 1 if cpu.trace else 0
            self.gic.irq_out[cpu.index] = cpu.set_irq_line
            self.gic.fiq_out[cpu.index] = lambda level, c=cpu: c.set_irq_line(level, fiq=True)
        self._plugged = [i < config.smp for i in range(config.maxcpus)]
        for i in range(config.maxcpus):
            self.gic.set_accessible(i, self._plugged[i])
        self.power = [Power.OFF] * config.maxcpus
        self.waiting = [False] * config.maxcpus
        self.shutdown: str | None = None
        self.boot_entry = None          # (pc, x0) of the primary CPU after reset

    # -- vCPU lifecycle -------------------------------------------------------------------
    def plugged(self, index: int) -> bool:
        return self._plugged[index]

    def cpu_by_mpidr(self, mpidr: int):
        aff = mpidr & 0xFF_00FF_FFFF
        for i, m in enumerate(self.mpidrs):
            if m == aff:
                return i
        return None

    def power_on(self, index: int, entry: int, context_id: int):
        cpu = self.cpus[index]
        cpu.reset(entry, context_id)
        self.power[index] = Power.ON
        self.waiting[index] = False

    def cpu_off(self, cpu):
        self.power[cpu.index] = Power.OFF
        self.waiting[cpu.index] = False

    def _psci(self, cpu, conduit):
        return psci.call(self, cpu, conduit)

    def request_shutdown(self, why: str):
        self.shutdown = why

    # -- boot -----------------------------------------------------------------------------
    def start(self, entry: int, x0: int = 0):
        """Power on the boot CPU at entry (EL1h, MMU off) with x0; the others stay off."""
        self.boot_entry = (entry, x0)
        for i in range(len(self.cpus)):
            self.power[i] = Power.OFF
        self.power_on(0, entry, x0)

    def reset(self):
        """SYSTEM_RESET: every device and vCPU back to power-on state; the images the loader
        placed are written again (as QEMU restores its ROM blobs; the rest of RAM is kept);
        the boot CPU restarts at its entry."""
        for pa, data in self.phys.images:
            self.phys.write(pa, data)
        self.gic.reset()
        self.uart.reset()
        for cpu in self.cpus:
            cpu.reset()
        self.start(*self.boot_entry)

    # -- the scheduler --------------------------------------------------------------------
    def run(self, max_instructions: int | None = None) -> str:
        """Run until the guest powers off (returns "poweroff"), an emulator error, or
        max_instructions in total."""
        total = 0
        while True:
            ran = False
            for cpu in self.cpus:
                i = cpu.index
                if self.power[i] != Power.ON:
                    continue
                if self.waiting[i]:
                    if not cpu.wake_pending():
                        continue
                    self.waiting[i] = False
                before = cpu.executed
                result = cpu.run(self._quantum())
                done = cpu.executed - before
                total += done
                if self.clock.icount:
                    self.clock.instructions += done
                ran = True
                if self.phys.error is not None:
                    raise self.phys.error
                if result == RunResult.WAIT:
                    self.waiting[i] = not cpu.wake_pending()
                elif result == RunResult.STOP:
                    break
                self._tick()
            if self.shutdown == "reset":
                self.shutdown = None
                self.reset()
                continue
            if self.shutdown is not None:
                return self.shutdown
            if max_instructions is not None and total >= max_instructions:
                return "limit"
            self.console.pump()
            self._tick()
            if not ran and not self._any_runnable():
                if not any(p == Power.ON for p in self.power):
                    return "halted"
                self._idle()

    def _quantum(self) -> int:
        if not self.clock.icount:
            return QUANTUM
        deadline = self._next_deadline()
        if deadline is None:
            return QUANTUM
        # stop exactly at the deadline so the interrupt arrives at the same instruction
        # every run
        return max(1, min(QUANTUM, self.clock.ns_until(deadline)))

    def _tick(self):
        for cpu in self.cpus:
            if self.power[cpu.index] == Power.ON:
                cpu.timer.update()

    def _any_runnable(self) -> bool:
        return any(self.power[i] == Power.ON and (not self.waiting[i] or c.wake_pending())
                   for i, c in enumerate(self.cpus))

    def _next_deadline(self):
        best = None
        for cpu in self.cpus:
            if self.power[cpu.index] == Power.ON:
                d = cpu.timer.next_deadline()
                if d is not None and (best is None or d < best):
                    best = d
        return best

    def _idle(self):
        """Every powered-on vCPU waits: sleep until the next timer deadline or input."""
        deadline = self._next_deadline()
        if self.clock.icount:
            if deadline is not None:
                self.clock.skip_to(deadline)
            else:
                self._wait_input(None)
            return
        timeout = None if deadline is None else self.clock.ns_until(deadline) / 1e9
        self._wait_input(timeout)

    def _wait_input(self, timeout):
        fd = self.console.fileno()
        if fd is None:
            if timeout is None:
                raise RuntimeError("every vCPU waits for an interrupt that can never come")
            time.sleep(timeout)
            return
        select.select([fd], [], [], timeout)
