"""The acceptance scenario for live migration with CPU hotplug: Debian's Linux 6.12,
ACPI-booted with `--smp 2 --maxcpus 4`.

On the source:
- CPU 2 is hot-added over QMP and onlined by the guest;
- a shell loop prints `tick-N` to the console every 0.2 s;
- the VM is migrated over loopback TCP to a destination started with only `--incoming` (and
  its console and QMP socket).

On the destination:
- the ticks go on from where they were, with no reboot;
- CPU 2 is still online and runs work pinned to it;
- device_del of it ends in DEVICE_DELETED;
- device_add of core 3 works, and the guest onlines it.

Used by tests/test_linux_migrate.py and `tools/bench --migrate-linux`.
"""
from __future__ import annotations

import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dbt.machine.guest import MARKER, Console, ConsoleError
from dbt.testing.linux_hotplug import (CPU_SYSFS, ScenarioError, Shell, _expect, _qmp,
                                       _wait_event, boot_to_shell)

# a whole line: `$` would also match "tick-1" while "tick-12" is still arriving
TICK_RE = r"^tick-(\d+)\r?\n"


@dataclass
class MigrateRun:
    steps: list[str] = field(default_factory=list)
    migration: dict = field(default_factory=dict)      # the source's final query-migrate
    t_boot: float = 0.0
    source_console: str = ""
    console: str = ""                                   # the destination's


def _boot_argv(sock: str, extra) -> list[str]:
    return [sys.executable, "-m", "dbt.cli", "boot", "--serial", "stdio",
            "--qmp", f"unix:{sock},server,nowait", *extra]


def _connect(sock: str, timeout: float = 120):
    from qemu.qmp.legacy import QEMUMonitorProtocol
    deadline = time.monotonic() + timeout
    while True:
        try:
            qmp = QEMUMonitorProtocol(sock)
            qmp.connect(negotiate=True)
            return qmp
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def linux_migrate(kernel: Path, initrd: Path, append: str, *, timeout=3600, log=None,
                  memory: str = "512M") -> MigrateRun:
    run = MigrateRun()
    with tempfile.TemporaryDirectory(prefix="dbt-migrate-") as tmp:
        src_sock, dst_sock = str(Path(tmp) / "src.sock"), str(Path(tmp) / "dst.sock")
        src = Console(_boot_argv(src_sock, ["--kernel", str(kernel), "--initrd", str(initrd),
                                            "--append", append, "--smp", "2", "--maxcpus",
                                            "4", "--memory", memory]), log=log)
        dst = qmp = dq = None
        try:
            run.t_boot = boot_to_shell(src, time.monotonic() + timeout)
            qmp = _connect(src_sock)
            shell = Shell(src)
            _expect(run, "device_add cpu-2", _qmp(qmp, "device_add", {
                "driver": "cortex-a57-arm-cpu", "id": "cpu-2", "core-id": 2}), {})
            _expect(run, "enabled on the source", shell.run(
                f"while [ \"$(cat {CPU_SYSFS}/enabled)\" != 0-2 ]; do sleep 0.01; done; "
                f"echo 1 > {CPU_SYSFS}/cpu2/online; cat {CPU_SYSFS}/online"), "0-2")
            # the console workload: it keeps printing through the migration
            src.send("(i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done) & "
                     "echo $! > /tmp/ticker\n")
            src.expect(r"^tick-5\r?\n", 300)

            dst = Console(_boot_argv(dst_sock, ["--incoming", "tcp:127.0.0.1:0"]), log=log)
            address = dst.expect(r"incoming migration on (tcp:\S+)", 300).group(1).decode()
            _expect(run, "migrate", _qmp(qmp, "migrate", {"uri": address}), {})
            while True:
                info = _qmp(qmp, "query-migrate")
                if info["status"] in ("completed", "failed", "cancelled"):
                    break
                time.sleep(0.2)
            run.migration = info
            _expect(run, "migration status", info["status"], "completed")
            _expect(run, "source run state", _qmp(qmp, "query-status")["status"],
                    "postmigrate")
            _qmp(qmp, "quit")
            _expect(run, "source exit code", src.wait(120), 0)     # read to the end
            last = max(int(n) for n in re.findall(TICK_RE.encode(), src.buf, re.M))

            # the destination: the ticks go on from the source's last one, no reboot
            first = int(dst.expect(TICK_RE, 300).group(1))
            _expect(run, f"ticks continue (the source's last {last}, the destination's "
                         f"first {first})", last <= first <= last + 2, True)
            dst.expect(rf"^tick-{first + 3}\r?\n", 300)
            _expect(run, "no reboot on the destination",
                    "Booting Linux" in dst.text or MARKER in dst.text, False)
            dst.send("kill $(cat /tmp/ticker)\n")
            time.sleep(1)
            dq = _connect(dst_sock)
            dshell = Shell(dst)
            cpus = dshell.cpus()
            _expect(run, "destination CPUs", (cpus["enabled"], cpus["online"]),
                    ("0-2", "0-2"))
            _expect(run, "work pinned to cpu2 on the destination", dshell.run(
                "taskset -c 2 sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; "
                "echo ran-$i'"), "ran-20000")
            dq.clear_events()
            _expect(run, "device_del cpu-2 on the destination",
                    _qmp(dq, "device_del", {"id": "cpu-2"}), {})
            event = _wait_event(dq, "DEVICE_DELETED", 120)
            _expect(run, "DEVICE_DELETED", event["data"],
                    {"device": "cpu-2", "path": "/machine/peripheral/cpu-2"})
            _expect(run, "device_add cpu-3 on the destination", _qmp(dq, "device_add", {
                "driver": "cortex-a57-arm-cpu", "id": "cpu-3", "core-id": 3}), {})
            _expect(run, "cpu3 online on the destination", dshell.run(
                f"while [ \"$(cat {CPU_SYSFS}/enabled)\" != 0-1,3 ]; do sleep 0.01; done; "
                f"echo 1 > {CPU_SYSFS}/cpu3/online; cat {CPU_SYSFS}/online"), "0-1,3")
            dst.send("poweroff -f\n")
            _expect(run, "destination exit code after poweroff", dst.wait(120), 0)
        except ConsoleError as e:
            raise ScenarioError(f"{e}\nsteps so far: {run.steps}\n--- source (end) ---\n"
                                f"{src.text[-3000:]}\n--- destination (end) ---\n"
                                f"{dst.text[-3000:] if dst else ''}") from None
        finally:
            run.source_console = src.text
            run.console = dst.text if dst else ""
            for q in (qmp, dq):
                if q is not None:
                    try:
                        q.close()
                    except EOFError:
                        pass            # the VM quit and closed the connection first
            src.close()
            if dst is not None:
                dst.close()
    return run
