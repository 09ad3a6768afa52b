"""QMP: QEMU's JSON machine protocol over unix or TCP sockets (docs/interop/qmp-spec.rst).

Clients get the greeting, negotiate with `qmp_capabilities`, then run commands; events go
to every negotiated client.  Requests are checked the way QEMU checks them, with QEMU's
error classes and texts, and a command's arguments are checked against its declared
schema before the machine is touched.

Input is a byte stream of JSON values, as QEMU reads it: values may arrive split or
batched in any way, strings may be single-quoted, a lexical error (a stray character, a
control character, 0xFF) is reported and resynchronises the parser, and no message may
exceed MAX_MESSAGE_BYTES, MAX_TOKENS or MAX_NESTING (QEMU allows 64 MiB / 2 Mi tokens /
1024 levels; no QMP command here needs more than a few hundred bytes).  A message over a
limit gets one error and the rest of it is skipped without being stored.
"""
from __future__ import annotations

import json
import logging
import re
import time

from .control import CommandError, Control
from .mainloop import MainLoop, StreamServer

log = logging.getLogger(__name__)

VERSION = {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "dbt-vm"}

MAX_MESSAGE_BYTES = 1 << 20
MAX_TOKENS = 1 << 17
MAX_NESTING = 1024


# -- JSON stream ----------------------------------------------------------------------------
class JSONParseError(Exception):
    pass


_WS = re.compile(rb"[ \t\r\n]*")
def _string_body(quote: int):
    """A string's body in "unrolled loop" form: runs of plain bytes matched by one
    possessive class, escape pairs between them.  It stops at the closing quote, at a byte
    strings may not hold, or at a backslash whose escaped byte has not arrived."""
    plain = rb"[^" + bytes((quote,)) + rb"\\\x00-\x1f\xfe\xff]*+"
    return re.compile(plain + rb"(?:\\[^\x00-\x1f\xfe\xff]" + plain + rb")*+")


_STRING_BODY = {q: _string_body(q) for q in (0x22, 0x27)}
_NUMBER_CHARS = re.compile(rb"[0-9.eE+\-]*")
_NUMBER_OK = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_KEYWORD = re.compile(rb"[a-z]*")
_STRUCTURAL = frozenset(b"{}[]:,")
_PUNCT = {c: bytes((c,)) for c in _STRUCTURAL}
# after a lexical error, skip to a structural character, a control character other than
# TAB, or a byte that cannot occur in UTF-8 (QEMU's resynchronisation points)
_RESYNC = re.compile(rb"[{}\[\]:,\x00-\x08\x0a-\x1f\xfe\xff]")
# the rest of a string being skipped, up to its closing quote or a trailing backslash
_SKIP_STRING = {q: re.compile(rb"[^" + q + rb"\\]*+(?:\\.[^" + q + rb"\\]*+)*+", re.S)
                for q in (b'"', b"'")}
_SKIP_SEGMENT = re.compile(rb"[^\"'\x00-\x08\x0b\x0c\x0e-\x1f\xfe\xff]*+")
_SKIP_WORD = re.compile(rb"[^ \t\r\n{}\[\]:,\"']*")
_ESCAPES = {ord('"'): '"', ord("'"): "'", ord("\\"): "\\", ord("/"): "/", ord("b"): "\b",
            ord("f"): "\f", ord("n"): "\n", ord("r"): "\r", ord("t"): "\t"}


