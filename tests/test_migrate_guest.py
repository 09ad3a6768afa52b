"""The live-migration test guest (tests/guests/migrate.c) on its own, without migrating: it
ticks, handles CPU hotplug at any time (plug, eject, plug again) with every online CPU
working, notices corrupted memory and a stalled CPU, and keeps running after a failure.

In-process runs use --icount and a guest built with a 20 ms tick (20M instructions of guest
time) so a dozen ticks take a few seconds; one run uses the default build (250 ms) in host
time, as tests/test_migrate_live.py and tools/bench run it; one runs it under QEMU.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

from dbt.machine.boot import boot
from dbt.machine.chardev import MemoryBackend
from dbt.machine.virt import Machine, MachineConfig
from guests.build import CC, HOTPLUG_MAXCPUS, MIGRATE, build_guest, qemu_command

CPU = "cortex-a57-arm-cpu"
MiB = 1 << 20
FAST_TICK_MS = 20
needs_cc = pytest.mark.skipif(CC is None, reason="aarch64-linux-gnu-gcc is not installed")
TICK = re.compile(r"tick (\d+): online ([\d,]+) passes (\d+) (ok|FAIL)$")


@pytest.fixture(scope="module")
def fast_guest(tmp_path_factory):
    return build_guest(MIGRATE.name, tmp_path_factory.mktemp("migrate-fast"),
                       defines={"MIGRATE_TICK_MS": FAST_TICK_MS})


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    return build_guest(MIGRATE.name, tmp_path_factory.mktemp("migrate"))


class Run:
    """A Machine running the guest in slices, its console split into lines."""

    def __init__(self, elf, icount=True, memory=64 * MiB):
        self.m = Machine(MachineConfig(memory=memory, smp=MIGRATE.smp,
                                       maxcpus=HOTPLUG_MAXCPUS, icount=icount),
                         serial_backend=MemoryBackend())
        self.events = []
        self.m.control.listeners.append(lambda name, data: self.events.append((name, data)))
        boot(self.m, elf.read_bytes())
        self.text = ""
        self.lines: list[str] = []          # complete lines
        self.at = 0                         # until() looks from here on

    def step(self, instructions=1_000_000):
        why = self.m.run(max_instructions=instructions, until_idle=True)
        assert why in ("limit", "idle"), (why, self.lines[-5:])    # it never powers off
        self.text += self.m.serial.take_output().decode().replace("\r\n", "\n")
        *done, self.text = self.text.split("\n")
        self.lines += done

    def until(self, pattern, budget=400_000_000, host_s=None):
        """Run until a line from self.at on matches; return it, self.at moves past it."""
        ran, t0 = 0, time.monotonic()
        while True:
            for k in range(self.at, len(self.lines)):
                if re.search(pattern, self.lines[k]):
                    self.at = k + 1
                    return self.lines[k]
            self.at = len(self.lines)
            assert ran < budget, f"no {pattern!r} after {ran} instructions: {self.lines[-5:]}"
            assert host_s is None or time.monotonic() - t0 < host_s, \
                f"no {pattern!r} after {host_s} s: {self.lines[-5:]}"
            self.step()
            ran += 1_000_000

    def ticks(self, n):
        """The next n tick lines (what else comes meanwhile stays in self.lines)."""
        return [TICK.match(self.until(r"^tick \d+:")).groups() for _ in range(n)]

    def close(self):
        self.m.close()


def _online(tick):
    return tick[1]


def ost(slot, source, status, **device):
    return ("ACPI_DEVICE_OST", {"info": device | {"slot": str(slot), "slot-type": "CPU",
                                                  "source": source, "status": status}})


@needs_cc
def test_migrate_guest_in_process(fast_guest):
    """Ticks; device_add of core 2 gives "plugged cpu2" and CPU 2 online and working in the
    next ticks; device_del gives "ejected cpu2" and DEVICE_DELETED; core 2 (a new id) and
    core 3 plugged at once both come up; no FAIL, consecutive ticks, passes advancing."""
    r = Run(fast_guest)
    t0 = time.monotonic()
    assert r.until("^migrate guest:") == \
        f"migrate guest: 4096 KiB dirtied per pass, tick {FAST_TICK_MS} ms"
    first = r.ticks(2)
    assert [_online(t) for t in first] == ["0,1", "0,1"]

    r.m.control.device_add({"driver": CPU, "id": "cpu2", "core-id": 2})
    r.until("^plugged cpu2$")
    plugged = r.ticks(3)
    assert [_online(t) for t in plugged] == ["0,1,2"] * 3

    r.m.control.device_del("cpu2")
    r.until("^ejected cpu2$")
    assert ("DEVICE_DELETED", {"device": "cpu2", "path": "/machine/peripheral/cpu2"}) \
        in r.events
    ejected = r.ticks(2)
    assert [_online(t) for t in ejected] == ["0,1", "0,1"]

    r.m.control.device_add({"driver": CPU, "id": "again", "core-id": 2})
    r.m.control.device_add({"driver": CPU, "id": "cpu3", "core-id": 3})
    r.until("^plugged cpu2$")
    r.until("^plugged cpu3$")
    both = r.ticks(3)
    assert [_online(t) for t in both] == ["0,1,2,3"] * 3
    elapsed = time.monotonic() - t0

    lines = r.lines
    assert not [line for line in lines if "FAIL" in line], lines
    ticks = [TICK.match(line).groups() for line in lines if line.startswith("tick ")]
    assert [int(t[0]) for t in ticks] == list(range(1, len(ticks) + 1))
    assert all(t[3] == "ok" for t in ticks)
    passes = [int(t[2]) for t in ticks]
    assert passes == sorted(passes) and passes[-1] > passes[0]
    # what the guest printed besides ticks, in order
    assert [line for line in lines if not line.startswith("tick ")] == [
        f"migrate guest: 4096 KiB dirtied per pass, tick {FAST_TICK_MS} ms",
        "plugged cpu2", "ejected cpu2", "plugged cpu2", "plugged cpu3"]
    # the guest's _OST writes (Linux's: device check done; eject in progress, eject done)
    # and the completed unplug, in order
    assert r.events == [
        ost(2, 1, 0, device="cpu2"),
        ost(2, 3, 0x84, device="cpu2"),
        ("DEVICE_DELETED", {"device": "cpu2", "path": "/machine/peripheral/cpu2"}),
        ost(2, 0x103, 0),
        ost(2, 1, 0, device="again"),
        ost(3, 1, 0, device="cpu3"),
    ]
    assert [c["props"]["core-id"] for c in r.m.control.query_cpus_fast()] == [0, 1, 2, 3]
    r.close()
    print(f"{len(ticks)} ticks in {elapsed:.1f} s")


@needs_cc
def test_migrate_guest_notices_lost_state_and_goes_on(fast_guest):
    """Negative controls: a word of CPU 0's buffer and one of CPU 1's private array changed
    behind the guest's back, a lost GED event, then CPU 1 frozen; each gives its FAIL line,
    the tick says FAIL, and the guest keeps ticking (it never powers off by itself)."""
    elftools = pytest.importorskip("elftools.elf.elffile")
    with open(fast_guest, "rb") as f:
        symbols = {s.name: s["st_value"]
                   for s in elftools.ELFFile(f).get_section_by_name(".symtab").iter_symbols()}
    r = Run(fast_guest)
    r.ticks(2)
    phys = r.m.phys
    word = symbols["buffer"] + 8 * 123_456
    phys.write(word, bytes(8 * [0xA5]))
    r.until(r"^FAIL: buffer word 123456 of pass \d+ is a5a5a5a5a5a5a5a5, want ")
    assert TICK.match(r.until("^tick ")).group(4) == "FAIL"
    assert TICK.match(r.until("^tick ")).group(4) == "ok"        # the rest of it is fine

    mine = symbols["private_words"] + 1 * 4096 * 8 + 8 * 77
    phys.write(mine, bytes(8))
    r.until(r"^FAIL: cpu1: 1 words of its array corrupted, word 77 of round \d+ is 0$")
    assert TICK.match(r.until("^tick ")).group(4) == "FAIL"
    assert TICK.match(r.until("^tick ")).group(4) == "ok"

    # a GED event the guest never sees (the latch read behind its back): the tick's look at
    # the register block finds the insert still pending a tick later, says so, handles it
    r.m.control.device_add({"driver": CPU, "id": "cpu2", "core-id": 2})
    assert r.m.ged.read(0, 4) == 0x8
    r.until("^FAIL: cpu2: hotplug event pending for a tick without a GED interrupt$")
    r.until("^plugged cpu2$")
    tick = TICK.match(r.until("^tick "))
    assert tick.group(2) == "0,1,2" and tick.group(4) == "FAIL"
    assert TICK.match(r.until("^tick ")).group(4) == "ok"

    r.m.slots[1].waiting = True          # the scheduler skips it until an interrupt: none
    r.until("^FAIL: cpu1 stalled$")
    tick = TICK.match(r.until("^tick "))
    assert tick.group(2) == "0,1,2" and tick.group(4) == "FAIL"
    r.ticks(2)                           # still ticking, still complaining
    assert r.lines.count("FAIL: cpu1 stalled") >= 3
    r.close()


@needs_cc
def test_requests_made_before_the_guest_listens_are_handled_at_boot(fast_guest):
    """A device_add before the guest's first instruction: its GED edge is gone when the guest
    sets up the GIC, but the boot scan of the register block finds the insert."""
    r = Run(fast_guest)
    r.m.control.device_add({"driver": CPU, "id": "early", "core-id": 3})
    assert [_online(t) for t in r.ticks(2)] == ["0,1,3"] * 2
    assert r.lines[:2] == [f"migrate guest: 4096 KiB dirtied per pass, tick {FAST_TICK_MS} ms",
                           "plugged cpu3"]
    assert not [line for line in r.lines if "FAIL" in line], r.lines
    assert r.events == [ost(3, 1, 0, device="early")]
    r.close()


@needs_cc
def test_default_build_in_host_time(guest):
    """The build tests/test_migrate_live.py and tools/bench use (4 MiB, 250 ms), in host time
    as `dbt-vm boot` runs it: ticks come a few times a second, a plug works."""
    r = Run(guest, icount=False)
    r.until("^tick 1:", host_s=120)     # the first run may translate for a while
    t0 = time.monotonic()
    r.ticks(2)
    per_tick = (time.monotonic() - t0) / 2
    r.m.control.device_add({"driver": CPU, "id": "cpu2", "core-id": 2})
    r.until("^plugged cpu2$", host_s=60)
    assert [_online(t) for t in r.ticks(2)] == ["0,1,2"] * 2
    assert not [line for line in r.lines if "FAIL" in line], r.lines
    assert r.lines[0] == "migrate guest: 4096 KiB dirtied per pass, tick 250 ms"
    assert per_tick < 2.0, f"{per_tick:.2f} s of host time per tick"
    r.close()


@needs_cc
@pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None,
                    reason="qemu-system-aarch64 is not installed")
def test_default_build_ticks_under_qemu(guest):
    """QEMU 7.2's virt has no CPU hotplug (and no GED without firmware): the guest finds no
    register block, brings up the -smp CPUs and ticks."""
    cmd = qemu_command(guest, MIGRATE.smp)
    cmd[cmd.index("-smp") + 1] = f"{MIGRATE.smp},maxcpus={HOTPLUG_MAXCPUS}"
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    lines = []
    try:
        while len([line for line in lines if line.startswith("tick ")]) < 4:
            line = proc.stdout.readline()
            assert line, lines
            lines.append(line.decode().rstrip("\r\n"))
    finally:
        proc.kill()
        proc.wait()
    assert lines[0] == "migrate guest: 4096 KiB dirtied per pass, tick 250 ms"
    ticks = [TICK.match(line).groups() for line in lines[1:]]
    assert [(t[0], t[1], t[3]) for t in ticks] == [(str(k), "0,1", "ok") for k in range(1, 5)]
