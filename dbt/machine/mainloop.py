"""The machine's event loop: file-descriptor callbacks run on the machine's own thread.

The scheduler calls `poll(0)` between rounds (one epoll_wait when nothing is ready) and
`poll(timeout)` when every vCPU waits, so monitor, QMP and console input are served without
threads and a callback never races guest execution.

Also here: the socket plumbing the monitor and QMP servers share — QEMU-style address specs
(`unix:PATH[,server][,wait=off]`, `tcp:HOST:PORT`), a listener, and `StreamConnection`, a
non-blocking socket with buffered output that never blocks the loop on a slow reader.
"""
from __future__ import annotations

import collections
import logging
import os
import selectors
import socket
import stat

log = logging.getLogger(__name__)


class MainLoop:
    def __init__(self):
        # poll(2), not epoll: epoll refuses regular files, and stdin may be one (< /dev/null)
        self._selector = selectors.PollSelector()
        self._readers: dict[int, object] = {}
        self._writers: dict[int, object] = {}
        self._watches: list = []            # [fileno_fn, callback, fd registered or None]
        self._soon = collections.deque()
        # call_soon_threadsafe wakes a sleeping poll() through this pipe
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.add_reader(self._wake_r, self._drain_wakeups)

    # -- registration ---------------------------------------------------------------------
    def add_reader(self, fd: int, callback) -> None:
        """Run callback() whenever fd is readable.  Registering an fd again replaces its
        callback (free when nothing changes)."""
        if self._readers.get(fd) is callback:
            return
        self._readers[fd] = callback
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._update(fd)

    def add_writer(self, fd: int, callback) -> None:
        if self._writers.get(fd) is callback:
            return
        self._writers[fd] = callback
        self._update(fd)

    def remove_writer(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._update(fd)

    def watch(self, fileno, callback) -> None:
        """A reader whose descriptor may change or go away: fileno() is asked before every
        poll and returns the fd to wait on, or None to wait on nothing.  For input that must
        not be waited on while its consumer is full (the serial console)."""
        self._watches.append([fileno, callback, None])

    def unwatch(self, fileno) -> None:
        for w in [w for w in self._watches if w[0] is fileno]:
            if w[2] is not None:
                self.remove_reader(w[2])
            self._watches.remove(w)

    def call_soon(self, fn) -> None:
        """Run fn() at the next poll, before waiting on anything."""
        self._soon.append(fn)

    def call_soon_threadsafe(self, fn) -> None:
        """call_soon from another thread, waking a poll that sleeps."""
        self._soon.append(fn)
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass                                # already signalled

    def _update(self, fd: int) -> None:
        mask = ((selectors.EVENT_READ if fd in self._readers else 0)
                | (selectors.EVENT_WRITE if fd in self._writers else 0))
        try:
            self._selector.get_key(fd)
            registered = True
        except KeyError:
            registered = False
        if not mask:
            if registered:
                self._selector.unregister(fd)
        elif registered:
            self._selector.modify(fd, mask)
        else:
            self._selector.register(fd, mask)

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    # -- running --------------------------------------------------------------------------
    def poll(self, timeout: float | None = 0) -> bool:
        """Run deferred calls and the callbacks of ready descriptors, waiting at most
        `timeout` seconds for one (0: just look; None: until something happens).
        Returns whether any callback ran (the wake-up pipe does not count)."""
        ran = False
        if self._soon:
            for _ in range(len(self._soon)):    # not those queued meanwhile: no livelock
                self._soon.popleft()()
            ran = True
            timeout = 0
        for w in self._watches:
            fd = w[0]()
            if fd != w[2]:
                if w[2] is not None:
                    self.remove_reader(w[2])
                if fd is not None:
                    self.add_reader(fd, w[1])
                w[2] = fd
        for key, mask in self._selector.select(timeout):
            fd = key.fd
            # a callback may have dropped another descriptor: look each one up afresh
            if mask & selectors.EVENT_READ:
                cb = self._readers.get(fd)
                if cb is not None:
                    cb()
                    ran = ran or fd != self._wake_r
            if mask & selectors.EVENT_WRITE:
                cb = self._writers.get(fd)
                if cb is not None:
                    cb()
                    ran = True
        return ran

    def close(self) -> None:
        self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)