class JSONStream:
    """Incremental JSON framing: feed(bytes) -> list of (value, None) or (None, error text).

    Tokens of a message are collected until its braces and brackets balance (QEMU's
    streamer), then parsed.  States: normal lexing; `_recovering` (after a stray byte:
    skip to a resynchronisation point); `_skip_depth` (after a limit: skip the rest of the
    message, tracking only nesting and strings, storing nothing)."""

    def __init__(self):
        self._buf = bytearray()
        self._partial = None
        self._reset()
        self._recovering = False
        self._skip_depth: int | None = None
        self._skip_quote: bytes | None = None
        self._skip_escape = False

    def _reset(self):
        self._tokens: list = []
        self._size = 0
        self._depth = 0                         # open braces + brackets
        self._unbalanced = False

    def feed(self, data: bytes) -> list:
        out = []
        buf = self._buf
        buf += data
        n = len(buf)
        p = 0
        partial = self._partial                 # a token begun at buf[0]: (kind, resume)
        self._partial = None
        while p < n:
            if self._skip_depth is not None:
                p = self._skip(buf, p)
                continue
            if self._recovering:
                m = _RESYNC.search(buf, p)
                if m is None:
                    p = n
                    break
                self._recovering = False
                p = m.start()
                if buf[p] not in _STRUCTURAL:
                    p += 1                      # the control byte itself is consumed
                continue
            if partial is not None:
                c, resume = buf[p], partial[1]
                partial = None
            else:
                p = _WS.match(buf, p).end()
                if p >= n:
                    break
                c, resume = buf[p], p + 1
            if c in _STRUCTURAL:
                self._token(c, _PUNCT[c], out)
                p += 1
                continue
            if c == 0x22 or c == 0x27:
                kind, end = self._scan_string(buf, c, resume)
            elif c == 0x2d or 0x30 <= c <= 0x39:
                kind, end = "n", _NUMBER_CHARS.match(buf, resume).end()
                if end < n and not _NUMBER_OK.match(buf, p, end):
                    kind = "stray"
            elif 0x61 <= c <= 0x7a:
                kind, end = "k", _KEYWORD.match(buf, resume).end()
            elif c >= 0x80 and n - p < 4 and _utf8_incomplete(bytes(buf[p:])):
                kind, end = "", n               # a multi-byte character split across reads
            else:
                kind, end = "stray", p + 1
            if kind == "stray":
                out.append((None, self._stray(buf, p, end)))
                p = end
            elif kind == "more" or (end >= n and kind != "s"):  # it may go on: wait
                if self._size + n - p > MAX_MESSAGE_BYTES:
                    out.append((None, "JSON token size limit exceeded"))
                    self._start_skip(c, escape=end < n)
                    p = n
                    break
                self._partial = (kind, end - p)
                break
            else:
                self._token(kind, bytes(buf[p:end]), out)
                p = end
        del buf[:p]
        return out

    @staticmethod
    def _scan_string(buf, quote: int, pos: int):
        """("s", end) for a complete string, ("more", resume) when it goes on past the
        buffer (a trailing backslash is rescanned with its escaped byte), or
        ("stray", end) at a byte a string may not hold."""
        e = _STRING_BODY[quote].match(buf, pos).end()
        n = len(buf)
        if e >= n:
            return "more", n
        c = buf[e]
        if c == quote:
            return "s", e + 1
        if c == 0x5c:
            if e + 1 >= n:
                return "more", e                # resume at the backslash
            return "stray", e + 2
        return "stray", e + 1

    def _stray(self, buf, start, end) -> str:
        """A lexical error: report it, forget the message, skip to a resync point."""
        text = buf[start:end]
        if end - start == 1 and text[0] >= 0x80:
            text = buf[start:start + 4]
        shown = text.decode("utf-8", "replace")
        if end - start == 1:
            shown = shown[:1]
        self._reset()
        self._recovering = True
        return f"JSON parse error, stray '{shown}'"

    def _token(self, kind, text: bytes, out: list) -> None:
        if kind in (0x7b, 0x5b):
            self._depth += 1
        elif kind in (0x7d, 0x5d):
            self._depth -= 1
        self._tokens.append((kind, text))
        self._size += len(text)
        if self._depth <= 0:                    # balanced (or a stray closer): parse it
            tokens = self._tokens
            self._reset()
            try:
                out.append((_parse(tokens), None))
            except JSONParseError as e:
                out.append((None, f"JSON parse error, {e}"))
            return
        if self._size > MAX_MESSAGE_BYTES:
            error = "JSON token size limit exceeded"
        elif len(self._tokens) > MAX_TOKENS:
            error = "JSON token count limit exceeded"
        elif self._depth > MAX_NESTING:
            error = "JSON nesting depth limit exceeded"
        else:
            return
        out.append((None, error))
        self._start_skip()

    # -- skipping the rest of an over-limit message ----------------------------------------
    def _start_skip(self, first: int | None = None, escape=False):
        """Skip the rest of the message; `first` is the first byte of a token cut short
        (a quote: we are inside a string, `escape`: right after a backslash)."""
        self._skip_depth = self._depth
        self._skip_quote = bytes((first,)) if first in (0x22, 0x27) else None
        self._skip_escape = escape
        self._skip_word = first is not None and self._skip_quote is None
        self._reset()
        if first is None and self._skip_depth <= 0:
            self._skip_depth = None

    def _skip(self, buf: bytes, p: int) -> int:
        n = len(buf)
        if self._skip_quote is not None:
            if self._skip_escape:
                p += 1
                self._skip_escape = False
                if p >= n:
                    return p
            p = _SKIP_STRING[self._skip_quote].match(buf, p).end()
            if p >= n:
                return n
            if buf[p] == 0x5c:                  # a backslash whose escaped byte is to come
                self._skip_escape = True
                return n
            self._skip_quote = None             # buf[p] is the closing quote
            p += 1
        elif self._skip_word:
            p = _SKIP_WORD.match(buf, p).end()
            if p >= n:
                return n
            self._skip_word = False
        while self._skip_depth > 0:
            # a run without quotes or control bytes: count brackets in bulk unless the
            # message may end inside it
            end = _SKIP_SEGMENT.match(buf, p).end()
            seg = buf[p:end]
            closes = seg.count(b"}") + seg.count(b"]")
            if closes < self._skip_depth:
                self._skip_depth += seg.count(b"{") + seg.count(b"[") - closes
                p = end
            else:
                for i, c in enumerate(seg):
                    if c in (0x7b, 0x5b):
                        self._skip_depth += 1
                    elif c in (0x7d, 0x5d):
                        self._skip_depth -= 1
                        if self._skip_depth == 0:
                            p += i + 1
                            break
                else:
                    p = end
                if self._skip_depth == 0:
                    break
            if p >= n:
                return n
            c = buf[p]
            p += 1
            if c in (0x22, 0x27):
                self._skip_quote = bytes((c,))
                return p
            break                               # a control byte: resynchronise here
        self._skip_depth = None
        return p


