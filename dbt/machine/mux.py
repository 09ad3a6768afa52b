"""QEMU's `-serial mon:stdio` / `-nographic` multiplexer: one terminal shared by the serial
console and the monitor.

Input goes to the serial port until `Ctrl-a c` hands it to the monitor (and back).  The
escape works whichever side has the input:
    C-a h / C-a ?   print the escape help
    C-a x           quit ("QEMU: Terminated")
    C-a c           switch between console and monitor
    C-a b           send a break to the serial port (when the board offers one)
    C-a C-a         a literal C-a
any other key after C-a is swallowed, as in QEMU.  Guest output keeps reaching the terminal
while the monitor has the input.

The mux reads the terminal itself (`pump`, or `read` on behalf of the serial port) so the
escape works even while the guest does not read its UART; bytes for the serial port wait
in order, up to MAX_PENDING, after which the terminal is not read until the guest catches
up.
"""
from __future__ import annotations

from .chardev import CharBackend
from .control import CommandError

ESCAPE = 0x01                   # Ctrl-a
MAX_PENDING = 4096
READ_SIZE = 4096


class MuxBackend(CharBackend):
    """A CharBackend over `backend` (the terminal) whose input is split between the serial
    port (what `read` returns) and a monitor made by `monitor_factory(write)` — an
    hmp.Monitor with echo on, writing to the terminal.  The monitor is made when first
    needed, so the factory may refer to a machine built after the mux.  `send_break()`,
    if given, is what C-a b does."""

    def __init__(self, backend: CharBackend, monitor_factory, send_break=None):
        self.backend = backend
        self._monitor_factory = monitor_factory
        self._monitor = None
        self.send_break = send_break
        self.focus_monitor = False
        self._pending = bytearray()             # serial input not read by the port yet
        self._escape = False

    @property
    def monitor(self):
        if self._monitor is None:
            self._monitor = self._monitor_factory(self.backend.write)
        return self._monitor

    # -- CharBackend ----------------------------------------------------------------------
    def fileno(self) -> int | None:
        """The terminal, while there is room for what it may send."""
        if len(self._pending) >= MAX_PENDING:
            return None
        return self.backend.fileno()

    def read(self, max_bytes: int) -> bytes:
        if len(self._pending) < max_bytes:
            self.pump()
        data = bytes(self._pending[:max(0, max_bytes)])
        del self._pending[:len(data)]
        return data

    def write(self, data: bytes) -> None:
        self.backend.write(data)

    def close(self) -> None:
        self.backend.close()

    @property
    def pending(self) -> int:
        """Serial input held for the port."""
        return len(self._pending)

    # -- input ----------------------------------------------------------------------------
    def pump(self) -> int:
        """Read what the terminal has (without blocking) and route it; returns how many
        bytes were taken from the terminal."""
        taken = 0
        while len(self._pending) < MAX_PENDING:
            data = self.backend.read(READ_SIZE)
            if not data:
                break
            taken += len(data)
            self.process(data)
        return taken

    def process(self, data: bytes) -> None:
        """Route input bytes: escapes acted on, the rest to whoever has the focus."""
        i, n = 0, len(data)
        while i < n:
            if self._escape:
                self._escape = False
                self._command(data[i])
                i += 1
                continue
            j = data.find(ESCAPE, i)
            end = n if j < 0 else j
            if end > i:
                self._deliver(data[i:end])
            if j < 0:
                break
            self._escape = True
            i = j + 1

    def _deliver(self, data: bytes) -> None:
        if self.focus_monitor:
            self.monitor.feed(data)
        else:
            self._pending += data

    def _command(self, c: int) -> None:
        if c == ESCAPE:
            self._deliver(bytes((ESCAPE,)))
        elif c in (ord("h"), ord("?")):
            self.backend.write(self.help_text().encode())
        elif c == ord("x"):
            self.backend.write(b"QEMU: Terminated\n\r")
            try:
                self.monitor.control.quit()
            except CommandError as e:
                self.backend.write(f"Error: {e.desc}\n\r".encode())
        elif c == ord("c"):
            self.focus_monitor = not self.focus_monitor
            if self.focus_monitor:
                self.monitor.focus_in()
            else:
                self.monitor.focus_out()
        elif c == ord("b") and self.send_break is not None:
            self.send_break()

    def help_text(self) -> str:
        lines = ["C-a h    print this help", "C-a x    exit emulator"]
        if self.send_break is not None:
            lines.append("C-a b    send break (magic sysrq)")
        lines += ["C-a c    switch between console and monitor", "C-a C-a  sends C-a"]
        return "\n\r" + "".join(line + "\n\r" for line in lines)
