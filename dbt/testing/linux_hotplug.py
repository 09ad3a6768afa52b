"""The acceptance scenario for vCPU hotplug: Debian's Linux 6.12, ACPI-booted by
`dbt-vm boot --smp 2 --maxcpus 4 --qmp ...`, driven over QMP the way Kata Containers drives
QEMU (query-hotpluggable-cpus; device_add with only driver, id and core-id; device_del and
wait for DEVICE_DELETED) while a shell on the serial console checks what the guest sees.

Used by tests/test_linux_hotplug.py and by `tools/bench --hotplug` (which reports the
latencies).  Each step is timed from the host's side:
- plug latency: device_add sent -> the guest's /sys/devices/system/cpu/enabled lists the CPU;
- online latency: `echo 1 > cpuN/online` sent -> the shell's answer (PSCI CPU_ON included);
- unplug latency: device_del sent -> DEVICE_DELETED received (the guest offlines the CPU,
  ejects it and dbt-vm parks it).
"""
from __future__ import annotations

import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dbt.machine.guest import MARKER, PROMPT_RE, Console, ConsoleError

CPU_SYSFS = "/sys/devices/system/cpu"
KERNEL_LINE = re.compile(r"^\[\s*\d+\.\d+\] ")


class ScenarioError(AssertionError):
    pass


@dataclass
class HotplugRun:
    steps: list[str] = field(default_factory=list)          # what was checked, in order
    latencies: dict[str, list[float]] = field(default_factory=dict)
    t_boot: float = 0.0
    console: str = ""

    def timed(self, what: str, seconds: float):
        self.latencies.setdefault(what, []).append(seconds)


class Shell:
    """Commands in the guest's busybox shell over the serial console."""

    def __init__(self, con: Console):
        self.con = con

    def run(self, command: str, timeout: float = 120) -> str:
        """The command's output, without the echoed command line (which the terminal may
        wrap, and kernel messages may interrupt): it is framed by markers whose echoed
        spelling differs from their printed one."""
        self.con.send(f'echo @@"B"@@; {command}; echo @@"E"@@\n')
        m = self.con.expect(r"^@@B@@\r?\n((?:.|\n)*?)^@@E@@", timeout)
        self.con.expect(PROMPT_RE, timeout)
        text = m.group(1).decode(errors="replace").replace("\r", "")
        # the kernel's console messages (hot-added CPUs, secondaries booting) are not output
        return "\n".join(line for line in text.split("\n")
                         if not KERNEL_LINE.match(line)).strip()

    def cpus(self) -> dict[str, str]:
        out = self.run(f"for f in possible present enabled online; do echo $f=$(cat "
                       f"{CPU_SYSFS}/$f); done")
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def boot_to_shell(con: Console, deadline: float) -> float:
    """Wait for /init's marker and its shell prompt; the seconds since the boot began."""
    con.expect(re.escape(MARKER), deadline - time.monotonic())
    con.expect(PROMPT_RE, max(deadline - time.monotonic(), 1))
    return con.elapsed()


def _expect(run: HotplugRun, what: str, got, want):
    if got != want:
        raise ScenarioError(f"{what}: got {got!r}, want {want!r}\nsteps so far: {run.steps}")
    run.steps.append(f"{what}: {got}")


def linux_hotplug(kernel: Path, initrd: Path, append: str, *, extra=(), timeout=3600,
                  log=None, cycles: int = 2) -> HotplugRun:
    from qemu.qmp.legacy import QEMUMonitorProtocol
    run = HotplugRun()
    with tempfile.TemporaryDirectory(prefix="dbt-hotplug-") as tmp:
        sock = str(Path(tmp) / "qmp.sock")
        argv = [sys.executable, "-m", "dbt.cli", "boot", "--kernel", str(kernel), "--initrd",
                str(initrd), "--append", append, "--smp", "2", "--maxcpus", "4",
                "--memory", "512M", "--serial", "stdio", "--qmp", f"unix:{sock},server,nowait",
                *extra]
        con = Console(argv, log=log)
        qmp = None
        try:
            run.t_boot = boot_to_shell(con, time.monotonic() + timeout)
            qmp = QEMUMonitorProtocol(sock)
            qmp.connect(negotiate=True)
            shell = Shell(con)
            _expect(run, "boot", shell.cpus(),
                    {"possible": "0-3", "present": "0-3", "enabled": "0-1", "online": "0-1"})
            for cycle in range(cycles):
                _plug_cycle(run, shell, qmp, cycle)
            _unplug_cold_cpu(run, shell, qmp)
            con.send("poweroff -f\n")
            _expect(run, "exit code after poweroff", con.wait(120), 0)
        except ConsoleError as e:
            raise ScenarioError(f"{e}\nsteps so far: {run.steps}\n--- console (end) ---\n"
                                f"{con.text[-4000:]}") from None
        finally:
            run.console = con.text
            if qmp is not None:
                qmp.close()
            con.close()
    return run


