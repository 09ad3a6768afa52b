"""The emulated process: its memory, file descriptors, signal dispositions and how it ends.

Guest file descriptors map to host descriptors through a table (guest numbers are allocated
lowest-free, as the kernel does); each guest descriptor owns its host descriptor, so close() is
always a host close().
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

SIG_DFL, SIG_IGN = 0, 1
SIGNAL_NAMES = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
                7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV",
                12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 17: "SIGCHLD",
                18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 23: "SIGURG", 28: "SIGWINCH"}
DEFAULT_IGNORED = {17, 18, 23, 28}       # SIGCHLD, SIGCONT, SIGURG, SIGWINCH


class ProcessExit(Exception):
    """The guest process ends: exit status, or killed by a signal (status 128 + signal)."""

    def __init__(self, status: int, signal: int = 0, message: str | None = None):
        super().__init__(message or f"exit {status}")
        self.status = status
        self.signal = signal
        self.message = message


@dataclass
class FileDesc:
    host: int
    cloexec: bool = False


class Process:
    def __init__(self, mm, engine, exe: str):
        self.mm = mm
        self.space = mm.space
        self.engine = engine
        self.state = engine.state
        self.exe = os.path.abspath(exe)
        self.fds: dict[int, FileDesc] = {n: FileDesc(n) for n in (0, 1, 2)
                                         if _valid_fd(n)}
        self.sigactions: dict[int, bytes] = {}   # signal -> struct sigaction (32 bytes)
        self.sigmask = 0
        self.altstack = None
        self.pid = os.getpid()
        self.reported: set = set()
        self.clear_child_tid = 0
        # for the guest's /proc/self files
        self.image_ranges: tuple = ()
        self.auxv = b""
        self.cmdline = b""
        # our own messages go to the original stderr even if the guest closes or reuses fd 2
        try:
            self.err = os.dup(2)
        except OSError:
            self.err = -1

    # -- messages ---------------------------------------------------------------------------
    def warn(self, msg: str):
        data = f"dbt-run: {msg}\n".encode(errors="replace")
        try:
            os.write(self.err, data)
        except OSError:
            sys.stderr.write(data.decode())

    def warn_once(self, key, msg: str):
        if key not in self.reported:
            self.reported.add(key)
            self.warn(msg)

    # -- file descriptors -------------------------------------------------------------------
    def lowest_free_fd(self, start: int = 0) -> int:
        n = start
        while n in self.fds:
            n += 1
        return n

    def install(self, host: int, cloexec: bool = False, at_least: int = 0) -> int:
        n = self.lowest_free_fd(at_least)
        self.fds[n] = FileDesc(host, cloexec)
        return n

    def host_fd(self, fd: int) -> int | None:
        d = self.fds.get(fd)
        return None if d is None else d.host

    # -- signals ----------------------------------------------------------------------------
    def handler(self, sig: int) -> int:
        act = self.sigactions.get(sig)
        return int.from_bytes(act[:8], "little") if act else SIG_DFL

    def raise_signal(self, sig: int):
        """Deliver a signal to the guest: signal handlers cannot run (no signal frames yet),
        so anything not ignored terminates the process with status 128 + sig."""
        h = self.handler(sig)
        if h == SIG_IGN or (h == SIG_DFL and sig in DEFAULT_IGNORED):
            return
        name = SIGNAL_NAMES.get(sig, f"signal {sig}")
        extra = " (its handler cannot run under dbt-run)" if h != SIG_DFL else ""
        # like a shell, stay quiet about the signals that end pipelines and interrupted runs
        quiet = sig in (2, 13) and not extra
        raise ProcessExit(128 + sig, sig, None if quiet else f"guest killed by {name}{extra}")


def _valid_fd(n: int) -> bool:
    try:
        os.fstat(n)
        return True
    except OSError:
        return False
