"""The source side of a migration: QEMU's pre-copy, run between the vCPUs' quanta on the
machine's one thread.

setup     connect, send the configuration and the loader's images, start dirty logging,
          queue every RAM page
active    each step sends pages for a time slice, paced by max-bandwidth; when a round's
          queue is empty the dirty log is synced: if what was dirtied can go within the
          downtime limit at the measured rate, the stop-and-copy starts, else it is the
          next round
stop-and-copy   the vCPUs stop, the last dirty pages and every device section go, then END;
          a network destination answers "OK" once it has loaded everything
completed the source stays stopped (run state postmigrate)
failed / cancelled   dirty logging ends and the VM runs on as if nothing happened

Statuses and query-migrate fields are QEMU's (qapi/migration.json).
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

import numpy as np

from .ram import PAGE, RamSender, RamStats
from .snapshot import write_device_state, write_header
from .stream import MigrationError, Writer

DEFAULT_DOWNTIME_LIMIT_MS = 300
MAX_DOWNTIME_LIMIT_MS = 2_000_000
DEFAULT_MAX_BANDWIDTH = 128 << 20           # bytes/s, QEMU's default
SLICE_S = 0.02                              # sending time per step; the guest runs between
ACK_TIMEOUT_S = 60.0                        # the destination loads before it answers
CONNECT_TIMEOUT_S = 10.0
SEND_TIMEOUT_S = 30.0
TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class Parameters:
    downtime_limit: int = DEFAULT_DOWNTIME_LIMIT_MS        # ms
    max_bandwidth: int = DEFAULT_MAX_BANDWIDTH             # bytes/s

    def as_qmp(self) -> dict:
        return {"downtime-limit": self.downtime_limit, "max-bandwidth": self.max_bandwidth}


def parse_uri(uri: str) -> tuple[str, object]:
    """("file", path) | ("tcp", (host, port)) | ("unix", path); host "" is loopback."""
    kind, sep, rest = uri.partition(":")
    if not sep or not rest or kind not in ("file", "unix", "tcp"):
        raise MigrationError("Parameter 'uri' expects a valid migration protocol")
    if kind in ("file", "unix"):
        return kind, rest
    if kind == "tcp":
        host, sep, port = rest.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise MigrationError(f"address resolution failed for {rest}: port missing or "
                                 "out of range")
        return kind, (host.strip("[]") or "127.0.0.1", int(port))


class Channel:
    """Where the stream goes: a file, or a TCP/unix socket with the destination's answer
    coming back on it."""

    def __init__(self, uri: str):
        self.kind, where = parse_uri(uri)
        self.path = where if self.kind == "file" else None
        self.sock = None
        self.file = None
        try:
            if self.kind == "file":
                self.file = open(where, "wb")
            else:
                family = socket.AF_UNIX if self.kind == "unix" else socket.AF_INET
                if self.kind == "tcp" and ":" in where[0]:
                    family = socket.AF_INET6
                self.sock = socket.socket(family, socket.SOCK_STREAM)
                self.sock.settimeout(CONNECT_TIMEOUT_S)
                self.sock.connect(where)
                self.sock.settimeout(SEND_TIMEOUT_S)
                if family != socket.AF_UNIX:
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            self.close()
            target = f"'{where[0]}:{where[1]}'" if self.kind == "tcp" else f"'{where}'"
            verb = "open" if self.kind == "file" else "connect to"
            raise MigrationError(f"Failed to {verb} {target}: {exc.strerror or exc}") from None

    def send(self, data: bytes) -> None:
        try:
            if self.file is not None:
                self.file.write(data)
            else:
                self.sock.sendall(data)
        except OSError as exc:
            # a destination that refused the stream said why before it hung up
            if self.sock is not None:
                self._check_answer(self._answer(1.0))
            raise MigrationError(f"writing the stream failed: {exc.strerror or exc}") from None

    def _answer(self, timeout: float) -> str:
        """The destination's one-line answer ("" if none comes)."""
        self.sock.settimeout(timeout)
        answer = b""
        try:
            while not answer.endswith(b"\n") and len(answer) < 4096:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
        return answer.decode("utf-8", "replace").strip()

    @staticmethod
    def _check_answer(text: str) -> None:
        if text.startswith("ERR "):
            raise MigrationError(f"the destination refused the stream: {text[4:]}")

    def finish(self) -> None:
        """After END: make the data durable (file) or wait for the destination's answer."""
        if self.file is not None:
            try:
                self.file.flush()
                os.fsync(self.file.fileno())
            except OSError as exc:
                raise MigrationError(f"writing the stream failed: {exc.strerror}") from None
            return
        text = self._answer(ACK_TIMEOUT_S)
        self._check_answer(text)
        if text != "OK":
            raise MigrationError("the destination closed the connection without loading"
                                 if not text else f"unexpected answer from the destination: "
                                 f"{text[:100]!r}")

    def close(self, failed: bool = False) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
            if failed:
                try:
                    os.unlink(self.path)    # a partial snapshot must not look like one
                except OSError:
                    pass
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class OutgoingMigration:
    def __init__(self, machine, uri: str, params: Parameters, secret: bytes | None = None):
        self.machine = machine
        self.uri = uri
        self.params = params
        self.secret = secret
        self.status = "setup"
        self.error: str | None = None
        self.stats = RamStats()
        self.start_time = time.monotonic()
        self.setup_ms = 0
        self.end_time = None
        self.downtime_ms = None
        self.expected_downtime_ms = params.downtime_limit
        self.rounds = 0                     # dirty syncs (QEMU's dirty-sync-count)
        self.dirty_rate = 0                 # pages per second dirtied in the last round
        self.channel = None
        self.writer = None
        self.sender = None
        self._round_start = 0.0
        self._sending_s = 0.0               # time spent sending (for the achieved rate)
        self._sent_at_sync = 0
        self._last_step = None
        self._allowance = 0.0               # bytes the bandwidth limit lets go now
        self._paused_by_us = False
        self.on_finish = []                 # callables(job) at a terminal status

    # -- queries --------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.status not in TERMINAL

    @property
    def total_ram(self) -> int:
        return self.machine.phys.ram_size

    def remaining(self) -> int:
        if self.sender is None or not self.active:
            return 0 if self.status == "completed" else self.total_ram
        return self.sender.remaining_pages * PAGE

    def transferred(self) -> int:
        return self.writer.bytes if self.writer is not None else 0

    def info(self) -> dict:
        """query-migrate's MigrationInfo."""
        now = self.end_time or time.monotonic()
        total_ms = int((now - self.start_time) * 1000)
        out = {"status": self.status, "total-time": total_ms}
        if self.status == "setup":
            return out
        sent = self.transferred()
        elapsed = max(now - self.start_time - self.setup_ms / 1000, 1e-6)
        s = self.stats
        out["ram"] = {
            "transferred": sent, "remaining": self.remaining(), "total": self.total_ram,
            "duplicate": s.duplicate, "normal": s.normal, "normal-bytes": s.normal_bytes,
            "dirty-pages-rate": self.dirty_rate, "mbps": round(sent * 8 / elapsed / 1e6, 6),
            "dirty-sync-count": self.rounds, "page-size": PAGE,
            "pages-per-second": int((s.normal + s.duplicate) / elapsed),
            "precopy-bytes": sent, "downtime-bytes": 0, "postcopy-bytes": 0,
            "multifd-bytes": 0, "postcopy-requests": 0,
        }
        out["setup-time"] = self.setup_ms
        if self.active:
            out["expected-downtime"] = int(self.expected_downtime_ms)
        if self.status == "completed":
            out["downtime"] = int(self.downtime_ms)
        if self.status == "failed" and self.error:
            out["error-desc"] = self.error
        return out

    # -- the job --------------------------------------------------------------------------
    def _set(self, status: str):
        self.status = status
        self.machine.control.emit("MIGRATION", {"status": status})

    def start(self) -> None:
        """Setup; on success the machine calls step() between quanta."""
        control = self.machine.control
        control.migrating = True
        self._set("setup")
        try:
            self.channel = Channel(self.uri)
            self.writer = Writer(self.channel.send, self.secret)
            write_header(self.writer, self.machine)
        except MigrationError as exc:
            self._fail(str(exc))
            return
        phys = self.machine.phys
        phys.start_dirty_log()
        self.sender = RamSender(phys.ram, self.stats)
        self.sender.queue(np.ones(self.sender.pages, dtype=bool))
        self.setup_ms = int((time.monotonic() - self.start_time) * 1000)
        self._round_start = time.monotonic()
        self.machine.tasks.append(self)
        self._set("active")

    def step(self) -> float | None:
        """Send for a slice; returns how long the machine may wait before the next step
        (None when the job has ended)."""
        if not self.active:
            return None
        now = time.monotonic()
        # pace by max-bandwidth with a token bucket: the elapsed time adds what may be sent
        # (at most a slice's worth), what is sent is taken away
        rate = self.params.max_bandwidth or float(1 << 40)     # 0: no limit
        elapsed = now - self._last_step if self._last_step is not None else SLICE_S
        self._last_step = now
        self._allowance = min(self._allowance + rate * elapsed, rate * SLICE_S)
        if self._allowance <= 0:
            return min(SLICE_S, -self._allowance / rate)
        try:
            deadline = now + SLICE_S
            done = False
            while self._allowance > 0 and time.monotonic() < deadline:
                before = self.writer.bytes
                done = self.sender.send(self.writer, int(min(self._allowance, 1 << 20)) or 1)
                self._allowance -= self.writer.bytes - before
                if done:
                    break
            self._sending_s += time.monotonic() - now
            if done:
                self._end_of_round()
        except MigrationError as exc:
            self._fail(str(exc))
            return None
        return 0.0 if self.active else None

    def _rate(self) -> float:
        """Bytes per second the stream achieves while sending, within max-bandwidth."""
        sent = self.writer.bytes
        achieved = sent / self._sending_s if self._sending_s > 0 else self.params.max_bandwidth
        return max(1.0, min(achieved, self.params.max_bandwidth or achieved))

    def _end_of_round(self):
        now = time.monotonic()
        dirty = self.machine.phys.sync_dirty()
        self.rounds += 1
        pages = int(np.count_nonzero(dirty))
        self.dirty_rate = int(pages / max(now - self._round_start, 1e-3))
        self._round_start = now
        self.machine.control.emit("MIGRATION_PASS", {"pass": self.rounds})
        self.expected_downtime_ms = pages * PAGE / self._rate() * 1000
        if self.expected_downtime_ms <= self.params.downtime_limit:
            self._complete(dirty)
        else:
            self.sender.queue(dirty)

    def _complete(self, dirty):
        """Stop-and-copy."""
        m = self.machine
        t0 = time.monotonic()
        if not m.control.paused:
            m.control.stop()
            self._paused_by_us = True
        dirty |= m.phys.sync_dirty()
        m.phys.stop_dirty_log()
        self.sender.queue(dirty)
        self.sender.send(self.writer)
        write_device_state(self.writer, m, running=self._paused_by_us)
        self.channel.finish()
        self.downtime_ms = (time.monotonic() - t0) * 1000
        self.end_time = time.monotonic()
        self.channel.close()
        m.control.postmigrate = True
        self._finish("completed")

    def cancel(self) -> None:
        if not self.active:
            return
        self._set("cancelling")
        self._abort()
        self._finish("cancelled")

    def _fail(self, why: str):
        self.error = why
        self._abort()
        self._finish("failed")

    def _abort(self):
        """Stop logging, drop the channel (a partial file is removed), run on."""
        phys = self.machine.phys
        if phys.dirty_logging:
            phys.stop_dirty_log()
        if self.channel is not None:
            self.channel.close(failed=True)
        if self._paused_by_us:
            self._paused_by_us = False
            self.machine.control.cont()

    def _finish(self, status: str):
        self.end_time = self.end_time or time.monotonic()
        self.machine.control.migrating = False
        if self in self.machine.tasks:
            self.machine.tasks.remove(self)
        self._set(status)
        for callback in list(self.on_finish):
            callback(self)
