"""Snapshots and migration streams in-process: exactness with --icount (a run migrated any
number of times ends in the state of an uninterrupted one, hotplug included), the committed
sample of format version 1, the checks on untrusted streams (truncation, corruption,
foreign and wrong-version streams, authentication) and a fuzz of thousands of damaged
streams against the loader.
"""
from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib
from pathlib import Path

import msgpack
import pytest

from dbt.machine.boot import boot
from dbt.machine.chardev import MemoryBackend
from dbt.machine.virt import Machine, MachineConfig
from dbt.migration import MigrationError, snapshot, vmstate
from dbt.migration.stream import (CONFIG, END, HEADER, MAGIC, RAM, RECORD, SECTION, Reader,
                                  Writer, exact_reader, pack)
from guests.build import CC, HOTPLUG, HOTPLUG_MAXCPUS, build_guest

CPU = "cortex-a57-arm-cpu"
MiB = 1 << 20
SAMPLE = Path(__file__).parent / "data" / "migration" / "v1-hotplug.dbtvm"
needs_cc = pytest.mark.skipif(CC is None, reason="aarch64-linux-gnu-gcc is not installed")


def make_machine(config):
    return Machine(config, serial_backend=MemoryBackend())


def new_hotplug_machine(elf):
    m = make_machine(MachineConfig(memory=16 * MiB, smp=HOTPLUG.smp, maxcpus=HOTPLUG_MAXCPUS,
                                   icount=True))
    boot(m, elf.read_bytes())
    return m


# the host's side of the hotplug guest's script (tests/guests/hotplug.c)
def cue_actions():
    return {
        b"waiting: plug\r\n": [("add", {"driver": CPU, "id": "cpu2", "core-id": 2}),
                               ("add", {"driver": CPU, "core-id": 3})],
        b"waiting: unplug\r\n": [("del", "cpu2"), ("del", "/machine/unattached/device[1]")],
        b"waiting: replug\r\n": [("add", {"driver": CPU, "id": "again", "core-id": 2})],
    }


def save_bytes(m, secret=None) -> bytes:
    buf = io.BytesIO()
    snapshot.save(m, buf.write, secret)
    return buf.getvalue()


def load_bytes(data: bytes, secret=None, given=None):
    return snapshot.receive(Reader(exact_reader(io.BytesIO(data).read), secret),
                            make_machine, given).machine


class Run:
    """The hotplug guest driven in fixed steps of run(); `migrate_at` are the step numbers
    after which the machine is saved and replaced by one loaded from the snapshot."""

    def __init__(self, elf, migrate_at=(), step=100_000):
        self.m = new_hotplug_machine(elf)
        self.migrate_at = set(migrate_at)
        self.step = step
        self.out = b""
        self.events = []
        self.actions = cue_actions()
        self.m.control.listeners.append(self._event)

    def _event(self, name, data):
        self.events.append((name, data))

    def go(self, steps=None):
        n = 0
        while steps is None or n < steps:
            why = self.m.run(max_instructions=self.step, until_idle=True)
            self.out += self.m.serial.take_output()
            for cue in [c for c in self.actions if c in self.out]:
                for verb, arg in self.actions.pop(cue):
                    (self.m.control.device_add(arg) if verb == "add"
                     else self.m.control.device_del(arg))
            n += 1
            if why not in ("limit", "idle"):
                return why
            if n in self.migrate_at:
                data = save_bytes(self.m)
                self.m.close()
                self.m = load_bytes(data)
                self.m.control.listeners.append(self._event)
        return "steps"


def state_of(m) -> dict:
    state = vmstate.capture(m)
    state["ram"] = hashlib.sha256(m.phys.ram).hexdigest()
    state["slots"] = [(s.index, s.dev_id, s.anon, s.hotplugged, s.plugged) for s in m.slots]
    return state


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    return build_guest(HOTPLUG.name, tmp_path_factory.mktemp("hotplug"))