def _utf8_incomplete(tail: bytes) -> bool:
    try:
        tail.decode("utf-8")
        return False
    except UnicodeDecodeError as e:
        return e.reason == "unexpected end of data"


def _parse(tokens: list):
    """One JSON value from a balanced token list, with QEMU's parse error texts.
    Iterative, so 1024 levels need no recursion."""
    stack: list = []                            # [container, state, pending key]
    result = _NOTHING = object()
    for kind, text in tokens:
        if result is not _NOTHING:
            raise JSONParseError("expecting value")
        top = stack[-1] if stack else None
        state = top[1] if top else "value"
        if state in ("key", "first_key"):
            if kind == 0x7d and state == "first_key":
                value = stack.pop()[0]
            elif kind == "k" and text not in (b"true", b"false", b"null"):
                raise JSONParseError(f"invalid keyword '{text.decode()}'")
            elif kind == "s":
                key = _string(text)
                if key in top[0]:
                    raise JSONParseError("duplicate key")
                top[2] = key
                top[1] = "colon"
                continue
            elif kind in _STRUCTURAL:
                raise JSONParseError("expecting value")
            else:
                raise JSONParseError("key is not a string in object")
        elif state == "colon":
            if kind != 0x3a:
                raise JSONParseError("missing : in object pair")
            top[1] = "value"
            continue
        elif state == "sep":
            if kind == 0x2c:
                top[1] = "key" if isinstance(top[0], dict) else "value"
                continue
            if kind == (0x7d if isinstance(top[0], dict) else 0x5d):
                value = stack.pop()[0]
            else:
                raise JSONParseError("expected separator in dict" if isinstance(top[0], dict)
                                     else "expected separator in list")
        elif kind == 0x5d and state == "first_value":
            value = stack.pop()[0]
        elif kind == 0x7b:
            stack.append([{}, "first_key", None])
            continue
        elif kind == 0x5b:
            stack.append([[], "first_value", None])
            continue
        elif kind == "s":
            value = _string(text)
        elif kind == "n":
            value = _number(text)
        elif kind == "k":
            if text not in (b"true", b"false", b"null"):
                raise JSONParseError(f"invalid keyword '{text.decode()}'")
            value = {b"true": True, b"false": False, b"null": None}[text]
        else:
            raise JSONParseError("expecting value")
        # a complete value: store it in its container, or it is the result
        if stack:
            top = stack[-1]
            if isinstance(top[0], dict):
                top[0][top[2]] = value
            else:
                top[0].append(value)
            top[1] = "sep"
        else:
            result = value
    if result is _NOTHING:
        raise JSONParseError("premature EOI")
    return result


