"""Live migration: dirty-page logging in the translated stores, the pre-copy job (rounds,
downtime limit, bandwidth, cancel, failure), and the bare-metal acceptance scenario between
two real dbt-vm processes over loopback TCP, driven with the `qemu.qmp` client: a CPU
hot-added on the source is online on a destination started with only --incoming, can be
unplugged there, and a parked CPU can be plugged there.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from dbt.machine.boot import boot
from dbt.machine.chardev import MemoryBackend
from dbt.machine.control import CommandError
from dbt.machine.hmp import run_command
from dbt.machine.virt import Machine, MachineConfig
from dbt.migration import MigrationError
from dbt.migration.incoming import Listener, load_file, serve
from guests.build import CC, MIGRATE, build_guest
from support import watch_events

CPU = "cortex-a57-arm-cpu"
MiB = 1 << 20
RAM = 0x40000000
needs_cc = pytest.mark.skipif(CC is None, reason="aarch64-linux-gnu-gcc is not installed")


def make_machine(config):
    return Machine(config, serial_backend=MemoryBackend())


DIRTY_CODE = """
    // identity-map 1 GiB at 0x40000000 as Normal memory (4K granule, a level-1 block)
    movz x10, #0x4020, lsl #16          // the level-1 table at 0x40200000
    movz x11, #0x4000, lsl #16
    movk x11, #0x701                     // block, AF, inner shareable, AttrIndx 0
    str  x11, [x10, #8]
    mov  x12, #0xff                      // MAIR attr 0: Normal write-back
    msr  mair_el1, x12
    mov  x12, #0x3519                    // T0SZ 25, WBWA walks, inner shareable
    msr  tcr_el1, x12
    msr  ttbr0_el1, x10
    isb
    mrs  x12, sctlr_el1
    orr  x12, x12, #1
    msr  sctlr_el1, x12
    isb
    movz x0, #0x4000, lsl #16
    add  x0, x0, #5, lsl #12             // 0x40005000
    add  x1, x0, #8, lsl #12
    sub  x1, x1, #4
    str  x2, [x1]                        // 0x4000cffc: crosses into 0x4000d000
    add  x3, x0, #0x10, lsl #12          // 0x40015000
    dc   zva, x3
    add  x3, x3, #0x10, lsl #12          // 0x40025000
    stp  x2, x2, [x3, #16]
    add  x3, x3, #0x10, lsl #12          // 0x40035000
    ldxr x4, [x3]
    stxr w5, x4, [x3]
1:  str  x2, [x0]                        // the loop: 0x40005000 through the fast path
    add  x2, x2, #1
    b    1b
"""


def dirty_machine():
    from dbt.testing import asm
    m = make_machine(MachineConfig(memory=16 * MiB, smp=1, maxcpus=1, icount=True))
    boot(m, asm.assemble(DIRTY_CODE))
    return m


def pages(m, written) -> list[int]:
    return [RAM + int(p) * 4096 for p in np.flatnonzero(written)]


# -- dirty-page logging --------------------------------------------------------------------------
@pytest.mark.skipif(not __import__("dbt.testing.asm").testing.asm.available(),
                    reason="the aarch64 cross assembler is not installed")
def test_dirty_log_sees_fast_path_stores_after_every_sync():
    m = dirty_machine()
    phys = m.phys
    phys.start_dirty_log()
    assert phys.dirty_logging
    m.run(max_instructions=2000)
    assert m.cpus[0].state["SCTLR_EL1"] & 1             # the MMU is on
    first = pages(m, phys.sync_dirty())
    assert first == [0x40005000, 0x4000C000, 0x4000D000, 0x40015000, 0x40025000, 0x40035000,
                     0x40200000]                        # and the page table
    # the loop keeps storing through a write TLB entry installed after the first store:
    # each sync drops the entries, so the page is seen again, and only that page
    for _ in range(3):
        m.run(max_instructions=2000)
        assert pages(m, phys.sync_dirty()) == [0x40005000]
    phys.stop_dirty_log()
    m.run(max_instructions=2000)
    assert not phys.dirty.any()
    # with logging off the write entry comes back: the fast path handles the stores
    from dbt.cpu.state import OFFSET, TLB_ENTRIES
    env = m.cpus[0].envi
    assert 0x40005000 in env[OFFSET["TLB1_WRITE"]:OFFSET["TLB1_WRITE"] + TLB_ENTRIES]
    # host-side writes (a loader, a device) are logged too
    phys.start_dirty_log()
    phys.write(0x40100FFC, b"12345678")
    assert pages(m, phys.sync_dirty()) == [0x40100000, 0x40101000]
    m.close()


# -- the pre-copy job, in-process ---------------------------------------------------------------
@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    return build_guest(MIGRATE.name, tmp_path_factory.mktemp("migrate"))


def started(elf, memory=64 * MiB):
    m = make_machine(MachineConfig(memory=memory, smp=MIGRATE.smp, maxcpus=4))
    boot(m, elf.read_bytes())
    out = run_until(m, b"tick 1:")
    return m, out


def run_until(m, text: bytes, out=b"", limit=400):
    for _ in range(limit):
        m.run(max_instructions=1_000_000)
        out += m.serial.take_output()
        if text in out:
            return out
    raise AssertionError(f"no {text!r} in {out[-500:]!r}")


def run_job(m, out=b""):
    job = m.control.migration
    while job.active:
        m.run(max_instructions=200_000, until_idle=True)    # "idle" once stopped for good
        out += m.serial.take_output()
    return job, out


class Destination(threading.Thread):
    """serve() on a loopback listener in a thread (the source runs on this one)."""

    def __init__(self, secret=None, given=None):
        super().__init__(daemon=True)
        self.listener = Listener("tcp:127.0.0.1:0")
        self.secret, self.given = secret, given
        self.got = self.error = None
        self.start()

    def run(self):
        try:
            self.got = serve(self.listener, make_machine, self.given, self.secret)
        except MigrationError as exc:
            self.error = exc


@needs_cc
def test_live_migration_in_process_with_a_dirtying_guest(guest):
    m, out = started(guest)
    m.control.device_add({"driver": CPU, "id": "cpu2", "core-id": 2})
    out = run_until(m, b"plugged cpu2", out)
    events = []
    m.control.listeners.append(lambda name, data: events.append((name, data)))
    dest = Destination()
    m.control.migrate_set_parameters({"downtime-limit": 300, "max-bandwidth": 64 * MiB})
    m.control.migrate(dest.listener.address)
    with pytest.raises(CommandError, match="device_add not allowed while migrating"):
        m.control.device_add({"driver": CPU, "core-id": 3})
    with pytest.raises(CommandError, match="device_del not allowed while migrating"):
        m.control.device_del("cpu2")
    with pytest.raises(CommandError, match="There's a migration process in progress"):
        m.control.migrate(dest.listener.address)
    job, out = run_job(m, out)
    dest.join(30)
    info = m.control.query_migrate()
    assert info["status"] == "completed", info
    assert m.control.query_status()["status"] == "postmigrate"
    ram = info["ram"]
    assert ram["total"] == 64 * MiB and ram["remaining"] == 0
    assert ram["duplicate"] > 12_000          # the untouched pages went as zero markers
    assert ram["transferred"] < 16 * MiB      # ...so the wire carries far less than RAM
    assert info["downtime"] >= 0 and info["setup-time"] >= 0
    statuses = [d["status"] for n, d in events if n == "MIGRATION"]
    assert statuses == ["setup", "active", "completed"]
    assert ("STOP", {}) in events and any(n == "MIGRATION_PASS" for n, _ in events)
    text = run_command(m.control, "info migrate")
    assert text.startswith("Migration status: completed\r\ntotal time: ")
    assert "downtime: " in text and "dirty sync count: " in text
    # the destination goes on: same ticks counter, cpu2 online and working
    d = dest.got.machine
    assert d.control.query_status()["status"] == "running"
    assert d.slots[2].dev_id == "cpu2" and d.slots[2].hotplugged
    last = int(re.findall(rb"tick (\d+):", out)[-1])
    more = run_until(d, f"tick {last + 2}:".encode())
    assert b"FAIL" not in more and b"migrate guest:" not in more
    assert f"tick {last + 1}: online 0,1,2 ".encode() in more
    d.control.device_del("cpu2")
    more = run_until(d, b"ejected cpu2", more)
    d.control.device_add({"driver": CPU, "id": "cpu3", "core-id": 3})
    more = run_until(d, b"plugged cpu3", more)
    last = int(re.findall(rb"tick (\d+):", more)[-1])
    more = run_until(d, f"tick {last + 1}: online 0,1,3 ".encode(), more)
    assert b"FAIL" not in more
    d.close()
    m.close()


@needs_cc
def test_failed_and_cancelled_migrations_leave_the_source_running(guest, tmp_path):
    m, out = started(guest)
    # a destination that refuses the stream: the source learns why and runs on
    dest = Destination(given={"--memory": 128 * MiB})
    m.control.migrate(dest.listener.address)
    job, out = run_job(m, out)
    dest.join(30)
    info = m.control.query_migrate()
    assert info["status"] == "failed"
    assert "--memory 128M but the stream has 64M" in info["error-desc"]
    assert "options do not match" in str(dest.error)
    assert m.control.query_status()["status"] == "running"
    assert not m.phys.dirty_logging and not m.control.migrating
    last = int(re.findall(rb"tick (\d+):", out)[-1])
    out = run_until(m, f"tick {last + 1}:".encode(), out)
    # nobody listening
    listener = Listener("tcp:127.0.0.1:0")
    port = listener.address.rsplit(":", 1)[1]
    listener.sock.close()
    m.control.migrate(f"tcp:127.0.0.1:{port}")
    assert m.control.query_migrate()["status"] == "failed"
    assert "Failed to connect to '127.0.0.1:" in m.control.query_migrate()["error-desc"]
    # cancelled while active (a slow link: 256 KiB/s), then a file migration completes
    dest = Destination()
    m.control.migrate_set_parameters({"max-bandwidth": 256 << 10})
    m.control.migrate(dest.listener.address)
    m.run(max_instructions=2_000_000, until_idle=True)
    assert m.control.query_migrate()["status"] == "active"
    assert m.control.query_migrate()["ram"]["transferred"] < 4 * MiB
    run_command(m.control, "migrate_cancel")
    assert m.control.query_migrate()["status"] == "cancelled"
    dest.join(30)
    assert "truncated" in str(dest.error)
    assert m.control.query_status()["status"] == "running"
    m.control.migrate_set_parameters({"max-bandwidth": 1 << 30})
    path = tmp_path / "vm.dbtvm"
    assert run_command(m.control, f"migrate -d file:{path}") == ""
    job, out = run_job(m, out)
    assert job.status == "completed"
    got = load_file(str(path), make_machine)
    last = int(re.findall(rb"tick (\d+):", out)[-1])
    more = run_until(got.machine, f"tick {last + 1}:".encode())
    assert b"FAIL" not in more
    got.machine.close()
    m.close()


@needs_cc
def test_authenticated_live_migration(guest):
    secret = b"a shared secret of some length"
    m, out = started(guest)
    m.control.migrate_secret = secret
    dest = Destination()                    # no secret: refuses an authenticated stream
    m.control.migrate(dest.listener.address)
    run_job(m)
    dest.join(30)
    assert m.control.query_migrate()["status"] == "failed"
    assert "--migrate-secret" in m.control.query_migrate()["error-desc"]
    dest = Destination(secret=b"the wrong secret, long enough")
    m.control.migrate(dest.listener.address)
    run_job(m)
    dest.join(30)
    assert "authentication failed" in m.control.query_migrate()["error-desc"]
    dest = Destination(secret=secret)
    m.control.migrate(dest.listener.address)
    run_job(m)
    dest.join(30)
    assert m.control.query_migrate()["status"] == "completed"
    more = run_until(dest.got.machine, b"tick")
    assert b"FAIL" not in more
    dest.got.machine.close()
    m.close()


# -- two dbt-vm processes, driven over QMP ------------------------------------------------------
@needs_cc
def test_live_migration_between_processes_keeps_hotplug_state(guest, tmp_path):
    """The bare-metal acceptance: source --smp 2 --maxcpus 4 with CPU 2 hot-added and
    online, a workload printing ticks; `dbt-vm migrate` moves it over loopback TCP to a
    destination started with only --incoming; the ticks go on there with CPU 2 online;
    device_del of CPU 2 there ends in DEVICE_DELETED; device_add of core 3 there works."""
    from qemu.qmp import ExecuteError, QMPClient
    logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)
    src_qmp, dst_qmp = tmp_path / "src.sock", tmp_path / "dst.sock"

    async def scenario():
        src = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dbt.cli", "boot", "--kernel", str(guest), "--smp", "2",
            "--maxcpus", "4", "--memory", "64M", "--serial", "stdio",
            "--qmp", f"unix:{src_qmp},server,nowait",
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        dst = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dbt.cli", "boot", "--incoming", "tcp:127.0.0.1:0",
            "--serial", "stdio", "--qmp", f"unix:{dst_qmp},server,nowait",
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        waiting = (await asyncio.wait_for(dst.stderr.readline(), 120)).decode()
        address = re.search(r"on (tcp:\S+)", waiting).group(1)

        async def connect(path):
            qmp = QMPClient("mgmt")
            for _ in range(600):
                try:
                    await qmp.connect(str(path))
                    return qmp
                except Exception:
                    await asyncio.sleep(0.1)
            raise AssertionError(f"no QMP at {path}")

        async def until(proc, pattern, seen):
            while True:
                line = await asyncio.wait_for(proc.stdout.readline(), 120)
                assert line, f"{pattern} never came: {seen[-5:]}"
                seen.append(line.decode().strip())
                assert "FAIL" not in seen[-1], seen
                if re.search(pattern, seen[-1]):
                    return seen[-1]

        async def disconnect(qmp):
            try:
                await qmp.disconnect()
            except EOFError:
                pass                # the VM quit and closed the connection first

        src_out, dst_out = [], []
        qmp = await connect(src_qmp)
        await until(src, r"^tick 2:", src_out)
        await qmp.execute("device_add", {"driver": CPU, "id": "cpu2", "core-id": 2})
        await until(src, r"^plugged cpu2", src_out)
        await until(src, r"^tick \d+: online 0,1,2 ", src_out)
        await qmp.disconnect()
        # the management tool's side: dbt-vm migrate with its progress bar and summary
        tool = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dbt.cli", "migrate", "--qmp", f"unix:{src_qmp}",
            "--to", address.removeprefix("tcp:"), "--max-bandwidth", "512M",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tool_out, tool_err = await asyncio.wait_for(tool.communicate(), 300)
        assert tool.returncode == 0, tool_err.decode()
        qmp = await connect(src_qmp)
        status = await qmp.execute("query-status")
        info = await qmp.execute("query-migrate")
        await qmp.execute("quit")
        await disconnect(qmp)
        last_src = int(re.findall(r"^tick (\d+):", "\n".join(src_out), re.M)[-1])

        dq = await connect(dst_qmp)
        deleted, listener = watch_events(dq, "DEVICE_DELETED")
        first = await until(dst, r"^tick \d+:", dst_out)
        hotpluggable = await dq.execute("query-hotpluggable-cpus")
        await until(dst, r"^tick \d+: online 0,1,2 ", dst_out)
        await dq.execute("device_del", {"id": "cpu2"})
        gone = await asyncio.wait_for(deleted.get(), 60)
        await until(dst, r"^ejected cpu2", dst_out)
        with pytest.raises(ExecuteError):
            await dq.execute("device_add", {"driver": CPU, "id": "cpu3", "core-id": 0})
        await dq.execute("device_add", {"driver": CPU, "id": "cpu3", "core-id": 3})
        await until(dst, r"^plugged cpu3", dst_out)
        await until(dst, r"^tick \d+: online 0,1,3 ", dst_out)
        await dq.execute("quit")
        listener.cancel()
        await disconnect(dq)
        return (status, info, tool_err.decode(), last_src, first, hotpluggable, gone,
                await src.wait(), await dst.wait(), dst_out)

    (status, info, tool_err, last_src, first, hotpluggable, gone, src_rc, dst_rc,
     dst_out) = asyncio.run(scenario())
    assert status["status"] == "postmigrate"
    assert info["status"] == "completed" and info["ram"]["total"] == 64 * MiB
    assert "migration completed: total " in tool_err and "downtime" in tool_err
    assert "] active" in tool_err or "passes" in tool_err
    # no reboot: the tick count goes on from the source's
    assert int(re.match(r"tick (\d+):", first).group(1)) >= last_src
    assert not any(line.startswith("migrate guest:") for line in dst_out)
    paths = {c["props"]["core-id"]: c.get("qom-path") for c in hotpluggable}
    assert paths == {0: "/machine/unattached/device[0]", 1: "/machine/unattached/device[1]",
                     2: "/machine/peripheral/cpu2", 3: None}
    assert gone == {"device": "cpu2", "path": "/machine/peripheral/cpu2"}
    assert src_rc == 0 and dst_rc == 0


def test_incoming_errors_exit_non_zero(tmp_path):
    bad = tmp_path / "bad.dbtvm"
    bad.write_bytes(b"not a stream at all")
    r = subprocess.run([sys.executable, "-m", "dbt.cli", "boot", "--incoming", f"file:{bad}",
                        "--serial", "null"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert "incoming migration failed: not a dbt-vm migration stream" in r.stderr
    r = subprocess.run([sys.executable, "-m", "dbt.cli", "boot", "--incoming", f"file:{bad}",
                        "--kernel", str(bad)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--kernel cannot be combined with --incoming" in r.stderr
    r = subprocess.run([sys.executable, "-m", "dbt.cli", "snapshot-info", str(bad)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "bad magic" in r.stderr
    # options that differ from the stream, and a secret the stream was not written with
    sample = Path(__file__).parent / "data" / "migration" / "v1-hotplug.dbtvm"
    secret = tmp_path / "secret"
    secret.write_text("sixteen or more bytes of secret\n")
    for extra, why in ((["--memory", "32M", "--maxcpus", "4"],
                        "--memory 32M but the stream has 16M"),
                       (["--smp", "1"], "--smp 1 but the stream has 2"),
                       (["--device", "cortex-a57-arm-cpu,id=cpu2,core-id=3"],
                        "--device gives cpu2 core-id=3 but the stream plugs cpu2 core-id=2, "
                        "(no id) core-id=3"),
                       (["--migrate-secret", str(secret)],
                        "not authenticated but --migrate-secret is set")):
        r = subprocess.run([sys.executable, "-m", "dbt.cli", "boot", "--incoming",
                            f"file:{sample}", "--serial", "null", *extra],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 1 and why in r.stderr, (extra, r.stderr)


@needs_cc
def test_monitor_migrate_waits_for_the_end_unless_detached(guest, tmp_path):
    """HMP `migrate URI` holds the prompt (and what is typed meanwhile) until the migration
    ends, as QEMU's monitor does, and reports a failure; `migrate -d` returns at once."""
    from dbt.machine.hmp import Monitor
    m, out = started(guest)
    written = bytearray()
    mon = Monitor(m.control, written.extend)
    mon.open()
    written.clear()
    mon.feed(f"migrate file:{tmp_path}/a.dbtvm\ninfo status\n".encode())
    assert written == b""                       # no prompt yet, info status waits
    job, out = run_job(m, out)
    assert job.status == "completed"
    assert written.decode() == "(qemu) VM status: paused (postmigrate)\r\n(qemu) "
    m.control.cont()
    written.clear()
    mon.feed(b"migrate tcp:127.0.0.1:1\n")       # nothing listens there
    assert written.decode().startswith("Error: Failed to connect to '127.0.0.1:1'")
    written.clear()
    mon.feed(b"migrate -r tcp:127.0.0.1:1\n")
    assert written.decode() == "Error: migrate: -r is not supported here (only -d)\r\n(qemu) "
    m.close()


@pytest.mark.skipif(__import__("shutil").which("qemu-system-aarch64") is None,
                    reason="no QEMU")
def test_migration_monitor_texts_match_qemu(tmp_path):
    """The migration commands' refusals, help and parameter syntax, against QEMU 7.2's
    monitor (a board at -S: nothing migrates; our machine is started but idle)."""
    from support import qemu_virt_socket
    from test_hmp import HMPClient
    m = make_machine(MachineConfig(memory=16 * MiB, smp=1, maxcpus=1))
    boot(m, struct.pack("<I", 0x14000000))
    path = str(tmp_path / "qemu-mon.sock")
    with contextlib.closing(m), qemu_virt_socket("-monitor", path):
        theirs = HMPClient(path, echoes=True)
        theirs.until_prompt()
        for line in ["migrate", "migrate foo:bar", "migrate_cancel",
                     "migrate_set_parameter downtime-limit 3000000",
                     "migrate_set_parameter downtime-limit x",
                     "migrate_set_parameter max-bandwidth -1",
                     "migrate_set_parameter foo 1", "migrate_set_parameter max-bandwidth 1G",
                     "migrate_set_parameter downtime-limit 500", "help migrate_cancel", "help migrate_set_parameter",
                     "help info migrate", "help info migrate_parameters"]:
            assert run_command(m.control, line) == theirs.run(line), line
        # QEMU goes on to explain -b, -i and -r, which this board refuses
        assert theirs.run("help migrate").startswith(run_command(m.control, "help migrate"))
        # QEMU lists more parameters; ours are among them with the same values and words
        ours = run_command(m.control, "info migrate_parameters").splitlines()
        assert set(ours) <= set(theirs.run("info migrate_parameters").splitlines())
        assert ours == ["max-bandwidth: 1073741824 bytes/second", "downtime-limit: 500 ms"]
        theirs.close()