def _free_slots(qmp) -> list[dict]:
    slots = _qmp(qmp, "query-hotpluggable-cpus")
    return sorted((s for s in slots if "qom-path" not in s),
                  key=lambda s: s["props"]["core-id"])


def _plug_cycle(run: HotplugRun, shell: Shell, qmp, cycle: int):
    """Kata's hot-add of one CPU, its onlining by the guest, work on it, and its removal."""
    slot = _free_slots(qmp)[0]
    n = slot["props"]["core-id"]
    dev = f"cpu-{cycle}"
    t0 = time.monotonic()
    reply = _qmp(qmp, "device_add", {"driver": slot["type"], "id": dev, "core-id": n})
    _expect(run, f"device_add {dev} core-id {n}", reply, {})
    want = f"0-{n}" if n == 2 else f"0-1,{n}"
    answer = shell.run(f"while [ \"$(cat {CPU_SYSFS}/enabled)\" != {want} ]; do sleep 0.01; "
                       f"done; echo enabled=$(cat {CPU_SYSFS}/enabled)")
    run.timed("plug: device_add -> enabled", time.monotonic() - t0)
    _expect(run, "enabled after device_add", answer, f"enabled={want}")
    _expect(run, f"cpu{n} registered offline",
            shell.run(f"cat {CPU_SYSFS}/cpu{n}/online"), "0")
    t0 = time.monotonic()
    answer = shell.run(f"echo 1 > {CPU_SYSFS}/cpu{n}/online && cat {CPU_SYSFS}/online")
    run.timed("online: echo 1 > online -> done", time.monotonic() - t0)
    _expect(run, f"online after onlining cpu{n}", answer, want)
    # work on the new CPU: a busy loop pinned to it, then its /proc/stat user time
    answer = shell.run(f"taskset -c {n} sh -c 'i=0; while [ $i -lt 20000 ]; do "
                       f"i=$((i+1)); done; echo ran-$i-on-cpu{n}'")
    _expect(run, f"work pinned to cpu{n}", answer, f"ran-20000-on-cpu{n}")
    qmp.clear_events()
    t0 = time.monotonic()
    _expect(run, f"device_del {dev}", _qmp(qmp, "device_del", {"id": dev}), {})
    event = _wait_event(qmp, "DEVICE_DELETED", 120)
    run.timed("unplug: device_del -> DEVICE_DELETED", time.monotonic() - t0)
    _expect(run, "DEVICE_DELETED", event["data"],
            {"device": dev, "path": f"/machine/peripheral/{dev}"})
    cpus = shell.cpus()
    _expect(run, f"after unplug of cpu{n}", (cpus["enabled"], cpus["online"]), ("0-1", "0-1"))


def _unplug_cold_cpu(run: HotplugRun, shell: Shell, qmp):
    """CPU 1 was there at boot (Online-Capable in the MADT): it unplugs like a hot-added one."""
    qmp.clear_events()
    t0 = time.monotonic()
    path = "/machine/unattached/device[1]"
    _expect(run, "device_del cold-booted cpu1", _qmp(qmp, "device_del", {"id": path}), {})
    event = _wait_event(qmp, "DEVICE_DELETED", 120)
    run.timed("unplug: device_del -> DEVICE_DELETED", time.monotonic() - t0)
    _expect(run, "DEVICE_DELETED of cpu1", event["data"], {"path": path})
    cpus = shell.cpus()
    _expect(run, "after unplug of cpu1", (cpus["enabled"], cpus["online"]), ("0", "0"))


def _qmp(qmp, name: str, args: dict | None = None):
    reply = qmp.cmd_raw(name, args)
    if "error" in reply:
        raise ScenarioError(f"QMP {name} {args}: {reply['error']}")
    return reply["return"]


def _wait_event(qmp, name: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ScenarioError(f"no {name} event within {timeout:.0f} s")
        event = qmp.pull_event(wait=left)
        if event is not None and event["event"] == name:
            return event
