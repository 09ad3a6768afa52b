"""The migration stream's framing (docs/migration-format.md): a header, then records, each
checked on its own as it arrives.

    header   MAGIC (8 bytes) | version u16 | flags u16                 (little-endian)
    record   type u8 | length u32 | payload | crc32 u32 [| mac 32 bytes]

The CRC covers type, length and payload.  With a shared secret (flag AUTHENTICATED) each
record also carries HMAC-SHA256(secret, previous mac | type | length | payload), the chain
starting from the header, so a record cannot be altered, dropped, reordered or replayed from
another stream without the next check failing.  The reader never trusts a length before it
has checked it against the limit for that record type.
"""
from __future__ import annotations

import hashlib
import hmac
import struct
import zlib

import msgpack

MAGIC = b"\x89DBTVMS\n"        # a high byte and a newline: text-mode transfers break it
VERSION = 1                     # this writer's format; the reader accepts 1..VERSION
FLAG_AUTHENTICATED = 1
HEADER = struct.Struct("<8sHH")
RECORD = struct.Struct("<BI")
CRC = struct.Struct("<I")
MAC_SIZE = 32

# record types
CONFIG, RAM, SECTION, END = 1, 2, 3, 4
TYPE_NAMES = {CONFIG: "config", RAM: "ram", SECTION: "section", END: "end"}
# the largest payload each type may have: a RAM record is at most one chunk of pages; a
# section holds a component's state (the loader's images can be tens of MiB)
MAX_PAYLOAD = {CONFIG: 1 << 16, RAM: (1 << 20) + 4096, SECTION: 256 << 20, END: 1 << 12}


class MigrationError(Exception):
    """A stream that cannot be accepted (or a transport failure); the text says why."""


def pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpack(payload: bytes, what: str):
    """msgpack from an untrusted payload: any decoding problem is a MigrationError."""
    try:
        # unpackb bounds every length by the payload's own size
        return msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as exc:                    # noqa: BLE001 -- any malformed input
        raise MigrationError(f"{what}: malformed msgpack ({exc})") from None


class Writer:
    """Writes a stream to `sink` (a callable taking bytes), counting the bytes."""

    def __init__(self, sink, secret: bytes | None = None):
        self.sink = sink
        self.secret = secret
        self.bytes = 0
        self.records = 0
        header = HEADER.pack(MAGIC, VERSION, FLAG_AUTHENTICATED if secret else 0)
        self._mac = hmac.new(secret, header, hashlib.sha256).digest() if secret else b""
        self._send(header)

    def _send(self, data: bytes):
        self.sink(data)
        self.bytes += len(data)

    def record(self, rtype: int, payload: bytes):
        if len(payload) > MAX_PAYLOAD[rtype]:
            raise MigrationError(f"{TYPE_NAMES[rtype]} record of {len(payload)} bytes is "
                                 "over the format's limit")
        head = RECORD.pack(rtype, len(payload))
        out = [head, payload, CRC.pack(zlib.crc32(payload, zlib.crc32(head)))]
        if self.secret:
            m = hmac.new(self.secret, self._mac, hashlib.sha256)
            m.update(head)
            m.update(payload)
            self._mac = m.digest()
            out.append(self._mac)
        self._send(b"".join(out))
        self.records += 1


class Reader:
    """Reads and checks a stream from `source`, a callable(n) returning exactly n bytes or
    fewer at the end of the stream (see `exact_reader`)."""

    def __init__(self, source, secret: bytes | None = None):
        self.source = source
        self.secret = secret
        self.bytes = 0
        self.records = 0
        header = self._read(HEADER.size, "the header")
        magic, self.version, flags = HEADER.unpack(header)
        if magic != MAGIC:
            raise MigrationError("not a dbt-vm migration stream (bad magic)")
        if not 1 <= self.version <= VERSION:
            raise MigrationError(f"stream format version {self.version} is not supported "
                                 f"(this dbt-vm reads versions 1 to {VERSION})")
        if flags & ~FLAG_AUTHENTICATED:
            raise MigrationError(f"unknown stream flags {flags:#x}")
        self.authenticated = bool(flags & FLAG_AUTHENTICATED)
        if secret and not self.authenticated:
            raise MigrationError("the stream is not authenticated but --migrate-secret is set")
        if self.authenticated and not secret:
            raise MigrationError("the stream is authenticated: start the destination with "
                                 "the source's --migrate-secret")
        self._mac = hmac.new(secret, header, hashlib.sha256).digest() if secret else b""

    def _read(self, n: int, what: str) -> bytes:
        data = self.source(n)
        if len(data) != n:
            raise MigrationError(f"stream truncated in {what} "
                                 f"(at byte {self.bytes + len(data)})")
        self.bytes += n
        return data

    def record(self) -> tuple[int, bytes]:
        """The next record (type, payload), checked."""
        where = f"record {self.records + 1}"
        head = self._read(RECORD.size, where)
        rtype, length = RECORD.unpack(head)
        if rtype not in MAX_PAYLOAD:
            raise MigrationError(f"{where}: unknown record type {rtype}")
        if length > MAX_PAYLOAD[rtype]:
            raise MigrationError(f"{where}: {TYPE_NAMES[rtype]} record of {length} bytes is "
                                 "over the format's limit")
        payload = self._read(length, where)
        (crc,) = CRC.unpack(self._read(CRC.size, where))
        if crc != zlib.crc32(payload, zlib.crc32(head)):
            raise MigrationError(f"{where} ({TYPE_NAMES[rtype]}): checksum mismatch")
        if self.secret:
            mac = self._read(MAC_SIZE, where)
            m = hmac.new(self.secret, self._mac, hashlib.sha256)
            m.update(head)
            m.update(payload)
            self._mac = m.digest()
            if not hmac.compare_digest(mac, self._mac):
                raise MigrationError(f"{where} ({TYPE_NAMES[rtype]}): authentication failed "
                                     "(wrong secret or tampered stream)")
        self.records += 1
        return rtype, payload


def exact_reader(read):
    """Turn read(n) -> up to n bytes (a file, a socket's recv) into read-exactly-n; fewer
    bytes only at the end of the stream."""
    def source(n: int) -> bytes:
        parts, got = [], 0
        while got < n:
            chunk = read(n - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)
    return source


def read_secret(path: str) -> bytes:
    """The contents of a --migrate-secret file (surrounding whitespace dropped)."""
    try:
        with open(path, "rb") as f:
            secret = f.read().strip()
    except OSError as exc:
        raise MigrationError(f"cannot read the migration secret: {exc.strerror}: "
                             f"{path}") from None
    if len(secret) < 16:
        raise MigrationError(f"the migration secret in {path} is shorter than 16 bytes")
    return secret
