"""`dbt-vm migrate`: drive a running VM's migration through its QMP socket, with a progress
bar (transferred, remaining, dirty rate) and a final summary, as a management tool would:
qmp_capabilities, migrate-set-parameters, migrate, then query-migrate until a terminal
status.  Ctrl-C cancels the migration (migrate_cancel) and the source keeps running.
"""
from __future__ import annotations

import json
import socket
import sys
import time

from ..machine.mainloop import parse_socket_spec

POLL_S = 0.2


class QMPClientError(Exception):
    pass


class QMPClient:
    def __init__(self, spec: str, timeout: float = 10.0):
        try:
            kind, where = parse_socket_spec(spec)
        except ValueError as exc:
            raise QMPClientError(str(exc)) from None
        family = socket.AF_UNIX if kind == "unix" else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(where)
        except OSError as exc:
            raise QMPClientError(f"cannot connect to QMP at {spec}: "
                                 f"{exc.strerror or exc}") from None
        self._buf = b""
        greeting = self._message()
        if "QMP" not in greeting:
            raise QMPClientError("the socket does not speak QMP")
        self.execute("qmp_capabilities")

    def _message(self) -> dict:
        while b"\n" not in self._buf:
            try:
                chunk = self.sock.recv(65536)
            except OSError as exc:
                raise QMPClientError(f"QMP connection failed: {exc.strerror or exc}") from None
            if not chunk:
                raise QMPClientError("the VM closed the QMP connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise QMPClientError(f"not JSON from QMP: {line[:80]!r}") from None

    def execute(self, command: str, arguments: dict | None = None):
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._message()
            if "event" in reply:
                continue
            if "error" in reply:
                raise QMPClientError(f"{command}: {reply['error'].get('desc', reply['error'])}")
            return reply.get("return")

    def close(self):
        self.sock.close()


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _bar(info: dict, width: int = 30) -> str:
    ram = info.get("ram", {})
    total = ram.get("total") or 1
    done = max(0.0, min(1.0, 1 - ram.get("remaining", total) / total))
    fill = int(done * width)
    return (f"[{'#' * fill}{'.' * (width - fill)}] {info['status']:<10} "
            f"sent {_mib(ram.get('transferred', 0))}, remaining "
            f"{_mib(ram.get('remaining', 0))}, dirty {ram.get('dirty-pages-rate', 0)} pages/s, "
            f"pass {ram.get('dirty-sync-count', 0)}")


def summary(info: dict) -> str:
    ram = info.get("ram", {})
    lines = [f"migration {info['status']}: total {info.get('total-time', 0)} ms"]
    if "downtime" in info:
        lines[0] += f", downtime {info['downtime']} ms"
    if "setup-time" in info:
        lines[0] += f", setup {info['setup-time']} ms"
    if ram:
        lines.append(f"  sent {ram['transferred']} bytes for {ram['total']} bytes of RAM "
                     f"({ram['normal']} data pages, {ram['duplicate']} zero pages, "
                     f"{ram['dirty-sync-count']} passes, {ram['mbps']:.1f} Mbit/s)")
    if "error-desc" in info:
        lines.append(f"  error: {info['error-desc']}")
    return "\n".join(lines)


def migrate(qmp: str, to: str, downtime_limit=None, max_bandwidth=None, out=sys.stderr) -> int:
    """Run one migration; 0 when it completed, 1 when it failed or was cancelled."""
    uri = to if to.split(":", 1)[0] in ("tcp", "unix", "file") else f"tcp:{to}"
    client = QMPClient(qmp)
    try:
        params = {}
        if downtime_limit is not None:
            params["downtime-limit"] = downtime_limit
        if max_bandwidth is not None:
            params["max-bandwidth"] = max_bandwidth
        if params:
            client.execute("migrate-set-parameters", params)
        client.execute("migrate", {"uri": uri})
        tty = out.isatty()
        last_line = 0.0
        try:
            while True:
                info = client.execute("query-migrate")
                if info.get("status") in ("completed", "failed", "cancelled"):
                    break
                now = time.monotonic()
                if tty:
                    out.write("\r" + _bar(info) + "\x1b[K")
                    out.flush()
                elif now - last_line >= 1.0:
                    out.write(_bar(info) + "\n")
                    last_line = now
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            client.execute("migrate_cancel")
            info = client.execute("query-migrate")
        if tty:
            out.write("\r" + _bar(info) + "\x1b[K\n")
        out.write(summary(info) + "\n")
        return 0 if info.get("status") == "completed" else 1
    finally:
        client.close()