def _string(token: bytes) -> str:
    body = token[1:-1]
    try:
        if b"\\" not in body:
            return body.decode("utf-8")
        parts = []
        for i, chunk in enumerate(re.split(rb"(\\u[0-9A-Fa-f]{4}|\\.)", body)):
            if i % 2 == 0:
                parts.append(chunk.decode("utf-8"))
            elif len(chunk) == 6:
                parts.append(chr(int(chunk[2:], 16)))
            elif chunk[1] in _ESCAPES:
                parts.append(_ESCAPES[chunk[1]])
            elif chunk[1] == 0x75:
                raise JSONParseError("invalid hex escape sequence in string")
            else:
                raise JSONParseError("invalid escape sequence in string")
        text = "".join(parts)
        # \u escapes may spell UTF-16 surrogate pairs
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeError:
        raise JSONParseError("invalid UTF-8 sequence in string") from None


def _number(token: bytes):
    if b"." in token or b"e" in token or b"E" in token:
        return float(token)
    value = int(token)
    if -(1 << 63) <= value < (1 << 64):
        return value
    return float(value)                         # as QEMU: beyond 64 bits becomes a double


# -- argument schemas -----------------------------------------------------------------------
class _ArgError(CommandError):
    def __init__(self, desc):
        super().__init__(desc, "GenericError")