# -- exactness ---------------------------------------------------------------------------------
@needs_cc
def test_migrated_run_ends_in_the_state_of_an_uninterrupted_one(guest):
    """--icount: stopping at step N, saving, loading into a new machine and going on to step
    M gives the same registers of every CPU, RAM, devices, GIC and hotplug state as never
    stopping; with migrations before, between and after the hotplug phases."""
    steps = 13                      # replug comes at step 11, the power-off at 15
    plain = Run(guest)
    assert plain.go(steps) == "steps"
    assert b"waiting: replug" in plain.out, "the run must cover every hotplug phase"
    for migrate_at in ((3,), (5, 9), range(1, steps)):
        moved = Run(guest, migrate_at)
        assert moved.go(steps) == "steps"
        assert moved.m.executed == plain.m.executed
        assert moved.out == plain.out
        assert moved.events == plain.events
        assert state_of(moved.m) == state_of(plain.m), f"migrated at {migrate_at}"


@needs_cc
def test_migrated_every_step_the_guest_still_passes(guest):
    run = Run(guest, migrate_at=range(1, 1000))
    assert run.go() == "poweroff"
    text = run.out.decode().replace("\r\n", "\n")
    assert text.endswith("end: cpu0=1 cpu1=0 cpu2=0 cpu3=0\nPASS\n")
    assert "FAIL" not in text


@needs_cc
def test_a_device_add_the_guest_has_not_seen_is_handled_after_migration(guest):
    """The plug event is raised, the VM stops before the guest takes the GED interrupt;
    the destination's guest handles it."""
    run = Run(guest)
    while b"waiting: plug" not in run.out:
        run.m.run(max_instructions=20_000, until_idle=True)
        run.out += run.m.serial.take_output()
    run.actions.pop(b"waiting: plug\r\n")
    run.m.control.device_add({"driver": CPU, "id": "cpu2", "core-id": 2})
    run.m.control.device_add({"driver": CPU, "core-id": 3})
    assert run.m.ged.sel and any(run.m.cpuhp.inserting)        # not handled yet
    data = save_bytes(run.m)
    run.m.close()
    run.m = load_bytes(data)
    assert run.m.slots[2].dev_id == "cpu2" and run.m.slots[3].anon == 0
    assert run.go() == "poweroff"
    assert run.out.decode().replace("\r\n", "\n").endswith("PASS\n")


# -- the committed sample of format version 1 ---------------------------------------------------
def test_the_version_1_sample_still_loads_and_runs():
    """tests/data/migration/v1-hotplug.dbtvm: the hotplug guest saved by format version 1
    right after its CPUs 2 and 3 were hot-added (tools/make-migration-sample wrote it once;
    it is never regenerated).  It loads, keeps its hotplug state, and the guest finishes."""
    m = load_bytes(SAMPLE.read_bytes())
    assert [s.plugged for s in m.slots] == [True, True, True, True]
    assert (m.slots[2].dev_id, m.slots[2].hotplugged, m.slots[3].anon) == ("cpu2", True, 0)
    out = b""
    actions = cue_actions()
    actions.pop(b"waiting: plug\r\n")
    while True:
        why = m.run(max_instructions=150_000, until_idle=True)
        out += m.serial.take_output()
        for cue in [c for c in actions if c in out]:
            for verb, arg in actions.pop(cue):
                m.control.device_add(arg) if verb == "add" else m.control.device_del(arg)
        if why not in ("limit", "idle"):
            break
    assert why == "poweroff"
    text = out.decode().replace("\r\n", "\n")
    assert "inserted cpu2" in text and text.endswith("PASS\n")


# -- untrusted streams -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_stream():
    """A snapshot of a small machine that has run a little (RAM with data and zero pages)."""
    m = make_machine(MachineConfig(memory=16 * MiB, smp=1, maxcpus=2, icount=True))
    # store each page's address into it for 8 pages, then spin
    code = struct.pack("<7I", 0xD2A80000,   # mov  x0, #0x40000000
                       0xD2800102,          # mov  x2, #8
                       0x91400400,          # add  x0, x0, #1, lsl #12
                       0xF9000000,          # str  x0, [x0]
                       0xF1000442,          # subs x2, x2, #1
                       0x54FFFFA1,          # b.ne the add
                       0x14000000)          # b .
    boot(m, code)
    m.run(max_instructions=1000)
    data = save_bytes(m)
    m.close()
    return data


