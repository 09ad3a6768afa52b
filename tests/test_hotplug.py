"""vCPU hotplug on the board: the CPU-hotplug register block and the GED against
reference/HOTPLUG_PROTOCOL.md section 1, the slot lifecycle, and the bare-metal hotplug
guest (tests/guests/hotplug.c) driven in-process, over QMP with the `qemu.qmp` client (Kata's
sequence) and over the human monitor, from a real `dbt-vm boot` process.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import threading
import tracemalloc

import pytest

from dbt.machine import cpuhp
from dbt.machine.boot import boot
from dbt.machine.chardev import MemoryBackend
from dbt.machine.control import CommandError
from dbt.machine.ged import GenericEventDevice
from dbt.machine.virt import Machine, MachineConfig
from guests.build import CC, HOTPLUG, HOTPLUG_MAXCPUS, MEMORY, build_guest
from support import watch_events

CPU = "cortex-a57-arm-cpu"
MiB = 1 << 20
needs_cc = pytest.mark.skipif(CC is None, reason="aarch64-linux-gnu-gcc is not installed")


# -- the register block and the GED, against the protocol -----------------------------------

class Board:
    def __init__(self, n, enabled=(0,)):
        self.on = set(enabled)
        self.ejected, self.osts = [], []

    def enabled(self, i):
        return i in self.on

    def arch_id(self, i):
        return 0x1_0000_0000 * (i + 1) + i          # high word too, to see both halves

    def eject(self, i):
        if i == 0:
            return "boot CPU"
        if i not in self.on:
            return "empty"
        self.on.discard(i)
        self.ejected.append(i)
        return None

    def ost(self, i, event, status):
        self.osts.append((i, event, status))


def test_register_block_reads_and_selector_validity():
    board = Board(4, enabled=(0, 1))
    dev = cpuhp.CPUHotplugController(4, board)
    for i, want in enumerate((1, 1, 0, 0)):
        dev.write(cpuhp.SELECTOR, 4, i)
        assert dev.read(cpuhp.FLAGS, 1) == want
    # command 3: arch id, low word at DATA, high word at offset 0
    dev.write(cpuhp.SELECTOR, 4, 2)
    dev.write(cpuhp.COMMAND, 1, cpuhp.CMD_GET_CPU_ID)
    assert dev.read(cpuhp.DATA, 4) == 2 and dev.read(cpuhp.SELECTOR, 4) == 3
    # command 0 with nothing pending: selector stays, data reads it, data2 reads 0
    dev.write(cpuhp.COMMAND, 1, cpuhp.CMD_GET_NEXT_CPU_WITH_EVENT)
    assert dev.read(cpuhp.DATA, 4) == 2 and dev.read(cpuhp.SELECTOR, 4) == 0
    # a command past the last one is ignored
    dev.write(cpuhp.COMMAND, 1, 7)
    assert dev.command == cpuhp.CMD_GET_NEXT_CPU_WITH_EVENT
    # an invalid selector: every read 0, every other write dropped
    dev.request_insert(1)
    dev.write(cpuhp.SELECTOR, 4, 4)
    assert [dev.read(o, 4) for o in (0, 4, 5, 8)] == [0, 0, 0, 0]
    dev.write(cpuhp.FLAGS, 1, cpuhp.CLEAR_CINS)
    dev.write(cpuhp.COMMAND, 1, cpuhp.CMD_GET_CPU_ID)
    assert dev.inserting[1] and dev.command == cpuhp.CMD_GET_NEXT_CPU_WITH_EVENT


def test_register_block_events_search_wraps_and_one_action_per_write():
    board = Board(4, enabled=(0, 1, 2, 3))
    dev = cpuhp.CPUHotplugController(4, board)
    dev.request_insert(1)
    dev.request_remove(3)
    dev.write(cpuhp.SELECTOR, 4, 2)                 # the search starts AT the selector
    dev.write(cpuhp.COMMAND, 1, 0)
    assert dev.read(cpuhp.DATA, 4) == 3
    assert dev.read(cpuhp.FLAGS, 1) == cpuhp.CPEN | cpuhp.CRMV
    dev.write(cpuhp.FLAGS, 1, cpuhp.CLEAR_CRMV)
    dev.write(cpuhp.COMMAND, 1, 0)                  # wraps around to CPU 1
    assert dev.read(cpuhp.DATA, 4) == 1
    # several bits in one write: only the lowest acts (CINS clear, not the eject)
    dev.write(cpuhp.FLAGS, 1, cpuhp.CLEAR_CINS | cpuhp.CEJ0)
    assert not dev.inserting[1] and board.ejected == []
    dev.write(cpuhp.FLAGS, 1, cpuhp.CEJ0)
    assert board.ejected == [1]
    # refusals: the boot CPU and an empty slot
    for i in (0, 1):
        dev.write(cpuhp.SELECTOR, 4, i)
        dev.write(cpuhp.FLAGS, 1, cpuhp.CEJ0)
    assert board.ejected == [1] and dev.refused == 2
    # OST: event then status; the status write reports both
    dev.write(cpuhp.SELECTOR, 4, 2)
    dev.write(cpuhp.COMMAND, 1, cpuhp.CMD_OST_EVENT)
    dev.write(cpuhp.DATA, 4, 3)
    dev.write(cpuhp.COMMAND, 1, cpuhp.CMD_OST_STATUS)
    dev.write(cpuhp.DATA, 4, 0x84)
    assert board.osts == [(2, 3, 0x84)]


def test_ged_latches_events_until_read_and_clears_on_read():
    pulses = []
    ged = GenericEventDevice(lambda: pulses.append(1))
    ged.raise_event(0x8)
    ged.raise_event(0x2)
    assert len(pulses) == 2
    assert ged.read(0, 1) == 0 and ged.read(0, 2) == 0     # only 32-bit reads
    ged.write(0, 4, 0xffffffff)                             # writes are ignored
    assert ged.read(0, 4) == 0xA
    assert ged.read(0, 4) == 0


# -- the machine: lifecycle, commands, refusals --------------------------------------------

def machine(smp=2, maxcpus=4, **kw):
    return Machine(MachineConfig(memory=64 * MiB, smp=smp, maxcpus=maxcpus, **kw),
                   serial_backend=MemoryBackend())


def state(m):
    return ([s.state for s in m.slots], m.control.query_hotpluggable_cpus(),
            m.control.query_cpus_fast(), list(m.cpuhp.inserting), list(m.cpuhp.removing),
            m.ged.sel)


@pytest.mark.parametrize("options, error", [
    ({"driver": CPU, "id": "c9", "core-id": 4}, "Invalid core-id 4 specified, must be in range 0:3"),
    ({"driver": CPU, "id": "c9", "core-id": -1}, "Invalid core-id -1 specified"),
    ({"driver": CPU, "id": "c9", "core-id": 2, "socket-id": 1}, "Invalid socket-id 1"),
    ({"driver": CPU, "id": "c9", "core-id": 1}, "with arch-id 0x1 exists"),
    ({"driver": CPU, "id": "c9"}, "CPU core-id is not set"),
    ({"driver": CPU, "id": "c9", "core-id": "2"}, "Invalid parameter type for 'core-id'"),
    ({"driver": CPU, "id": "c9", "core-id": 2, "foo": 1}, f"Property '{CPU}.foo' not found"),
    ({"driver": "max-arm-cpu", "id": "c9", "core-id": 2}, "Invalid CPU type, expected cpu type"),
    ({"driver": "e1000", "id": "c9", "core-id": 2}, "'e1000' is not a valid device model name"),
    ({"driver": CPU, "id": "9x", "core-id": 2}, "Parameter 'id' expects an identifier"),
    ({"driver": CPU, "id": "first", "core-id": 3}, "Duplicate device ID 'first'"),
    ({"id": "c9", "core-id": 2}, "Parameter 'driver' is missing"),
])
def test_bad_device_add_changes_nothing(options, error):
    m = machine()
    m.control.device_add({"driver": CPU, "id": "first", "core-id": 2})
    before = state(m)
    with pytest.raises(CommandError) as e:
        m.control.device_add(options)
    assert error in e.value.desc
    assert state(m) == before


def test_bad_device_del_changes_nothing():
    m = machine()
    before = state(m)
    with pytest.raises(CommandError) as e:
        m.control.device_del("nobody")
    assert e.value.cls == "DeviceNotFound" and e.value.desc == "Device 'nobody' not found"
    with pytest.raises(CommandError) as e:
        m.control.device_del("/machine/unattached/device[0]")
    assert "Boot CPU" in e.value.desc
    m.control.migrating = True
    for call in (lambda: m.control.device_add({"driver": CPU, "id": "x", "core-id": 2}),
                 lambda: m.control.device_del("/machine/unattached/device[1]")):
        with pytest.raises(CommandError, match="not allowed while migrating"):
            call()
    assert state(m) == before


def test_hmp_syntax_values_are_parsed_by_property_type():
    m = machine()
    m.control.device_add({"driver": CPU, "id": "c3", "core-id": "0x3"}, typed=False)
    assert m.slots[3].state == "plugged" and m.slots[3].dev_id == "c3"
    with pytest.raises(CommandError, match="expects int32"):
        m.control.device_add({"driver": CPU, "id": "c2", "core-id": "two"}, typed=False)


def test_unplug_request_is_latched_and_resendable_before_the_guest_boots():
    m = machine()
    m.control.device_del("/machine/unattached/device[1]")
    assert m.cpuhp.removing[1] and m.ged.sel == 0x8
    m.ged.read(0, 4)                                    # the guest "missed" it
    m.control.device_del("/machine/unattached/device[1]")  # sending again is no error
    assert m.cpuhp.removing[1] and m.ged.sel == 0x8
    assert m.slots[1].state == "plugged"                # only the guest's eject completes it
    # a reset keeps the request and raises the event again for the rebooted guest
    m.start(0x4008_0000)
    m.ged.read(0, 4)
    m.reset()
    assert m.cpuhp.removing[1] and m.ged.sel == 0x8


def test_parked_cpu_is_refused_by_psci_and_its_redistributor_answers():
    from dbt.machine import psci
    m = machine()
    assert psci.cpu_on(m, m.slots[3].mpidr, 0x4008_0000, 0) == psci.DENIED
    assert psci.cpu_on(m, m.slots[1].mpidr, 0x4008_0000, 0) == psci.SUCCESS
    assert psci.cpu_on(m, m.slots[1].mpidr, 0x4008_0000, 0) == psci.ALREADY_ON
    # GICR_TYPER of the parked CPU's frame: affinity 3, processor number 3, Last
    typer = m.gic.redistributors.read(3 * 0x20000 + 8, 8)
    assert typer >> 32 == 3 and (typer >> 8) & 0xFFFF == 3 and typer & (1 << 4)


def _eject(m, index):
    m.cpuhp.write(cpuhp.SELECTOR, 4, index)
    m.cpuhp.write(cpuhp.FLAGS, 1, cpuhp.CEJ0)
    m._release_contexts()


def test_1000_plug_unplug_cycles_do_not_grow():
    m = machine(smp=1, maxcpus=2)
    deleted = {"count": 0, "last": None}

    def on_event(name, data):
        if name == "DEVICE_DELETED":
            deleted["count"] += 1
            deleted["last"] = data
    m.control.listeners.append(on_event)

    def cycle():
        m.control.device_add({"driver": CPU, "id": "hot", "core-id": 1})
        m.power_on(1, 0x4008_0000, 0)
        m.control.device_del("hot")
        _eject(m, 1)

    threads = threading.active_count()
    tracemalloc.start()                 # numpy's arrays are traced too
    for _ in range(20):                 # warm up caches, free lists and tracemalloc itself
        cycle()
    gc.collect()
    base = tracemalloc.take_snapshot()
    for _ in range(1000):
        cycle()
    gc.collect()
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename"))
    tracemalloc.stop()
    assert deleted == {"count": 1020,
                       "last": {"device": "hot", "path": "/machine/peripheral/hot"}}
    assert m.slots[1].state == "parked" and len(m.phys.envs) == 1
    assert threading.active_count() == threads
    from dbt.cpu.vcpu import VCPU
    assert sum(isinstance(o, VCPU) for o in gc.get_objects()) == 1
    # one VCPU with its env is ~70 KB: a leak of one per cycle would be ~70 MB
    assert grown < 64 * 1024, f"{grown} bytes more after 1000 cycles"


# -- the hotplug guest ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    return build_guest(HOTPLUG.name, tmp_path_factory.mktemp("hotplug"))


EXPECTED = """\
boot: cpu0=1 cpu1=1 cpu2=0 cpu3=0
cpu0 arch id 0x0
cpu1 arch id 0x1
cpu2 arch id 0x2
cpu3 arch id 0x3
selector 4: flags 0 data 0 data2 0
command 0 without events: selector stays 1
after refused ejects: cpu0=1 cpu1=1 cpu2=0 cpu3=0
CPU_ON parked cpu2: -3
cpu1 up: MPIDR 0x1, entry x0 1
waiting: plug
inserted cpu2: CPU_ON 0, MPIDR 0x2, entry x0 2, DAIF 0x3c0, SCTLR.M 0, running
inserted cpu3: CPU_ON 0, MPIDR 0x3, entry x0 3, DAIF 0x3c0, SCTLR.M 0, running
plug: cpu0=1 cpu1=1 cpu2=1 cpu3=1
plug: GED interrupts 1
waiting: unplug
removed cpu1: AFFINITY_INFO 1 after CPU_OFF, flags after eject 0
removed cpu2: AFFINITY_INFO 1 after CPU_OFF, flags after eject 0
unplug: cpu0=1 cpu1=0 cpu2=0 cpu3=1
unplug: GED interrupts 1
CPU_ON ejected cpu2: -3
waiting: replug
inserted cpu2: CPU_ON 0, MPIDR 0x2, entry x0 2, DAIF 0x3c0, SCTLR.M 0, running
replug: cpu0=1 cpu1=0 cpu2=1 cpu3=1
replug: GED interrupts 1
end: cpu0=1 cpu1=0 cpu2=0 cpu3=0
PASS
"""


@needs_cc
def test_hotplug_guest_in_process(guest):
    """With --icount every change lands at the same instruction each run: both CPUs of a
    phase are changed before the guest looks, and one GED interrupt covers them."""
    m = Machine(MachineConfig(memory=256 * MiB, smp=HOTPLUG.smp, maxcpus=HOTPLUG_MAXCPUS,
                              icount=True), serial_backend=MemoryBackend())
    events = []
    m.control.listeners.append(lambda name, data: events.append((name, data)))
    boot(m, guest.read_bytes())
    actions = {
        b"waiting: plug\r\n": [("add", {"driver": CPU, "id": "cpu2", "core-id": 2}),
                               ("add", {"driver": CPU, "core-id": 3})],
        b"waiting: unplug\r\n": [("del", "cpu2"), ("del", "/machine/unattached/device[1]")],
        b"waiting: replug\r\n": [("add", {"driver": CPU, "id": "again", "core-id": 2})],
    }
    out = b""
    while True:
        why = m.run(max_instructions=200_000, until_idle=True)
        out += m.serial.take_output()
        for cue in [c for c in actions if c in out]:
            for verb, arg in actions.pop(cue):
                m.control.device_add(arg) if verb == "add" else m.control.device_del(arg)
        if why not in ("limit", "idle"):
            break
    assert why == "poweroff"
    assert out.decode().replace("\r\n", "\n") == EXPECTED
    assert events == [
        ("ACPI_DEVICE_OST", {"info": {"device": "cpu2", "slot": "2", "slot-type": "CPU",
                                      "source": 1, "status": 0}}),
        ("DEVICE_DELETED", {"path": "/machine/unattached/device[1]"}),
        ("DEVICE_DELETED", {"device": "cpu2", "path": "/machine/peripheral/cpu2"}),
        ("DEVICE_DELETED", {"device": "again", "path": "/machine/peripheral/again"}),
        ("DEVICE_DELETED", {"path": "/machine/peripheral-anon/device[0]"}),
        ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}),
    ]


def _lines_of(text: str, prefix: str):
    return [line for line in text.splitlines() if line.startswith(prefix)]


@needs_cc
def test_hotplug_guest_over_qmp_and_monitor(guest, tmp_path):
    """A real dbt-vm process in host time: Kata's sequence over QMP (query-hotpluggable-cpus,
    device_add with driver/id/core-id only, device_del waiting for DEVICE_DELETED), bad
    commands refused without effect, and the re-plug through the human monitor."""
    from qemu.qmp import QMPClient, ExecuteError
    qmp_path, hmp_path = tmp_path / "qmp.sock", tmp_path / "hmp.sock"
    logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)     # connect retries are noisy

    async def scenario():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dbt.cli", "boot", "--kernel", str(guest),
            "--smp", str(HOTPLUG.smp), "--maxcpus", str(HOTPLUG_MAXCPUS), "--memory", MEMORY,
            "--serial", "stdio", "--qmp", f"unix:{qmp_path},server,nowait",
            "--monitor", f"unix:{hmp_path},server,nowait",
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        qmp = QMPClient("kata")
        for _ in range(600):
            try:
                await qmp.connect(str(qmp_path))
                break
            except Exception:
                await asyncio.sleep(0.1)
        deleted, listener = watch_events(qmp, "DEVICE_DELETED")
        out, added, log = b"", [], []

        async def hotplug_two():
            # Kata: free slots from query-hotpluggable-cpus, ids cpu-<k>, core-id only
            slots = await qmp.execute("query-hotpluggable-cpus")
            free = [s for s in slots if "qom-path" not in s]
            for k, s in enumerate(sorted(free, key=lambda s: s["props"]["core-id"])[:2]):
                await qmp.execute("device_add", {"driver": s["type"], "id": f"cpu-{k}",
                                                 "core-id": s["props"]["core-id"]})
                added.append(f"cpu-{k}")
            before = await qmp.execute("query-hotpluggable-cpus")
            for args in ({"driver": CPU, "id": "cpu-0", "core-id": 1},
                         {"driver": CPU, "id": "x", "core-id": 2},
                         {"driver": CPU, "id": "x", "core-id": 8},
                         {"driver": "max-arm-cpu", "id": "x", "core-id": 3},
                         {"driver": CPU, "id": "x", "core-id": "3"}):
                with pytest.raises(ExecuteError) as e:
                    await qmp.execute("device_add", args)
                log.append(e.value.error.error.desc)
            with pytest.raises(ExecuteError):
                await qmp.execute("device_del", {"id": "/machine/unattached/device[0]"})
            assert await qmp.execute("query-hotpluggable-cpus") == before

        async def unplug_two():
            # Kata removes its newest CPU first; a cold-booted CPU goes by its QOM path
            for dev in ("cpu-0", "/machine/unattached/device[1]"):
                await qmp.execute("device_del", {"id": dev})
            got = [await asyncio.wait_for(deleted.get(), 60) for _ in range(2)]
            assert sorted(got, key=str) == sorted(
                [{"device": "cpu-0", "path": "/machine/peripheral/cpu-0"},
                 {"path": "/machine/unattached/device[1]"}], key=str)

        async def replug_over_hmp():
            reader, writer = await asyncio.open_unix_connection(str(hmp_path))
            await reader.readuntil(b"(qemu) ")
            for line in ("device_add cortex-a57-arm-cpu,id=cpu2,core-id=2", "info cpus"):
                writer.write(line.encode() + b"\n")
                log.append((await reader.readuntil(b"(qemu) ")).decode())
            writer.close()

        cues = {b"waiting: plug": hotplug_two, b"waiting: unplug": unplug_two,
                b"waiting: replug": replug_over_hmp}
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 300)
            if not line:
                break
            out += line
            for cue in [c for c in cues if line.startswith(c)]:
                await cues.pop(cue)()
        rc = await proc.wait()
        listener.cancel()
        try:
            await qmp.disconnect()
        except EOFError:
            pass                        # the VM powered off and closed the connection first
        return rc, out.decode().replace("\r\n", "\n"), (await proc.stderr.read()).decode(), log

    rc, out, err, log = asyncio.run(scenario())
    assert rc == 0 and out.endswith("PASS\n"), out + err
    # host time: the two CPUs of a phase may arrive in one GED interrupt or two; everything
    # else is exactly what the in-process run prints
    strip = [line for line in EXPECTED.splitlines() if "GED interrupts" not in line]
    assert [line for line in out.splitlines() if "GED interrupts" not in line] == strip
    assert log[:5] == ["Duplicate device ID 'cpu-0'",
                       "CPU(0:0:2:0) with arch-id 0x2 exists",
                       "Invalid core-id 8 specified, must be in range 0:3",
                       "Invalid CPU type, expected cpu type: 'cortex-a57-arm-cpu'",
                       "Invalid parameter type for 'core-id', expected: integer"]
    assert log[5] == "(qemu) "                 # device_add succeeds silently
    cpus = _lines_of(log[6].replace("\r\n", "\n"), "")
    assert [c.split(":")[0] for c in cpus if "CPU #" in c] == ["* CPU #0", "  CPU #2",
                                                                "  CPU #3"]


class Terminal:
    """A child process on a pseudo-terminal, read pexpect-style."""

    def __init__(self, argv):
        import pty
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.buf = b""

    def expect(self, text: bytes, timeout=120):
        import select
        import time
        deadline = time.monotonic() + timeout
        while text not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in {self.buf[-2000:]!r}"
            if select.select([self.master], [], [], left)[0]:
                try:
                    self.buf += os.read(self.master, 65536)
                except OSError:                 # the child closed the terminal
                    assert text in self.buf, f"no {text!r} in {self.buf[-2000:]!r}"
        at = self.buf.index(text) + len(text)
        before, self.buf = self.buf[:at], self.buf[at:]
        return before

    def send(self, data: bytes):
        os.write(self.master, data)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


@needs_cc
def test_monitor_on_the_terminal_with_the_serial_console(guest):
    """The default console, mon:stdio on a terminal: -S holds the guest, C-a c reaches the
    monitor (guest output keeps coming), device_add from there, C-a x quits with exit 0."""
    term = Terminal([sys.executable, "-m", "dbt.cli", "boot", "--kernel", str(guest),
                     "--smp", str(HOTPLUG.smp), "--maxcpus", str(HOTPLUG_MAXCPUS),
                     "--memory", MEMORY, "-S"])
    try:
        term.send(b"\x01c")
        assert b"boot:" not in term.expect(b"(qemu) ")     # nothing ran yet
        term.send(b"info status\r")
        assert b"VM status: paused (prelaunch)" in term.expect(b"(qemu) ")
        term.send(b"cont\r")
        term.expect(b"waiting: plug")
        term.send(b"device_add cortex-a57-arm-cpu,id=a,core-id=2\r")
        term.expect(b"(qemu) ")
        term.send(b"device_add cortex-a57-arm-cpu,id=b,core-id=2\r")
        assert b"Error: CPU(0:0:2:0) with arch-id 0x2 exists" in term.expect(b"(qemu) ")
        term.send(b"device_add cortex-a57-arm-cpu,id=b,core-id=3\r")
        term.expect(b"plug: cpu0=1 cpu1=1 cpu2=1 cpu3=1")
        term.send(b"info cpus\r")
        text = term.expect(b"(qemu) ").replace(b"\r", b"")
        assert [line.split(b":")[0] for line in text.split(b"\n") if b"CPU #" in line] == \
            [b"* CPU #0", b"  CPU #1", b"  CPU #2", b"  CPU #3"]
        term.send(b"\x01x")
        term.expect(b"QEMU: Terminated")
        assert term.proc.wait(30) == 0
    finally:
        term.close()


def test_cold_plug_before_start_raises_no_event():
    m = machine(smp=1, maxcpus=4)
    m.control.device_add({"driver": CPU, "id": "c3", "core-id": "3"}, typed=False)
    slot = m.slots[3]
    assert slot.state == "plugged" and not slot.hotplugged
    assert not any(m.cpuhp.inserting) and m.ged.sel == 0
    assert m.control.query_hotpluggable_cpus()[0]["qom-path"] == "/machine/peripheral/c3"
    m.start(0x4008_0000)
    m.control.device_add({"driver": CPU, "id": "c2", "core-id": 2})
    assert m.slots[2].hotplugged and m.cpuhp.inserting[2] and m.ged.sel == 0x8


def test_cli_device_option_errors_are_usage_errors(tmp_path):
    image = tmp_path / "nothing.bin"
    image.write_bytes(b"\x00" * 64)
    for device, message in (
            ("cortex-a57-arm-cpu,id=c,core-id=9",
             "--device cortex-a57-arm-cpu,id=c,core-id=9: Invalid core-id 9 specified"),
            ("cortex-a72-arm-cpu,core-id=1", "Invalid CPU type, expected cpu type"),
            ("cortex-a57-arm-cpu,id=c,core-id=0", "with arch-id 0x0 exists")):
        r = subprocess.run([sys.executable, "-m", "dbt.cli", "boot", "--kernel", str(image),
                            "--maxcpus", "4", "--serial", "null", "--device", device],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "dbt.cli", "boot", "--kernel", str(image),
                        "--serial", "null", "--qmp", "bogus:spec"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("dbt-vm: --qmp bogus:spec:"), r.stderr