# -- sockets -------------------------------------------------------------------------------
def parse_socket_spec(spec: str) -> tuple[str, object]:
    """QEMU's `unix:PATH[,opts]` / `tcp:HOST:PORT[,opts]` -> ("unix", path) or
    ("tcp", (host, port)).  `server`, `server=on`, `nowait`, `wait=on|off` are accepted and
    change nothing: we always listen and never wait for a client before starting.  An
    empty HOST means 127.0.0.1 (QEMU: every interface) so a monitor is never exposed by
    accident; `[::1]` brackets an IPv6 address."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in ("unix", "tcp"):
        raise ValueError(f"'{spec}': expected unix:PATH or tcp:HOST:PORT")
    address, *opts = rest.split(",")
    for opt in opts:
        if opt not in ("server", "server=on", "nowait", "wait=off", "wait=on", "wait"):
            raise ValueError(f"'{spec}': unsupported option '{opt}' (we always listen: "
                             "server, nowait)")
    if kind == "unix":
        if not address:
            raise ValueError(f"'{spec}': missing socket path")
        return "unix", address
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"'{spec}': expected tcp:HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return "tcp", (host or "127.0.0.1", int(port))


def listen(spec: str) -> tuple[socket.socket, object]:
    """A non-blocking listening socket for `spec`; returns it and its bound address (the
    port chosen when the spec asked for port 0)."""
    kind, address = parse_socket_spec(spec)
    if kind == "unix":
        try:                                    # a stale socket from an earlier run
            if stat.S_ISSOCK(os.stat(address).st_mode):
                os.unlink(address)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(8)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock, sock.getsockname()


class StreamConnection:
    """One accepted client.  on_data(bytes) gets what arrives; write() never blocks: what
    the socket cannot take now is kept and sent when it can.  A client that stops reading
    is not read from either once OUTPUT_HIGH bytes wait (backpressure), and is dropped
    beyond OUTPUT_MAX (events keep coming even when it sends nothing)."""

    READ_SIZE = 65536
    OUTPUT_HIGH = 1 << 20
    OUTPUT_MAX = 16 << 20

    def __init__(self, loop: MainLoop, sock: socket.socket, on_data, on_close=None):
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.on_data = on_data
        self.on_close = on_close
        self.closed = False
        self._out = bytearray()
        self._reading = False
        sock.setblocking(False)
        self._resume_reading()

    def _resume_reading(self):
        if not self._reading and not self.closed:
            self._reading = True
            self.loop.add_reader(self.fd, self._readable)

    def _readable(self):
        try:
            data = self.sock.recv(self.READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self.on_data(data)

    def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        if not self._out:
            try:
                n = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self.close()
                return
            data = data[n:]
            if not data:
                return
            self.loop.add_writer(self.fd, self._writable)
        self._out += data
        if len(self._out) > self.OUTPUT_MAX:
            log.warning("monitor client not reading its output: disconnected")
            self.close()
        elif len(self._out) > self.OUTPUT_HIGH and self._reading:
            self._reading = False
            self.loop.remove_reader(self.fd)

    def _writable(self):
        try:
            n = self.sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        del self._out[:n]
        if not self._out:
            self.loop.remove_writer(self.fd)
        if len(self._out) <= self.OUTPUT_HIGH // 2:
            self._resume_reading()

    def close(self, flush_timeout: float = 0.0) -> None:
        """Drop the connection; with flush_timeout, first try that long to send what waits."""
        if self.closed:
            return
        if flush_timeout and self._out:
            try:
                self.sock.settimeout(flush_timeout)
                self.sock.sendall(self._out)
            except OSError:
                pass
        self.closed = True
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        self._out.clear()
        try:
            self.sock.close()
        except OSError:
            pass
        if self.on_close is not None:
            self.on_close(self)


class StreamServer:
    """Listens on a spec and makes one StreamConnection per client.  `session(conn)`
    returns the object whose `feed(bytes)` receives the client's input; its
    `connection_lost()`, if it has one, is called when the client goes."""

    def __init__(self, loop: MainLoop, spec: str, session):
        self.loop = loop
        self.spec = spec
        self._session = session
        self.sock, self.address = listen(spec)
        self._unix_path = self.address if isinstance(self.address, str) else None
        self.sessions: dict[StreamConnection, object] = {}
        loop.add_reader(self.sock.fileno(), self._accept)

    def _accept(self):
        try:
            sock, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:                    # EMFILE and friends: keep serving the others
            log.warning("monitor: accept failed: %s", e)
            return
        conn = StreamConnection(self.loop, sock, None, self._closed)
        session = self._session(conn)
        conn.on_data = session.feed             # nothing is read before the next poll
        if not conn.closed:
            self.sessions[conn] = session

    def _closed(self, conn):
        session = self.sessions.pop(conn, None)
        lost = getattr(session, "connection_lost", None)
        if lost is not None:
            lost()

    def close(self, flush_timeout: float = 0.2) -> None:
        for conn in list(self.sessions):
            conn.close(flush_timeout)
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
            if self._unix_path:
                try:
                    os.unlink(self._unix_path)
                except OSError:
                    pass