def records(data: bytes):
    """(offset, type, payload) of every record of an unauthenticated stream."""
    out, pos = [], HEADER.size
    while pos < len(data):
        rtype, length = RECORD.unpack_from(data, pos)
        out.append((pos, rtype, data[pos + RECORD.size:pos + RECORD.size + length]))
        pos += RECORD.size + length + 4
    return out


def reframe(parts, fix_end=True) -> bytes:
    """A stream from (type, payload) pairs with valid checksums (and, with fix_end, a final
    END record whose count matches)."""
    buf = io.BytesIO()
    w = Writer(buf.write)
    if fix_end and parts and parts[-1][0] == END:
        parts = parts[:-1] + [(END, pack({"records": len(parts)}))]
    for rtype, payload in parts:
        w.record(rtype, payload)
    return buf.getvalue()


def expect_error(data: bytes, match: str, secret=None, given=None):
    with pytest.raises(MigrationError, match=match):
        load_bytes(data, secret, given)


def test_small_stream_round_trips(small_stream):
    m = load_bytes(small_stream)
    assert m.phys.read_u64(0x40001000) == 0x40001000
    again = save_bytes(m)
    assert again == small_stream
    assert [t for _, t, _ in records(small_stream)][0] == CONFIG
    assert [t for _, t, _ in records(small_stream)][-1] == END


