"""Shared by the tests that run real aarch64 programs: the cross compiler, the oracle
(qemu-aarch64), and how results are compared."""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CC = shutil.which("aarch64-linux-gnu-gcc")
QEMU = shutil.which("qemu-aarch64")
ROOT = Path(__file__).resolve().parents[1]
BUSYBOX = ROOT / "tools" / "cache" / "busybox"

needs_cc = pytest.mark.skipif(
    CC is None, reason="aarch64-linux-gnu-gcc (the aarch64 cross compiler) is not installed: "
                       "run tools/setup")
needs_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-aarch64 (the oracle) is not installed")
needs_busybox = pytest.mark.skipif(not BUSYBOX.exists(),
                                   reason="tools/cache/busybox missing: run tools/setup")


def dbt_run(*args, env=None, stdin=None, timeout=900):
    return subprocess.run([sys.executable, "-m", "dbt.user.run", *map(str, args)],
                          capture_output=True, env=env, input=stdin, timeout=timeout)


def qemu_run(*args, env=None, stdin=None):
    r = subprocess.run([QEMU, *map(str, args)], capture_output=True, env=env, input=stdin,
                       timeout=300)
    if r.returncode < 0:                      # killed by a signal: the shell's 128 + n
        r.returncode = 128 - r.returncode
    return r


def no_traceback(r):
    assert b"Traceback" not in r.stderr, r.stderr.decode(errors="replace")


def same_as_qemu(r, q):
    no_traceback(r)
    if r.stdout != q.stdout:
        import difflib
        diff = difflib.unified_diff(q.stdout.decode(errors="replace").splitlines(),
                                    r.stdout.decode(errors="replace").splitlines(),
                                    "qemu-aarch64", "dbt-run", lineterm="", n=1)
        raise AssertionError("stdout differs:\n" + "\n".join(list(diff)[:40]) +
                             "\n" + r.stderr.decode(errors="replace"))
    assert r.returncode == q.returncode, r.stderr.decode(errors="replace")


def one_line_error(r, status):
    assert r.returncode == status, r.stderr
    no_traceback(r)
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dbt-run: "), lines
    return lines[0]


def _accepts(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


@contextlib.contextmanager
def qemu_virt_socket(option: str, path: str):
    """QEMU's virt board held at -S, serving `option` (-qmp or -monitor) on the unix socket
    `path` once it listens (an oracle for our monitor and QMP); killed on exit."""
    qemu = subprocess.Popen(["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57",
                             "-nodefaults", "-display", "none", "-S",
                             option, f"unix:{path},server=on,wait=off"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # the socket file appears at bind(), a moment before listen(): probe until a
        # connection is accepted (QEMU takes the next one when this one closes)
        deadline = time.monotonic() + 10
        while not _accepts(path):
            assert time.monotonic() < deadline and qemu.poll() is None
            time.sleep(0.02)
        yield qemu
    finally:
        qemu.kill()
        qemu.wait()


def watch_events(qmp, name: str):
    """(queue, task): the data of every `name` event the qemu.qmp client receives is put on
    the asyncio queue by the task (cancel it when done)."""
    import asyncio
    queue = asyncio.Queue()

    async def listen():
        async for event in qmp.events:
            if event["event"] == name:
                await queue.put(event["data"])
    return queue, asyncio.create_task(listen())
