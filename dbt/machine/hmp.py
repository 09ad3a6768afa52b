"""The human monitor (HMP): QEMU's `(qemu)` prompt, command syntax, output and error texts,
on a terminal (through the stdio mux) or a socket.

A `Monitor` turns bytes typed into command lines (minimal line editing), runs them against
a `Control`, and writes QEMU's output through `write(bytes)` with CRLF line ends.  Commands
are a table (`COMMANDS`, `INFO_COMMANDS`) others may extend: each has QEMU's name|alias,
its argument kinds, the parameter text and one-line help that `help` shows, and a handler
`handler(monitor, *args)` that prints with `monitor.print`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from .control import CommandError, Control
from .mainloop import MainLoop, StreamServer

log = logging.getLogger(__name__)

BANNER = "dbt-vm monitor - type 'help' for more information\n"
PROMPT = "(qemu) "
MAX_LINE = 4095                 # QEMU's readline buffer; the rest of a longer line is dropped


class UsageError(Exception):
    """The line does not fit the command's arguments: QEMU prints the text, then a pointer
    to `help`."""


class UnknownCommand(Exception):
    """No such command: QEMU prints only the text."""


@dataclass
class Command:
    name: str                   # "cont|c": the name, then aliases
    args: str                   # one letter per argument, QEMU's kinds: s string, S rest of
                                # the line, O option string; "?" after one: optional
    params: str                 # as `help` shows them
    help: str
    handler: object             # handler(monitor, *parsed arguments)

    def names(self):
        return self.name.split("|")


# -- command handlers -----------------------------------------------------------------------
def _help(mon, what=None):
    if not what:
        mon.print_help(COMMANDS)
        return
    words = what.split()
    if words[0] == "info" and len(words) > 1:
        cmd = _lookup(INFO_COMMANDS, words[1])
        if cmd is None:
            raise UnknownCommand(f"unknown command: 'info {words[1]}'")
        mon.print_help([cmd], prefix="info ")
        return
    cmd = _lookup(COMMANDS, words[0])
    if cmd is None:
        raise UnknownCommand(f"unknown command: '{words[0]}'")
    if cmd.name == "info":
        mon.print_help(INFO_COMMANDS, prefix="info ")
    else:
        mon.print_help([cmd])


def _info(mon, item=None):
    # never called: Monitor.execute dispatches `info` itself, since the subcommand parses
    # the rest of the line with its own argument kinds
    raise AssertionError("info is dispatched by Monitor.execute")


def _device_add(mon, opts=None):
    options = parse_device_options(opts) if opts else {}
    if options.get("driver") == "help" and len(options) == 1:
        types = sorted({c["type"] for c in mon.control.query_hotpluggable_cpus()})
        mon.print("CPU devices:\n" + "".join(f'name "{t}"\n' for t in types))
        return
    if "driver" not in options:
        raise CommandError("Parameter 'driver' is missing")
    mon.control.device_add(options, typed=False)


def _quit(mon):
    mon.quitting = True
    mon.control.quit()


def _info_status(mon):
    st = mon.control.query_status()
    text = "VM status: " + ("running" if st["running"] else "paused")
    if st.get("singlestep"):
        text += " (single step mode)"
    if not st["running"] and st.get("status", "paused") != "paused":
        text += f" ({st['status']})"
    mon.print(text + "\n")


def _info_cpus(mon):
    cpus = mon.control.query_cpus_fast()
    # the monitor's current CPU is the first one (QEMU's `cpu N` is not offered)
    current = min((c["cpu-index"] for c in cpus), default=None)
    for c in cpus:
        mark = "*" if c["cpu-index"] == current else " "
        mon.print(f"{mark} CPU #{c['cpu-index']}: thread_id={c.get('thread-id', 0)}\n")


_PROP_ORDER = ("node-id", "drawer-id", "book-id", "socket-id", "die-id", "cluster-id",
               "module-id", "core-id", "thread-id")


def _info_hotpluggable_cpus(mon):
    lines = ["Hotpluggable CPUs:"]
    for c in mon.control.query_hotpluggable_cpus():
        lines.append(f'  type: "{c["type"]}"')
        lines.append(f'  vcpus_count: "{c["vcpus-count"]}"')
        if "qom-path" in c:
            lines.append(f'  qom_path: "{c["qom-path"]}"')
        lines.append("  CPUInstance Properties:")
        props = c.get("props", {})
        lines += [f'    {k}: "{props[k]}"' for k in _PROP_ORDER if k in props]
    mon.print("\n".join(lines) + "\n")


def _migrate(mon, line):
    words = line.split()
    flags = [w for w in words if w.startswith("-")]
    uris = [w for w in words if not w.startswith("-")]
    bad = [f for f in flags if f not in ("-d",)]
    if bad:
        # -b/-i copy disks (this board has none), -r resumes a postcopy migration
        raise CommandError(f"migrate: {bad[0]} is not supported here (only -d)")
    if len(uris) != 1:
        raise UsageError("migrate: expected one URI")
    mon.control.migrate(uris[0])
    job = mon.control.migration
    if "-d" not in flags and job.status == "failed":
        raise CommandError(job.error)
    if "-d" not in flags and mon.can_suspend and job.active:
        # as QEMU: the monitor waits for the end and reports a failure
        mon.suspend()
        job.on_finish.append(lambda j: mon.resume(
            f"Error: {j.error}\n" if j.status == "failed" and j.error else ""))


def parse_size_bytes(text: str) -> int:
    """QEMU's size syntax for byte counts: a number with an optional B/K/M/G/T suffix
    (powers of 1024); raises ValueError."""
    units = {"B": 0, "K": 10, "M": 20, "G": 30, "T": 40}
    t = text.strip().upper()
    shift = units.get(t[-1:], None) if t else None
    number = t[:-1] if shift is not None else t
    value = float(number) if "." in number else int(number, 10)
    if value < 0:
        raise ValueError(f"negative size {text!r}")
    return int(value * (1 << (shift or 0)))


def _migrate_set_parameter(mon, name, value):
    if name == "downtime-limit":
        try:
            number = int(value, 10)
            if number < 0:
                raise ValueError(value)
        except ValueError:
            raise CommandError(
                "Parameter 'downtime-limit' expects a non-negative number below 2^64\n"
                "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                "and exabytes, respectively.") from None
        mon.control.migrate_set_parameters({"downtime-limit": number})
    elif name == "max-bandwidth":
        try:
            size = parse_size_bytes(value)
        except ValueError:
            raise CommandError(f"Invalid size {value}") from None
        mon.control.migrate_set_parameters({"max-bandwidth": size})
    else:
        raise CommandError(f"invalid parameter value: {name}")


def _info_migrate(mon):
    info = mon.control.query_migrate()
    if not info:
        return
    lines = [f"Migration status: {info['status']}"
             + (f" ({info['error-desc']})" if "error-desc" in info else ""),
             f"total time: {info['total-time']} ms"]
    if "expected-downtime" in info:
        lines.append(f"expected downtime: {info['expected-downtime']} ms")
    if "downtime" in info:
        lines.append(f"downtime: {info['downtime']} ms")
    if "setup-time" in info:
        lines.append(f"setup: {info['setup-time']} ms")
    ram = info.get("ram")
    if ram:
        lines += [f"transferred ram: {ram['transferred'] >> 10} kbytes",
                  f"throughput: {ram['mbps']:.2f} mbps",
                  f"remaining ram: {ram['remaining'] >> 10} kbytes",
                  f"total ram: {ram['total'] >> 10} kbytes",
                  f"duplicate: {ram['duplicate']} pages",
                  f"normal: {ram['normal']} pages",
                  f"normal bytes: {ram['normal-bytes'] >> 10} kbytes",
                  f"dirty sync count: {ram['dirty-sync-count']}",
                  f"page size: {ram['page-size'] >> 10} kbytes",
                  f"multifd bytes: {ram['multifd-bytes'] >> 10} kbytes",
                  f"pages-per-second: {ram['pages-per-second']}"]
        if ram["dirty-pages-rate"]:
            lines.append(f"dirty pages rate: {ram['dirty-pages-rate']} pages")
    mon.print("\n".join(lines) + "\n")


def _info_migrate_parameters(mon):
    p = mon.control.query_migrate_parameters()
    mon.print(f"max-bandwidth: {p['max-bandwidth']} bytes/second\n"
              f"downtime-limit: {p['downtime-limit']} ms\n")


def _info_version(mon):
    from .qmp import VERSION
    q = VERSION["qemu"]
    mon.print(f"{q['major']}.{q['minor']}.{q['micro']} ({VERSION['package']})\n")


COMMANDS = [
    Command("cont|c", "", "", "resume emulation", lambda m: m.control.cont()),
    Command("device_add", "O?", "driver[,prop=value][,...]",
            "add device, like -device on the command line", _device_add),
    Command("device_del", "s", "device", "remove device",
            lambda m, dev: m.control.device_del(dev)),
    Command("help|?", "S?", "[cmd]", "show the help", _help),
    Command("info", "s?", "[subcommand]", "show various information about the system state",
            _info),
    Command("migrate", "S", "[-d] [-b] [-i] [-r] uri", "migrate to URI (using -d to not wait "
            "for completion)", _migrate),
    Command("migrate_cancel", "", "", "cancel the current VM migration",
            lambda m: m.control.migrate_cancel()),
    Command("migrate_set_parameter", "ss", "parameter value",
            "Set the parameter for migration", _migrate_set_parameter),
    Command("quit|q", "", "", "quit the emulator", _quit),
    Command("stop|s", "", "", "stop emulation", lambda m: m.control.stop()),
    Command("system_powerdown", "", "", "send system power down event",
            lambda m: m.control.system_powerdown()),
    Command("system_reset", "", "", "reset the system", lambda m: m.control.system_reset()),
]

INFO_COMMANDS = [
    Command("cpus", "", "", "show infos for each CPU", _info_cpus),
    Command("hotpluggable-cpus", "", "", "Show information about hotpluggable CPUs",
            _info_hotpluggable_cpus),
    Command("migrate", "", "", "show migration status", _info_migrate),
    Command("migrate_parameters", "", "", "show current migration parameters",
            _info_migrate_parameters),
    Command("status", "", "", "show the current VM status (running|paused)", _info_status),
    Command("version", "", "", "show the version of QEMU", _info_version),
]


def _lookup(table, word):
    for cmd in table:
        if word in cmd.names():
            return cmd
    return None


# -- argument syntax ------------------------------------------------------------------------
def parse_device_options(text: str) -> dict:
    """`-device`/`device_add` options (QEMU's QemuOpts with an implied `driver`):
    `DRIVER,key=value,...`; `,,` is a literal comma; a bare `key` means key=on; a later
    key overrides an earlier one.  Values stay text."""
    items, cur, i = [], [], 0
    while i < len(text):
        if text[i] == ",":
            if text.startswith(",,", i):
                cur.append(",")
                i += 2
                continue
            items.append("".join(cur))
            cur = []
        else:
            cur.append(text[i])
        i += 1
    items.append("".join(cur))
    options = {}
    for n, item in enumerate(items):
        key, eq, value = item.partition("=")
        if not eq:
            if n == 0:
                key, value = "driver", item
            elif not item:
                continue
            else:
                value = "on"
        options[key] = value
    return options


_STR_ESCAPES = {"n": "\n", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def _get_str(line: str, pos: int) -> tuple[str, int]:
    """One argument word at pos (after blanks): up to the next blank, or a quoted string
    with \\n \\r \\\\ \\' \\" escapes."""
    if line[pos] != '"':
        end = pos
        while end < len(line) and not line[end].isspace():
            end += 1
        return line[pos:end], end
    out, i = [], pos + 1
    while i < len(line) and line[i] != '"':
        if line[i] == "\\" and i + 1 < len(line):
            i += 1
            if line[i] not in _STR_ESCAPES:
                raise ValueError(f"unsupported escape code: '\\{line[i]}'")
            out.append(_STR_ESCAPES[line[i]])
        else:
            out.append(line[i])
        i += 1
    if i >= len(line):
        raise ValueError("unterminated string literal")
    return "".join(out), i + 1


def _skip_blanks(line, pos):
    while pos < len(line) and line[pos].isspace():
        pos += 1
    return pos


def _parse_args(cmd: Command, line: str, pos: int) -> tuple[list, int]:
    args = []
    kinds = cmd.args
    i = 0
    while i < len(kinds):
        kind = kinds[i]
        optional = i + 1 < len(kinds) and kinds[i + 1] == "?"
        i += 2 if optional else 1
        pos = _skip_blanks(line, pos)
        if pos >= len(line):
            if not optional:
                raise UsageError(f"{cmd.name}: string expected")
            args.append(None)
        elif kind == "S":
            args.append(line[pos:].rstrip())
            pos = len(line)
        else:
            try:
                word, pos = _get_str(line, pos)
            except ValueError:                  # a bad quoted string, as QEMU words it
                raise UsageError(f"{cmd.name}: string expected") from None
            args.append(word)
    return args, pos


# -- the monitor ----------------------------------------------------------------------------
class Monitor:
    """One monitor session.  feed() takes the bytes typed; output goes to write(bytes).
    With echo=True (a terminal in raw mode) typed characters are echoed and line editing
    shows on screen.  Nothing is written before open()."""

    def __init__(self, control: Control, write, *, echo: bool = False):
        self.control = control
        self.write = write
        self.echo = echo
        self.opened = False
        self.quitting = False
        self.can_suspend = True         # False for a one-shot monitor (human-monitor-command)
        self.suspended = False          # a command is still running: input waits
        self._held = bytearray()
        self._line = bytearray()
        self._after_cr = False
        self._esc = 0                           # inside an escape sequence (arrow keys)

    # -- output ---------------------------------------------------------------------------
    def print(self, text: str) -> None:
        self.write(text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "replace"))

    def print_help(self, table, prefix="") -> None:
        self.print("".join(f"{prefix}{c.name} {c.params} -- {c.help}\n"
                           for c in sorted(table, key=lambda c: c.name)))

    def prompt(self) -> None:
        self.print(PROMPT)

    def open(self) -> None:
        """Greet: banner and prompt (QEMU does this when the character device opens)."""
        self.opened = True
        self.print(BANNER)
        self.prompt()

    # the stdio mux hands the terminal to the monitor and takes it back
    def focus_in(self) -> None:
        if not self.opened:
            self.open()
        else:
            self._line.clear()
            self.prompt()

    def focus_out(self) -> None:
        self.print("\n")

    # -- input ----------------------------------------------------------------------------
    def suspend(self) -> None:
        """The running command finishes later (migrate without -d): no prompt until
        resume(), and what is typed meanwhile waits."""
        self.suspended = True

    def resume(self, text: str = "") -> None:
        self.suspended = False
        if text:
            self.print(text)
        self.prompt()
        held, self._held = bytes(self._held), bytearray()
        self.feed(held)

    def feed(self, data: bytes) -> None:
        for n, c in enumerate(data):
            if self.quitting:
                return
            if self.suspended:
                self._held += data[n:]
                return
            if self._esc:
                # ESC [ params final / ESC O final: swallowed whole
                if self._esc == 1:
                    self._esc = 2 if c in (0x5b, 0x4f) else 0
                elif 0x40 <= c <= 0x7e:
                    self._esc = 0
                continue
            if c == 0x0a and self._after_cr:    # CR LF is one line end
                self._after_cr = False
                continue
            self._after_cr = c == 0x0d
            if c in (0x0d, 0x0a):
                line = self._line.decode("utf-8", "replace")
                self._line.clear()
                if self.echo:
                    self.write(b"\r\n")
                self.execute(line)
                if not self.quitting and not self.suspended:
                    self.prompt()
            elif c in (0x7f, 0x08):
                self._backspace()
            elif c == 0x15:                     # Ctrl-U: kill the line
                while self._line:
                    self._backspace()
            elif c == 0x1b:
                self._esc = 1
            elif c < 0x20:
                pass                            # other control keys do nothing
            elif len(self._line) < MAX_LINE:
                self._line.append(c)
                if self.echo:
                    self.write(bytes((c,)))

    def _backspace(self):
        if not self._line:
            return
        # drop a whole UTF-8 character: continuation bytes, then its lead byte
        while self._line and 0x80 <= self._line[-1] < 0xC0:
            self._line.pop()
        if self._line:
            self._line.pop()
        if self.echo:
            self.write(b"\b \b")

    # -- commands -------------------------------------------------------------------------
    def execute(self, line: str) -> None:
        """Run one command line, printing its output or error."""
        pos = _skip_blanks(line, 0)
        if pos >= len(line):
            return
        end = pos
        while end < len(line) and not line[end].isspace():
            end += 1
        word = line[pos:end]
        cmd = _lookup(COMMANDS, word)
        typed = word
        try:
            if cmd is None:
                raise UnknownCommand(f"unknown command: '{word}'")
            args, pos = _parse_args(cmd, line, end)
            if cmd.name == "info" and args[0] is not None:
                sub = _lookup(INFO_COMMANDS, args[0])
                if sub is None:
                    raise UnknownCommand(f"unknown command: 'info {args[0]}'")
                cmd, typed = sub, f"info {args[0]}"
                args, pos = _parse_args(cmd, line, pos)
            elif cmd.name == "info":
                self.print_help(INFO_COMMANDS, prefix="info ")
                return
            if _skip_blanks(line, pos) < len(line):
                raise UsageError(f"{cmd.name}: extraneous characters at the end of line")
            cmd.handler(self, *args)
        except UnknownCommand as e:
            self.print(f"{e}\n")
        except UsageError as e:
            self.print(f'{e}\nTry "help {typed}" for more information\n')
        except CommandError as e:
            self.print(f"Error: {e.desc}\n")
        except Exception as e:                  # a machine bug must not take the VM down
            log.exception("monitor command %r failed", line)
            self.print(f"Error: internal error: {e}\n")


def run_command(control: Control, line: str) -> str:
    """Output of one HMP command line (QMP's human-monitor-command)."""
    out = bytearray()
    mon = Monitor(control, out.extend)
    mon.can_suspend = False
    mon.execute(line)
    return out.decode("utf-8", "replace")


class MonitorServer:
    """HMP on `spec` (unix:PATH[,server,nowait] or tcp:HOST:PORT): one Monitor per client,
    without echo (the client's own terminal or script does its echoing)."""

    def __init__(self, loop: MainLoop, control: Control, spec: str):
        self.control = control
        self._server = StreamServer(loop, spec, self._open)
        self.address = self._server.address

    def _open(self, conn):
        mon = Monitor(self.control, conn.write)
        mon.open()
        return mon

    def close(self) -> None:
        self._server.close()