def test_foreign_wrong_version_and_truncated_streams(small_stream):
    expect_error(b"", "truncated in the header")
    expect_error(b"GET / HTTP/1.1\r\n\r\n", "not a dbt-vm migration stream")
    expect_error(b"QEVM\x00\x00\x00\x03" + small_stream[8:], "bad magic")
    newer = HEADER.pack(MAGIC, 99, 0) + small_stream[HEADER.size:]
    expect_error(newer, "version 99 is not supported")
    flags = HEADER.pack(MAGIC, 1, 0x80) + small_stream[HEADER.size:]
    expect_error(flags, "unknown stream flags")
    for _, (pos, _, _) in zip(range(1000), records(small_stream)):
        expect_error(small_stream[:pos], "truncated")              # at a record boundary
    for cut in (HEADER.size + 3, len(small_stream) - 1, len(small_stream) // 2):
        expect_error(small_stream[:cut], "truncated")


def test_corruption_is_caught_by_the_checksum(small_stream):
    for pos in (HEADER.size + 2, HEADER.size + RECORD.size + 4, len(small_stream) // 3,
                len(small_stream) - 6):
        bad = bytearray(small_stream)
        bad[pos] ^= 0x10
        expect_error(bytes(bad), "checksum mismatch|over the format's limit|unknown record")


def test_bad_structure_behind_valid_checksums(small_stream):
    parts = [(t, p) for _, t, p in records(small_stream)]
    config = msgpack.unpackb(parts[0][1])
    ram_at = next(i for i, (t, _) in enumerate(parts) if t == RAM)

    def with_config(**change):
        return reframe([(CONFIG, pack(dict(config, **change)))] + parts[1:])
    expect_error(with_config(memory=1 << 50), "'memory' must be an integer")
    expect_error(with_config(maxcpus=1000), "'maxcpus'")
    expect_error(with_config(machine="pc"), "machine type")
    expect_error(with_config(cpus=[{"index": 5, "id": None, "anon": None,
                                    "hotplugged": False}]), "CPU index 5")
    expect_error(reframe(parts[1:]), "does not start with a configuration record")
    expect_error(reframe(parts[:1] + parts), "a second configuration record")
    expect_error(reframe(parts[:-1] + [(END, pack({"records": 3}))], fix_end=False),
                 "record count")
    expect_error(reframe([p for p in parts if not (p[0] == SECTION and b"gic" in p[1][:12])]),
                 "lacks section")
    for ram in ([0, 1 << 20, 1, b""], [4095, 2, 1, b"x" * 8192], [0, 1, 1, b"short"],
                [0, 1, 2, b"\xff" * 40], [0, 1, 9, b""], [0, 1, 0, b"data"], "ram"):
        expect_error(reframe(parts[:ram_at] + [(RAM, pack(ram))] + parts[ram_at:]),
                     "RAM record")
    cpu0 = next(i for i, (t, p) in enumerate(parts) if t == SECTION and b"cpu/0" in p[:20])
    section = msgpack.unpackb(parts[cpu0][1])
    for change in ({"arch": b"\0" * 10}, {"mpidr": 7}, {"power": "maybe"},
                   {"executed": -1}, {"timer-levels": [1, 2, 3]}):
        bad = dict(section, state=dict(section["state"], **change))
        expect_error(reframe(parts[:cpu0] + [(SECTION, pack(bad))] + parts[cpu0 + 1:]),
                     "state does not fit|wrong type|out of range")
    bad = dict(section, version=7)
    expect_error(reframe(parts[:cpu0] + [(SECTION, pack(bad))] + parts[cpu0 + 1:]),
                 "layout version 7")


def test_options_that_differ_from_the_stream_are_named(small_stream):
    expect_error(small_stream, "--memory 32M but the stream has 16M", given={"--memory": 32 * MiB})
    expect_error(small_stream, "--maxcpus 4 but the stream has 2", given={"--maxcpus": 4})
    expect_error(small_stream, "--device gives cpu1 core-id=1 but the stream plugs none",
                 given={"--device": [("cpu1", 1)]})
    load_bytes(small_stream, given={"--memory": 16 * MiB, "--smp": 1, "--maxcpus": 2})


def test_authenticated_streams():
    m = make_machine(MachineConfig(memory=16 * MiB, smp=1, maxcpus=1))
    boot(m, struct.pack("<I", 0x14000000))
    secret = b"correct horse battery staple"
    data = save_bytes(m, secret)
    load_bytes(data, secret)
    expect_error(data, "start the destination with the source's --migrate-secret")
    expect_error(save_bytes(m), "not authenticated but --migrate-secret is set", secret)
    expect_error(data, "authentication failed", b"another secret of enough length")
    # a record changed and its CRC fixed up: only the MAC can tell
    pos = HEADER.size
    rtype, length = RECORD.unpack_from(data, pos)
    payload = bytearray(data[pos + RECORD.size:pos + RECORD.size + length])
    payload[-1] ^= 1
    head = data[pos:pos + RECORD.size]
    crc = struct.pack("<I", zlib.crc32(bytes(payload), zlib.crc32(head)))
    tampered = data[:pos + RECORD.size] + bytes(payload) + crc + data[pos + RECORD.size
                                                                      + length + 4:]
    expect_error(tampered, "authentication failed", secret)


def test_fuzz_thousands_of_damaged_streams(small_stream):
    """Bit flips, byte changes, cuts and spliced records, raw and behind valid checksums:
    every one is either refused with a MigrationError or (a change that does not matter)
    loads completely.  Nothing else is raised and nothing hangs."""
    rng = random.Random(1234)
    parts = [(t, p) for _, t, p in records(small_stream)]
    outcomes = {"refused": 0, "loaded": 0}
    built = []

    class Backend(MemoryBackend):
        closed = False

        def close(self):
            self.closed = True
            super().close()

    def make(config):
        built.append(Machine(config, serial_backend=Backend()))
        return built[-1]

    def attempt(data):
        built.clear()
        try:
            got = snapshot.receive(Reader(exact_reader(io.BytesIO(data).read)), make)
            outcomes["loaded"] += 1
            got.machine.close()
        except MigrationError:
            outcomes["refused"] += 1
            # a machine the stream was going into is closed, never handed out to run
            assert all(m.serial.closed for m in built)

    for _ in range(1500):
        data = bytearray(small_stream)
        kind = rng.randrange(3)
        if kind == 0:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del data[rng.randrange(len(data)):]
        else:
            at = rng.randrange(len(data))
            data[at:at + 4] = rng.randbytes(4)
        attempt(bytes(data))
    for _ in range(1500):
        i = rng.randrange(len(parts))
        rtype, payload = parts[i]
        mutated = bytearray(payload)
        for _ in range(rng.randint(1, 3)):
            if mutated:
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        new = parts[:i] + [(rtype, bytes(mutated))] + parts[i + 1:]
        if rng.random() < 0.2:
            j = rng.randrange(len(new))
            new.insert(j, new[rng.randrange(len(new))])
        attempt(reframe(new))
    assert outcomes["refused"] > 2000