_TYPES = {"str": ("string", lambda v: isinstance(v, str)),
          "int": ("integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
          "bool": ("boolean", lambda v: isinstance(v, bool)),
          "list": ("array", lambda v: isinstance(v, list))}


def check_arguments(schema: dict, args: dict, *, open_: bool = False) -> None:
    """QAPI's input checks in QEMU's order: each declared member (missing, then type),
    then members nobody declared.  schema: name -> type, '*name' for optional; a type may
    be ("list", item_type, allowed values)."""
    for decl, typ in schema.items():
        name = decl.lstrip("*")
        if name not in args:
            if not decl.startswith("*"):
                raise _ArgError(f"Parameter '{name}' is missing")
            continue
        value = args[name]
        item = None
        if isinstance(typ, tuple):
            typ, item, allowed = typ
        expected, ok = _TYPES[typ]
        if not ok(value):
            raise _ArgError(f"Invalid parameter type for '{name}', expected: {expected}")
        if item is not None:
            item_name, item_ok = _TYPES[item]
            for i, v in enumerate(value):
                if not item_ok(v):
                    raise _ArgError(f"Invalid parameter type for '{name}[{i}]', "
                                    f"expected: {item_name}")
                if allowed is not None and v not in allowed:
                    raise _ArgError(f"Parameter '{name}[{i}]' does not accept value '{v}'")
    if not open_:
        declared = {d.lstrip("*") for d in schema}
        for name in args:
            if name not in declared:
                raise _ArgError(f"Parameter '{name}' is unexpected")


# -- the protocol ---------------------------------------------------------------------------
class QMPSession:
    """One client's protocol state; replies go through write(bytes)."""

    def __init__(self, server: "QMPServer", write):
        self.server = server
        self.write = write
        self.negotiated = False
        self.oob = False
        self._stream = JSONStream()
        self.send({"QMP": {"version": VERSION, "capabilities": ["oob"]}})

    def send(self, obj) -> None:
        self.write(json.dumps(obj, default=_jsonable).encode("ascii") + b"\r\n")

    def feed(self, data: bytes) -> None:
        for value, error in self._stream.feed(data):
            if error is not None:
                self.send({"error": {"class": "GenericError", "desc": error}})
            else:
                self.handle(value)

    def handle(self, req) -> None:
        if not isinstance(req, dict):
            self.send(_error("GenericError", "QMP input must be a JSON object"))
            return
        has_id = "id" in req
        try:
            name, args, oob = self._check_request(req)
            value = self.server.execute(self, name, args, oob)
        except CommandError as e:
            reply = {"id": req["id"]} if has_id else {}
            reply.update(_error(e.cls, e.desc))
            self.send(reply)
            return
        reply = {"return": value}
        if has_id:
            reply["id"] = req["id"]
        self.send(reply)

    def _check_request(self, req: dict):
        for key in req:
            if key not in ("execute", "exec-oob", "arguments", "id") or \
                    (key == "exec-oob" and not self.oob):
                raise CommandError(f"QMP input member '{key}' is unexpected")
        if "execute" in req and "exec-oob" in req:
            raise CommandError("QMP input member 'execute' clashes with 'exec-oob'")
        oob = "exec-oob" in req
        key = "exec-oob" if oob else "execute"
        if key not in req:
            raise CommandError("QMP input lacks member 'execute'")
        name = req[key]
        if not isinstance(name, str):
            raise CommandError(f"QMP input member '{key}' must be a string")
        args = req.get("arguments", {})
        if not isinstance(args, dict):
            raise CommandError("QMP input member 'arguments' must be an object")
        return name, args, oob


def _error(cls, desc):
    return {"error": {"class": cls, "desc": desc}}


def _jsonable(obj):
    # numpy scalars and the like from the machine's state
    if hasattr(obj, "__index__"):
        return obj.__index__()
    if hasattr(obj, "__float__"):
        return float(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


class QMPServer:
    """Serves QMP on `spec` (unix:PATH[,server,nowait] or tcp:HOST:PORT) through `loop`,
    answering from `control`.  `address` is where it listens (the real port for port 0)."""

    def __init__(self, loop: MainLoop, control: Control, spec: str):
        self.control = control
        self._commands = {
            "qmp_capabilities": ({"*enable": ("list", "str", ("oob",))}, self._capabilities),
            "query-status": ({}, lambda s, a: control.query_status()),
            "query-cpus-fast": ({}, lambda s, a: control.query_cpus_fast()),
            "query-hotpluggable-cpus": ({}, lambda s, a: control.query_hotpluggable_cpus()),
            "device_add": ({"driver": "str", "*bus": "str", "*id": "str"}, self._device_add),
            "device_del": ({"id": "str"}, lambda s, a: control.device_del(a["id"])),
            "stop": ({}, lambda s, a: control.stop()),
            "cont": ({}, lambda s, a: control.cont()),
            "system_reset": ({}, lambda s, a: control.system_reset()),
            "system_powerdown": ({}, lambda s, a: control.system_powerdown()),
            "quit": ({}, lambda s, a: control.quit()),
            "migrate": ({"uri": "str", "*detach": "bool"},
                        lambda s, a: control.migrate(a["uri"])),
            "migrate_cancel": ({}, lambda s, a: control.migrate_cancel()),
            "query-migrate": ({}, lambda s, a: control.query_migrate()),
            "migrate-set-parameters": ({"*downtime-limit": "int", "*max-bandwidth": "int"},
                                       lambda s, a: control.migrate_set_parameters(a)),
            "query-migrate-parameters": ({}, lambda s, a: control.query_migrate_parameters()),
            "query-commands": ({}, lambda s, a: [{"name": n} for n in self._commands]),
            "query-version": ({}, lambda s, a: VERSION),
            "human-monitor-command": ({"command-line": "str", "*cpu-index": "int"},
                                      self._hmp),
        }
        self._server = StreamServer(loop, spec, lambda conn: QMPSession(self, conn.write))
        self.address = self._server.address
        control.listeners.append(self._event)

    def execute(self, session: QMPSession, name: str, args: dict, oob: bool = False):
        """Run one checked request for `session`; raises CommandError."""
        if not session.negotiated and name != "qmp_capabilities":
            raise CommandError("Expecting capabilities negotiation with 'qmp_capabilities'",
                               "CommandNotFound")
        if name not in self._commands:
            raise CommandError(f"The command {name} has not been found", "CommandNotFound")
        if oob:
            raise CommandError(f"The command {name} does not support OOB")
        schema, handler = self._commands[name]
        check_arguments(schema, args, open_=(name == "device_add"))
        try:
            value = handler(session, args)
        except CommandError:
            raise
        except Exception as e:                  # a machine bug must not take the VM down
            log.exception("QMP %s failed", name)
            raise CommandError(f"internal error: {e}") from e
        return {} if value is None else value

    def _capabilities(self, session, args):
        if session.negotiated:
            raise CommandError("Capabilities negotiation is already complete, command "
                               "ignored", "CommandNotFound")
        session.negotiated = True
        session.oob = "oob" in args.get("enable", [])

    def _device_add(self, session, args):
        self.control.device_add(dict(args), typed=True)

    def _hmp(self, session, args):
        from .hmp import run_command
        return run_command(self.control, args["command-line"])

    def _event(self, name: str, data: dict) -> None:
        now = time.time()
        event = {"timestamp": {"seconds": int(now), "microseconds": int(now % 1 * 1e6)},
                 "event": name}
        if data:
            event["data"] = data
        for session in list(self._server.sessions.values()):
            if session.negotiated:
                session.send(event)

    def close(self) -> None:
        """Stop listening and drop every client (trying briefly to flush their output)."""
        if self._event in self.control.listeners:
            self.control.listeners.remove(self._event)
        self._server.close()
