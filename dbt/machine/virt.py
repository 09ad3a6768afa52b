"""The virt board: RAM, GICv3, PL011, generic timers and PSCI around the vCPUs, and the
scheduler that runs every powered-on vCPU round-robin on one host thread.

Every *possible* vCPU (`maxcpus`) exists from creation with its MPIDR and GIC redistributor;
`smp` of them are plugged at boot.  A vCPU in WFI costs no host time: when nothing can run
the host sleeps until the next timer deadline or console input.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..cpu.state import OFFSET
from ..cpu.timer import Clock
from ..cpu.vcpu import VCPU, RunResult
from ..acpi import GED_EVT_CPU_HOTPLUG
from ..gicv3 import GICv3
from ..jit.syscode import SharedCode
from . import psci
from .chardev import CharFrontend, open_chardev
from .cpuhp import CPUHotplugController
from .cpuslots import CPUSlot, mpidr_of, topology_of
from .ged import GenericEventDevice
from .memmap import MAX_CPUS, MEMMAP, RAM_BASE, gicr_frames
from .mainloop import MainLoop
from .memory import PhysicalMemory
from .pl011 import PL011
from .psci import Power

__all__ = ["Machine", "MachineConfig", "mpidr_of"]

QUANTUM = 50_000            # instructions a vCPU runs before the next one gets its turn



@dataclass
class MachineConfig:
    memory: int = 512 << 20
    smp: int = 1
    maxcpus: int = 1
    icount: bool = False
    serial: str = "stdio"
    disk_cache: bool = True
    cpu_model: str = "cortex-a57"

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
        self.log_items = tuple(log_items) if log is not None else ()
        self.phys = PhysicalMemory(RAM_BASE, config.memory)
        self.clock = Clock(config.icount)
        self.slots = [CPUSlot(i, mpidr_of(i), topology=topology_of(i))
                      for i in range(config.maxcpus)]
        self.mpidrs = [s.mpidr for s in self.slots]
        self.gic = GICv3(self.mpidrs)
        gicd, gicr = MEMMAP["gicd"], MEMMAP["gicr"]
        self.phys.map_device(gicd.base, gicd.size, self.gic.distributor)
        self.phys.map_device(gicr.base, gicr_frames(config.maxcpus), self.gic.redistributors)
        self.serial = serial_backend if serial_backend is not None else open_chardev(config.serial)
        uart = MEMMAP["uart"]
        self.uart = PL011(self.serial.write, lambda level: self.gic.set_irq(uart.intid, level))
        self.phys.map_device(uart.base, uart.size, self.uart)
        self.console = CharFrontend(self.serial, self.uart)
        # console input, the monitor and QMP are served between quanta on this thread
        self.loop = MainLoop()
        self.loop.watch(self._input_fileno, self._pump_input)
        self.servers: list = []
        # host-side jobs (an outgoing migration) stepped between quanta: step() returns how
        # long they may wait for the next step, or None when they are done
        self.tasks: list = []
        ged, cpuhp = MEMMAP["ged"], MEMMAP["cpuhp"]
        self.ged = GenericEventDevice(lambda: self._pulse(ged.intid))
        self.phys.map_device(ged.base, ged.size, self.ged)
        self.cpuhp = CPUHotplugController(config.maxcpus, self)
        self.phys.map_device(cpuhp.base, cpuhp.size, self.cpuhp)
        self.code = SharedCode(self.phys, disk_cache=config.disk_cache, clock=self.clock)
        if "in_asm" in self.log_items:
            self.code.log_asm = lambda text: log("in_asm", text)
        for i in range(config.maxcpus):
            self.gic.set_accessible(i, False)
        for i in range(config.smp):
            self.realize(i)
        self._unrealize_pending: list[int] = []
        self.shutdown: str | None = None
        self.shutdown_reason: str | None = None
        self.executed = 0               # guest instructions, all vCPUs, since creation
        self.boot_entry = None          # (pc, x0) of the primary CPU after reset
        from .commands import MachineControl
        self.control = MachineControl(self)

    # -- the host side: console, monitor, QMP -----------------------------------------------
    def _input_fileno(self):
        # the mux reads the terminal even while the UART is full, so C-a still works
        mux_fd = getattr(self.serial, "pump", None) and self.serial.fileno()
        return mux_fd if mux_fd is not None else self.console.fileno()

    def _pump_input(self):
        pump = getattr(self.serial, "pump", None)
        if pump is not None:
            pump()
        self.console.pump()

    def add_qmp(self, spec: str):
        """Serve QMP on spec (unix:PATH[,server,nowait] or tcp:HOST:PORT)."""
        from .qmp import QMPServer
        server = QMPServer(self.loop, self.control, spec)
        self.servers.append(server)
        return server

    def add_monitor(self, spec: str):
        """Serve the human monitor on spec (unix:PATH[,server,nowait] or tcp:HOST:PORT)."""
        from .hmp import MonitorServer
        server = MonitorServer(self.loop, self.control, spec)
        self.servers.append(server)
        return server

    def close(self):
        """Flush and close the monitor and QMP clients, then the serial back end."""
        for server in self.servers:
            server.close()
        self.servers.clear()
        self.loop.close()
        self.serial.close()

    @property
    def cpus(self) -> list:
        """The execution context of every possible CPU, None where the slot is parked."""
        return [s.cpu for s in self.slots]

    def _pulse(self, intid: int):
        self.gic.set_irq(intid, True)
        self.gic.set_irq(intid, False)

    # -- vCPU lifecycle -------------------------------------------------------------------
    def plugged(self, index: int) -> bool:
        return self.slots[index].plugged

    def cpu_by_mpidr(self, mpidr: int):
        """Index of the possible CPU (plugged or not) with this affinity, else None."""
        aff = mpidr & 0xFF_00FF_FFFF
        for s in self.slots:
            if s.mpidr == aff:
                return s.index
        return None

    def realize(self, index: int):
        """Give slot `index` a fresh execution context and connect it to its redistributor
        and CPU interface; it stays powered off until PSCI CPU_ON."""
        slot = self.slots[index]
        assert slot.cpu is None, f"CPU {index} is already plugged"
        cpu = VCPU(index, slot.mpidr, self.phys, self.code, self.clock, self.gic, self._psci)
        cpu.log = self.log
        cpu.trace = "int" in self.log_items
        cpu.single_step = "exec" in self.log_items
        cpu.envi[OFFSET["TRACE"]] = 1 if cpu.trace else 0
        self.gic.irq_out[index] = cpu.set_irq_line
        self.gic.fiq_out[index] = lambda level, c=cpu: c.set_irq_line(level, fiq=True)
        self.gic.redistributors[index].reset()
        slot.cpu = cpu
        slot.power = Power.OFF
        slot.waiting = False
        self.gic.set_accessible(index, True)
        cpu.reset()

    def unrealize(self, index: int):
        """Park slot `index`: disconnect it from the GIC and drop its execution context.
        The context goes at the next scheduling point, never under a running vCPU (a CPU
        may eject itself through the register block)."""
        slot = self.slots[index]
        cpu = slot.cpu
        if cpu is None:
            return
        slot.power = Power.OFF
        slot.waiting = False
        cpu.request_exit()
        self.gic.set_accessible(index, False)
        self.gic.irq_out[index] = self.gic.fiq_out[index] = None
        slot.cpu = None
        self._unrealize_pending.append(cpu)

    def _release_contexts(self):
        for cpu in self._unrealize_pending:
            self.phys.detach(cpu.env)
        self._unrealize_pending.clear()

    # -- the CPU-hotplug register block's board side ---------------------------------------
    def enabled(self, index: int) -> bool:
        return self.slots[index].plugged

    def arch_id(self, index: int) -> int:
        return self.slots[index].mpidr

    def eject(self, index: int):
        """The guest's _EJ0 (CEJ0 written): park the CPU.  Returns why it is refused, or
        None when done."""
        slot = self.slots[index]
        if index == 0:
            return "the boot CPU cannot be ejected"
        if not slot.plugged:
            return "the slot is empty"
        path = slot.qom_path()
        dev_id = slot.dev_id
        self.unrealize(index)
        self.cpuhp.forget(index)
        slot.dev_id = None
        slot.anon = None
        slot.hotplugged = slot.unplug_requested = False
        self.control.emit("DEVICE_DELETED", ({"device": dev_id} if dev_id else {}) | {"path": path})
        return None

    def ost(self, index: int, event: int, status: int):
        slot = self.slots[index]
        info = {"slot": str(index), "slot-type": "CPU", "source": event, "status": status}
        if slot.dev_id is not None:
            info = {"device": slot.dev_id} | info
        self.control.emit("ACPI_DEVICE_OST", {"info": info})

    def hotplug(self, index: int, dev_id: str | None, anon: int | None, cold: bool):
        """device_add (or --device when cold): plug slot `index` and, unless cold, tell the
        guest through the register block and the GED."""
        slot = self.slots[index]
        self.realize(index)
        slot.dev_id, slot.anon = dev_id, anon
        slot.hotplugged = not cold
        slot.unplug_requested = False
        if not cold:
            self.cpuhp.request_insert(index)
            self.ged.raise_event(GED_EVT_CPU_HOTPLUG)

    def unplug_request(self, index: int):
        """device_del: ask the guest to offline and eject the CPU.  Sending it again raises
        the event again (a guest that missed the first, e.g. before it booted, sees it)."""
        slot = self.slots[index]
        slot.unplug_requested = True
        self.cpuhp.request_remove(index)
        self.ged.raise_event(GED_EVT_CPU_HOTPLUG)

    def power_on(self, index: int, entry: int, context_id: int):
        slot = self.slots[index]
        slot.cpu.reset(entry, context_id)
        slot.power = Power.ON
        slot.waiting = False

    def cpu_off(self, cpu):
        slot = self.slots[cpu.index]
        slot.power = Power.OFF
        slot.waiting = False

    def _psci(self, cpu, conduit):
        return psci.call(self, cpu, conduit)

    def request_shutdown(self, why: str, reason: str | None = None):
        """Stop running: why is "poweroff", "quit" or "reset"; reason, QMP's
        ShutdownCause, is announced in a SHUTDOWN (or RESET) event when run() stops."""
        self.shutdown = why
        self.shutdown_reason = reason

    # -- boot -----------------------------------------------------------------------------
    def start(self, entry: int, x0: int = 0):
        """Power on the boot CPU at entry (EL1h, MMU off) with x0; the others stay off."""
        self.boot_entry = (entry, x0)
        self.control.started = True
        for slot in self.slots:
            slot.power = Power.OFF
            slot.waiting = False
        self.power_on(0, entry, x0)

    def reset(self):
        """SYSTEM_RESET: every device and plugged vCPU back to power-on state (hot-plugged
        CPUs stay plugged, as QEMU's devices do); the images the loader placed are written
        again (as QEMU restores its ROM blobs; the rest of RAM is kept); the boot CPU
        restarts at its entry.  A hotplug request the guest had not handled yet is raised
        again so the rebooted guest sees it."""
        for pa, data in self.phys.images:
            self.phys.write(pa, data)
        self.gic.reset()
        self.uart.reset()
        self.ged.reset()
        self.cpuhp.reset()
        for slot in self.slots:
            if slot.cpu is not None:
                self.gic.set_accessible(slot.index, True)
                slot.cpu.reset()
        self.start(*self.boot_entry)
        if any(self.cpuhp.inserting) or any(self.cpuhp.removing):
            self.ged.raise_event(GED_EVT_CPU_HOTPLUG)

    # -- the scheduler --------------------------------------------------------------------
    def run(self, max_instructions: int | None = None, until_idle: bool = False) -> str:
        """Run until the guest powers off (returns "poweroff"), an emulator error, or
        max_instructions in total; with until_idle, also return "idle" instead of waiting
        for input when every vCPU waits for an interrupt no timer will raise."""
        total = 0
        while True:
            ran = False
            if self.control.paused and self.shutdown is None:
                if self.tasks:
                    self.loop.poll(self._run_tasks())
                    continue
                if until_idle:
                    return "idle"
                self.loop.poll(None)
                continue
            for slot in self.slots:
                if self.shutdown is not None:       # quit/reset from the monitor, say
                    break
                cpu = slot.cpu
                if slot.power != Power.ON:
                    continue
                if slot.waiting:
                    if not cpu.wake_pending():
                        continue
                    slot.waiting = False
                if cpu.wfe_since is not None:
                    if not cpu.wfe_ended():
                        continue
                    cpu.end_wfe()
                before = cpu.executed
                result = cpu.run(self._quantum())
                done = cpu.executed - before
                if done:
                    self._end_wfe_waits(slot)
                total += done
                self.executed += done
                if self.clock.icount:
                    self.clock.instructions += done
                ran = True
                if self._unrealize_pending:
                    self._release_contexts()
                if self.phys.error is not None:
                    raise self.phys.error
                if result == RunResult.WAIT and slot.power == Power.ON:
                    slot.waiting = not cpu.wake_pending()
                elif result == RunResult.STOP:
                    break
                self._tick()
            if self.shutdown == "reset":
                self.shutdown = None
                if self.shutdown_reason:
                    self.control.emit("RESET", {"guest": True, "reason": "guest-reset"})
                self.reset()
                continue
            if self.shutdown is not None:
                if self.shutdown_reason:
                    self.control.emit("SHUTDOWN", {"guest": self.shutdown == "poweroff",
                                                   "reason": self.shutdown_reason})
                    self.shutdown_reason = None
                return self.shutdown
            delay = self._run_tasks()
            if max_instructions is not None and total >= max_instructions:
                return "limit"
            self.loop.poll(0)
            self.console.pump()
            self._tick()
            if self.control.paused:
                continue
            if not ran and not self._any_runnable():
                if not any(s.power == Power.ON for s in self.slots) and not self.servers:
                    return "halted"
                if until_idle and self._next_deadline() is None and not self.tasks:
                    return "idle"
                self._idle(delay)

    def _running(self):
        return [s.cpu for s in self.slots if s.power == Power.ON]

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
        for cpu in self._running():
            cpu.timer.update()

    def _any_runnable(self) -> bool:
        return any(s.power == Power.ON and (not s.waiting or s.cpu.wake_pending())
                   and (s.cpu.wfe_since is None or s.cpu.wfe_ended()) for s in self.slots)

    def _end_wfe_waits(self, ran):
        """A vCPU ran: its stores may have cleared another's exclusive monitor, which ends
        that one's WFE (a spurious end is allowed; a missed one is not)."""
        for slot in self.slots:
            if slot is not ran and slot.cpu is not None and slot.cpu.wfe_since is not None:
                slot.cpu.end_wfe()

    def _next_deadline(self):
        """The counter value of the next timer output or WFE event-stream event."""
        best = None
        for cpu in self._running():
            for d in (cpu.timer.next_deadline(), None if cpu.wfe_since is None
                      else cpu.timer.event_stream_after(cpu.wfe_since)):
                if d is not None and (best is None or d < best):
                    best = d
        return best

    def _run_tasks(self):
        """Step every host-side job; the shortest wait any of them asks for, or None."""
        delay = None
        for task in list(self.tasks):
            d = task.step()
            if d is not None:
                delay = d if delay is None else min(delay, d)
        return delay

    def _idle(self, task_delay=None):
        """Every powered-on vCPU waits: sleep until the next timer deadline or input (or
        the next step of a host-side job)."""
        deadline = self._next_deadline()
        if self.clock.icount:
            if deadline is not None:
                self.clock.skip_to(deadline)
            elif task_delay is not None:
                self.loop.poll(task_delay)
            else:
                self._wait_input(None)
            return
        timeout = None if deadline is None else self.clock.ns_until(deadline) / 1e9
        if task_delay is not None:
            timeout = task_delay if timeout is None else min(timeout, task_delay)
        self._wait_input(timeout)

    def _wait_input(self, timeout):
        if timeout is None and self.console.fileno() is None and not self.servers:
            raise RuntimeError("every vCPU waits for an interrupt that can never come")
        self.loop.poll(timeout)
