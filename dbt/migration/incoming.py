"""The destination side: `dbt-vm boot --incoming file:PATH | tcp:[HOST]:PORT | unix:PATH`.

A network destination listens (loopback unless a host is given), accepts one connection,
reads the whole stream, loads it, and answers "OK\\n" on the same connection -- or
"ERR <why>\\n", and the destination exits non-zero; the source then keeps running.  A stream
that stops arriving for IDLE_TIMEOUT_S is an error too.
"""
from __future__ import annotations

import os
import socket

from .outgoing import parse_uri
from .snapshot import Received, receive
from .stream import MigrationError, Reader, exact_reader

IDLE_TIMEOUT_S = 120.0


class Listener:
    """The listening end of a network --incoming; `address` is what it is bound to (the
    real port for port 0)."""

    def __init__(self, uri: str):
        self.kind, where = parse_uri(uri)
        if self.kind == "file":
            raise ValueError("a file is not listened on")
        family = socket.AF_UNIX if self.kind == "unix" else socket.AF_INET
        if self.kind == "tcp" and ":" in where[0]:
            family = socket.AF_INET6
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if self.kind == "unix":
                if os.path.exists(where):
                    os.unlink(where)
            else:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(where)
            self.sock.listen(1)
        except OSError as exc:
            self.sock.close()
            raise MigrationError(f"cannot listen on {uri}: {exc.strerror or exc}") from None
        bound = self.sock.getsockname()
        self.address = f"unix:{bound}" if self.kind == "unix" else f"tcp:{bound[0]}:{bound[1]}"

    def accept(self) -> socket.socket:
        conn, _ = self.sock.accept()
        self.sock.close()
        conn.settimeout(IDLE_TIMEOUT_S)
        return conn


def _recv(conn):
    def read(n):
        try:
            return conn.recv(min(n, 1 << 20))
        except socket.timeout:
            raise MigrationError(f"the stream stalled for {IDLE_TIMEOUT_S:.0f} s") from None
        except OSError as exc:
            raise MigrationError(f"reading the stream failed: {exc.strerror or exc}") from None
    return exact_reader(read)


def load_file(path: str, make_machine, given=None, secret=None) -> Received:
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise MigrationError(f"cannot open {path}: {exc.strerror}") from None
    with f:
        return receive(Reader(exact_reader(f.read), secret), make_machine, given)


def serve(listener: Listener, make_machine, given=None, secret=None) -> Received:
    """Accept one connection on listener and load the stream it carries."""
    conn = listener.accept()
    try:
        try:
            got = receive(Reader(_recv(conn), secret), make_machine, given)
        except MigrationError as exc:
            _answer(conn, "ERR " + str(exc).replace("\n", " ") + "\n")
            raise
        _answer(conn, "OK\n")
        return got
    finally:
        conn.close()


def _answer(conn, text: str):
    try:
        conn.sendall(text.encode("utf-8", "replace")[:4000])
    except OSError:
        pass                        # the source is gone; it learns nothing either way
