"""Host side of a serial port: where transmitted characters go and input comes from.

A backend offers `write(data)`, a never-blocking `read(max_bytes)`, and `fileno()`: a file
descriptor that becomes readable when input is there (for the machine loop's select()), or
None when there is nothing to wait on.  `CharFrontend` joins a backend to a device's receive
path the way QEMU's char front end does: it reads only as much as the device can take now, and
keeps anything the device refused for the next `pump()`, so no input is lost.

Specs accepted by `open_chardev`: "stdio", "file:PATH" (output only), "null"/"none".
"""
from __future__ import annotations

import atexit
import errno
import os
import select
import termios
import threading


class CharBackend:
    def fileno(self) -> int | None:
        """A descriptor that is readable when `read` has data; None: no input to wait for."""
        return None

    def read(self, max_bytes: int) -> bytes:
        """Input available now, at most max_bytes; b"" when there is none.  Never blocks."""
        return b""

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class NullBackend(CharBackend):
    """Discards output, never has input."""

    def write(self, data: bytes) -> None:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            # Someone else set O_NONBLOCK on the shared file description: wait for room.
            select.select([], [fd], [])
            continue
        except InterruptedError:
            continue
        view = view[n:]


class StdioBackend(CharBackend):
    """The terminal (or whatever stdin/stdout are).

    When stdin is a terminal it is put in raw mode, as QEMU's stdio chardev does: no echo,
    no line editing, no CR/LF translation on input, 8-bit characters; output processing
    (OPOST) stays on.  With signals=False, ^C/^Z/^\\ go to the guest instead of the host
    process (QEMU's `signal=off`, the -nographic default).  The terminal is restored on
    close() and at interpreter exit.  stdin is never made non-blocking (it usually shares
    its file description with stdout); `read` uses select() with a zero timeout instead.
    """

    def __init__(self, stdin: int = 0, stdout: int = 1, signals: bool = True):
        self._in = stdin
        self._out = stdout
        self.eof = False
        self._saved = None
        if os.isatty(stdin):
            self._saved = termios.tcgetattr(stdin)
            attrs = termios.tcgetattr(stdin)
            attrs[0] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP
                          | termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON)
            attrs[1] |= termios.OPOST
            attrs[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.IEXTEN)
            if not signals:
                attrs[3] &= ~termios.ISIG
            attrs[2] &= ~(termios.CSIZE | termios.PARENB)
            attrs[2] |= termios.CS8
            attrs[6][termios.VMIN] = 1
            attrs[6][termios.VTIME] = 0
            termios.tcsetattr(stdin, termios.TCSANOW, attrs)
            atexit.register(self.restore)

    def fileno(self) -> int | None:
        return None if self.eof else self._in

    def read(self, max_bytes: int) -> bytes:
        if self.eof or max_bytes <= 0:
            return b""
        try:
            ready, _, _ = select.select([self._in], [], [], 0)
            if not ready:
                return b""
            data = os.read(self._in, max_bytes)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as e:
            if e.errno != errno.EIO:        # EIO: the terminal went away
                raise
            data = b""
        if not data:
            self.eof = True                 # stop offering a descriptor that stays readable
        return data

    def write(self, data: bytes) -> None:
        try:
            _write_all(self._out, data)
        except BrokenPipeError:
            pass                            # nobody reads the console any more; the guest goes on

    def restore(self) -> None:
        if self._saved is not None:
            try:
                termios.tcsetattr(self._in, termios.TCSADRAIN, self._saved)
            except termios.error:
                pass
            self._saved = None

    def close(self) -> None:
        self.restore()
        atexit.unregister(self.restore)


class FileBackend(CharBackend):
    """Output appended to a file created (or truncated) at open, as QEMU's file chardev."""

    def __init__(self, path: str):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def write(self, data: bytes) -> None:
        if self._fd is not None:
            _write_all(self._fd, data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class MemoryBackend(CharBackend):
    """In-memory, for tests and embedding: `feed()` queues input (from any thread), what the
    device transmits collects in `output`.  A pipe makes fileno() selectable."""

    def __init__(self):
        self.output = bytearray()
        self._input = bytearray()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def feed(self, data: bytes) -> None:
        with self._lock:
            self._input += data
            if data:
                try:
                    os.write(self._wake_w, b"\0")
                except BlockingIOError:
                    pass                    # the pipe is already readable

    def fileno(self) -> int | None:
        return self._wake_r

    def read(self, max_bytes: int) -> bytes:
        with self._lock:
            data = bytes(self._input[:max(0, max_bytes)])
            del self._input[:len(data)]
            if not self._input:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            return data

    def write(self, data: bytes) -> None:
        self.output += data

    def take_output(self) -> bytes:
        data = bytes(self.output)
        self.output.clear()
        return data

    def close(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


class CharFrontend:
    """Feeds a backend's input to a device with `receive(bytes) -> int` and
    `can_receive() -> int` (the PL011), holding back what the device cannot take yet."""

    def __init__(self, backend: CharBackend, device):
        self.backend = backend
        self.device = device
        self._pending = bytearray()

    def fileno(self) -> int | None:
        """The descriptor to select() on, or None when waiting on it is pointless: the
        device is full, or input is already held back (call `pump` after the guest reads)."""
        if self._pending or self.device.can_receive() <= 0:
            return None
        return self.backend.fileno()

    def pump(self) -> int:
        """Move input into the device; returns how many bytes it took."""
        taken = 0
        if self._pending:
            n = self.device.receive(bytes(self._pending))
            del self._pending[:n]
            taken += n
            if self._pending:
                return taken
        room = self.device.can_receive()
        if room > 0:
            data = self.backend.read(room)
            if data:
                n = self.device.receive(data)
                self._pending += data[n:]
                taken += n
        return taken

    @property
    def pending(self) -> int:
        """Bytes read from the host but not yet accepted by the device."""
        return len(self._pending)


def open_chardev(spec: str, **kw) -> CharBackend:
    """Backend for a command-line spec: "stdio", "file:PATH", "null" or "none"."""
    if spec == "stdio":
        return StdioBackend(**kw)
    if spec.startswith("file:") and len(spec) > 5:
        return FileBackend(spec[5:])
    if spec in ("null", "none"):
        return NullBackend()
    raise ValueError(f"unknown character device {spec!r} (stdio, file:PATH, null)")
