"""The human monitor: command syntax, output formats and error texts (QEMU 7.2 as the oracle),
line editing, the socket server, and the stdio mux's Ctrl-a escapes."""
import os
import shutil
import socket

import pytest
from support import qemu_virt_socket

from dbt.machine.chardev import CharBackend
from dbt.machine.hmp import Monitor, MonitorServer, parse_device_options, run_command
from dbt.machine.mux import MAX_PENDING, MuxBackend
from test_qmp import CPU, FakeControl, env  # noqa: F401  (env is a fixture)

BANNER = b"dbt-vm monitor - type 'help' for more information\r\n(qemu) "


def monitor(control=None, echo=False):
    out = bytearray()
    mon = Monitor(control or FakeControl(), out.extend, echo=echo)
    return mon, out


def cmd(mon, out, line):
    """Output of one command line, without the prompt that follows it."""
    out.clear()
    mon.feed(line.encode() + b"\r")
    text = bytes(out)
    assert text.endswith(b"(qemu) ")
    return text[:-len(b"(qemu) ")].decode()


# -- commands -------------------------------------------------------------------------------
def test_banner_and_prompt():
    mon, out = monitor()
    assert out == b""                           # nothing before open()
    mon.open()
    assert out == BANNER
    assert cmd(mon, out, "") == ""
    assert cmd(mon, out, "   ") == ""


def test_info_commands_format():
    control = FakeControl(smp=2)
    mon, out = monitor(control)
    assert cmd(mon, out, "info status") == "VM status: running\r\n"
    assert cmd(mon, out, "  info   status  ") == "VM status: running\r\n"
    assert cmd(mon, out, "info cpus") == ("* CPU #0: thread_id=4000\r\n"
                                          "  CPU #1: thread_id=4001\r\n")
    assert cmd(mon, out, "info hotpluggable-cpus") == "".join(
        line + "\r\n" for line in
        ["Hotpluggable CPUs:"] + sum(([f'  type: "{CPU}"', '  vcpus_count: "1"']
                                      + ([f'  qom_path: "/machine/unattached/device[{i}]"']
                                         if i < 2 else [])
                                      + ["  CPUInstance Properties:", '    socket-id: "0"',
                                         '    cluster-id: "0"', f'    core-id: "{i}"',
                                         '    thread-id: "0"']
                                      for i in (3, 2, 1, 0)), []))
    assert cmd(mon, out, "info version") == "7.2.0 (dbt-vm)\r\n"
    info = cmd(mon, out, "info")
    assert info == cmd(mon, out, "help info")
    assert info.splitlines() == [
        "info cpus  -- show infos for each CPU",
        "info hotpluggable-cpus  -- Show information about hotpluggable CPUs",
        "info migrate  -- show migration status",
        "info migrate_parameters  -- show current migration parameters",
        "info status  -- show the current VM status (running|paused)",
        "info version  -- show the version of QEMU"]


def test_status_in_other_run_states():
    control = FakeControl()
    mon, out = monitor(control)
    control.running, control.status = False, "prelaunch"
    assert cmd(mon, out, "info status") == "VM status: paused (prelaunch)\r\n"
    assert cmd(mon, out, "stop") == ""
    assert cmd(mon, out, "info status") == "VM status: paused\r\n"
    assert cmd(mon, out, "c") == ""
    assert cmd(mon, out, "info status") == "VM status: running\r\n"
    assert cmd(mon, out, "s") == ""
    assert cmd(mon, out, "cont") == ""
    assert [c[0] for c in control.calls if c[0] != "query_status"] == [
        "stop", "cont", "stop", "cont"]


def test_actions_reach_the_control():
    control = FakeControl()
    mon, out = monitor(control)
    assert cmd(mon, out, "device_add cortex-a57-arm-cpu,id=core2,core-id=2") == ""
    assert cmd(mon, out, "device_del core2") == ""
    assert cmd(mon, out, 'device_del "core2"') == "Error: Device 'core2' not found\r\n"
    assert cmd(mon, out, "system_reset") == ""
    assert cmd(mon, out, "system_powerdown") == ""
    assert control.calls[:2] == [
        ("device_add", {"driver": CPU, "id": "core2", "core-id": "2"}, False),
        ("device_del", "core2")]
    assert ("system_reset",) in control.calls and ("system_powerdown",) in control.calls
    out.clear()
    mon.feed(b"q\r\ninfo status\r")             # nothing runs, nothing is shown, after quit
    assert out == b"" and control.calls[-1] == ("quit",)


def test_errors():
    control = FakeControl()
    mon, out = monitor(control)
    try_help = 'Try "help {}" for more information\r\n'.format
    assert cmd(mon, out, "xyz") == "unknown command: 'xyz'\r\n"
    assert cmd(mon, out, "info nope") == "unknown command: 'info nope'\r\n"
    assert cmd(mon, out, "device_del") == "device_del: string expected\r\n" + \
        try_help("device_del")
    assert cmd(mon, out, "device_del a b") == \
        "device_del: extraneous characters at the end of line\r\n" + try_help("device_del")
    assert cmd(mon, out, "cont x") == \
        "cont|c: extraneous characters at the end of line\r\n" + try_help("cont")
    assert cmd(mon, out, "c x") == \
        "cont|c: extraneous characters at the end of line\r\n" + try_help("c")
    assert cmd(mon, out, "info status x") == \
        "status: extraneous characters at the end of line\r\n" + try_help("info status")
    assert cmd(mon, out, "device_add  nope id=x") == \
        "device_add: extraneous characters at the end of line\r\n" + try_help("device_add")
    assert cmd(mon, out, 'device_del "abc') == \
        "device_del: string expected\r\n" + try_help("device_del")
    assert cmd(mon, out, "device_add") == "Error: Parameter 'driver' is missing\r\n"
    assert cmd(mon, out, "device_add id=x") == "Error: Parameter 'driver' is missing\r\n"
    assert cmd(mon, out, "device_add nope,id=x") == \
        "Error: 'nope' is not a valid device model name\r\n"
    assert cmd(mon, out, "device_add cortex-a57-arm-cpu,id=c,core-id=x") == \
        "Error: Parameter 'core-id' expects int32\r\n"
    assert cmd(mon, out, "device_del nope") == "Error: Device 'nope' not found\r\n"
    assert all(c[0] in ("device_add", "device_del") for c in control.calls)
    assert control.slots == {0: None}


def test_help():
    mon, out = monitor()
    lines = cmd(mon, out, "help").splitlines()
    assert lines == sorted(lines)
    assert lines == cmd(mon, out, "?").splitlines()
    for line in ("cont|c  -- resume emulation",
                 "device_add driver[,prop=value][,...] -- add device, like -device on the "
                 "command line",
                 "device_del device -- remove device",
                 "help|? [cmd] -- show the help",
                 "info [subcommand] -- show various information about the system state",
                 "quit|q  -- quit the emulator",
                 "stop|s  -- stop emulation",
                 "system_powerdown  -- send system power down event",
                 "system_reset  -- reset the system"):
        assert line in lines
    assert cmd(mon, out, "help c") == "cont|c  -- resume emulation\r\n"
    assert cmd(mon, out, "help info status") == \
        "info status  -- show the current VM status (running|paused)\r\n"
    assert cmd(mon, out, "help foo") == "unknown command: 'foo'\r\n"
    assert cmd(mon, out, "help info foo") == "unknown command: 'info foo'\r\n"
    assert cmd(mon, out, "device_add help") == f'CPU devices:\r\nname "{CPU}"\r\n'


def test_device_options_syntax():
    assert parse_device_options(f"{CPU},id=core4,core-id=4") == {
        "driver": CPU, "id": "core4", "core-id": "4"}
    assert parse_device_options("d,id=a,,b,x=1,,,y=2") == {
        "driver": "d", "id": "a,b", "x": "1,", "y": "2"}
    assert parse_device_options("driver=d,id=x,id=y,flag") == {
        "driver": "d", "id": "y", "flag": "on"}
    assert parse_device_options("") == {"driver": ""}
    assert parse_device_options(",id=x") == {"driver": "", "id": "x"}


def test_line_editing_and_echo():
    control = FakeControl()
    mon, out = monitor(control, echo=True)
    mon.open()
    out.clear()
    mon.feed(b"info sx\x7fta")                  # typed characters come back
    assert out == b"info sx\b \bta"
    mon.feed(b"\x1b[Dtus\x1b[A\x1bOB")          # arrow keys are swallowed
    out.clear()
    mon.feed(b"\r\n")                           # CR LF is one Enter
    assert out == b"\r\nVM status: running\r\n(qemu) "
    out.clear()
    mon.feed(b"garbage\x15info cpus\n")         # Ctrl-U kills the line
    assert out == b"garbage" + b"\b \b" * 7 + b"info cpus\r\n* CPU #0: thread_id=4000\r\n(qemu) "
    out.clear()
    mon.feed("in\u00e9\x08fo status\r".encode())    # backspace drops a whole UTF-8 character
    assert out.endswith(b"VM status: running\r\n(qemu) ")
    quiet, qout = monitor(control)
    quiet.feed(b"in\x7f\x7f\x7finfo status\r")
    assert qout == b"VM status: running\r\n(qemu) "     # no echo on sockets
    quiet.feed(b"x" * 10000 + b"\r")            # an over-long line is cut, not stored
    assert qout.endswith(b"unknown command: '" + b"x" * 4095 + b"'\r\n(qemu) ")


def test_run_command_for_qmp():
    assert run_command(FakeControl(), "info status") == "VM status: running\r\n"
    assert run_command(FakeControl(), "nope") == "unknown command: 'nope'\r\n"


# -- the socket server ----------------------------------------------------------------------
class HMPClient:
    def __init__(self, address, echoes=False):
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(address)
        self.buf = b""
        self.echoes = echoes

    def until_prompt(self):
        while not self.buf.endswith(b"(qemu) "):
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        text, self.buf = self.buf[:-len(b"(qemu) ")], b""
        return text

    def run(self, line):
        self.sock.sendall(line.encode() + b"\n")
        text = self.until_prompt()
        if self.echoes:
            # QEMU's readline echoes, redrawing the line with escapes, then CR LF
            text = text.split(b"\x1b[K")[-1]
            assert text.startswith(b"\r\n")
            text = text[2:]
        return text.decode()

    def close(self):
        self.sock.close()


def test_monitor_server_unix_and_tcp(env, tmp_path):
    lt, control, make, start = env
    unix = make(MonitorServer, f"unix:{tmp_path}/mon.sock,server,nowait")
    tcp = make(MonitorServer, "tcp::0")
    start()
    a, b = HMPClient(unix.address), HMPClient(tcp.address)
    assert a.until_prompt() + b"(qemu) " == BANNER
    assert b.until_prompt() + b"(qemu) " == BANNER
    assert a.run("device_add cortex-a57-arm-cpu,id=core1,core-id=1") == ""
    assert b.run("info cpus") == "* CPU #0: thread_id=4000\r\n  CPU #1: thread_id=4001\r\n"
    a.sock.sendall(b"info st")                  # a half line does not hold up the other
    assert b.run("info status") == "VM status: running\r\n"
    assert a.run("atus") == "VM status: running\r\n"
    a.close()
    assert b.run("device_del core1") == ""
    assert ("device_add", {"driver": CPU, "id": "core1", "core-id": "1"}, False) in control.calls
    b.close()


@pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="no QEMU")
def test_outputs_match_qemu(env, tmp_path):
    lt, control, make, start = env
    ours = make(MonitorServer, f"unix:{tmp_path}/mon.sock")
    control.running, control.status = False, "prelaunch"
    start()
    path = str(tmp_path / "qemu-mon.sock")
    with qemu_virt_socket("-monitor", path):
        theirs, mine = HMPClient(path, echoes=True), HMPClient(ours.address)
        assert theirs.until_prompt().endswith(b" monitor - type 'help' for more information\r\n")
        mine.until_prompt()
        for line in ["info status", "xyz", "device_del", "device_del a b", "cont x", "c x",
                     "info nope", "info status x", "help cont", "help c", "help q",
                     "help device_add", "help device_del", "help info status",
                     "help info cpus", "help info hotpluggable-cpus", "help foo",
                     "help info foo", "device_add", "device_add  a b", "system_reset x",
                     "c", "info status", "stop", "info status", "cont", "info status",
                     "s", "info status",
                     'device_del "x', "", "   "]:
            assert mine.run(line) == theirs.run(line), line
        qemu_help = theirs.run("help").splitlines()
        assert set(mine.run("help").splitlines()) <= set(qemu_help)
        qemu_info = theirs.run("info").splitlines()
        assert set(mine.run("info").splitlines()) - set(qemu_info) == set()
        theirs.close()
        mine.close()


# -- the stdio mux --------------------------------------------------------------------------
class Terminal(CharBackend):
    """The terminal under the mux: `type` queues keys, `screen` collects what is shown."""

    def __init__(self):
        self.keys = bytearray()
        self.screen = bytearray()
        self.r, self.w = os.pipe()

    def type(self, data):
        self.keys += data

    def fileno(self):
        return self.r

    def read(self, max_bytes):
        data = bytes(self.keys[:max_bytes])
        del self.keys[:len(data)]
        return data

    def write(self, data):
        self.screen += data

    def take(self):
        data = bytes(self.screen)
        self.screen.clear()
        return data

    def close(self):
        os.close(self.r)
        os.close(self.w)


@pytest.fixture
def mux():
    term = Terminal()
    breaks = []
    # the monitor is made on first use: the control may come later (the machine owns it)
    m = MuxBackend(term, lambda write: Monitor(control, write, echo=True),
                   send_break=lambda: breaks.append(1))
    control = FakeControl()
    yield m, term, control, breaks
    m.close()


def test_mux_serial_input_passes_through_in_order(mux):
    m, term, control, _ = mux
    term.type(b"hello\r\x02world")
    assert m.read(3) == b"hel"                  # the rest is kept, in order
    assert m.pending == 9
    term.type(b"!")
    assert m.read(100) == b"lo\r\x02world!"
    m.write(b"guest says hi\r\n")
    assert term.take() == b"guest says hi\r\n"
    term.type(b"\x01a\x01\x01x")                # C-a a is swallowed, C-a C-a is a C-a
    assert m.read(100) == b"\x01x"
    assert term.take() == b""


def test_mux_switches_to_the_monitor_and_back(mux):
    m, term, control, _ = mux
    term.type(b"ab\x01cinfo st")
    assert m.read(10) == b"ab"
    assert term.take() == BANNER + b"info st"   # first visit: banner, prompt, echo
    m.write(b"[guest output]")                  # keeps flowing while the monitor has focus
    term.type(b"atus\r")
    m.pump()
    assert term.take() == b"[guest output]atus\r\nVM status: running\r\n(qemu) "
    term.type(b"junk\x01c")                     # leaving mid-line
    m.pump()
    assert term.take() == b"junk\r\n"
    term.type(b"more")
    assert m.read(10) == b"more"
    term.type(b"\x01")                          # an escape split across reads
    m.pump()
    term.type(b"cinfo cpus\r")
    m.pump()
    assert term.take() == b"(qemu) info cpus\r\n* CPU #0: thread_id=4000\r\n(qemu) "
    assert m.read(10) == b""
    term.type(b"\x01c")
    m.pump()
    assert term.take() == b"\r\n"


def test_mux_escape_commands(mux):
    m, term, control, breaks = mux
    term.type(b"\x01h")
    m.pump()
    assert term.take() == (b"\n\rC-a h    print this help\n\rC-a x    exit emulator\n\r"
                           b"C-a b    send break (magic sysrq)\n\r"
                           b"C-a c    switch between console and monitor\n\r"
                           b"C-a C-a  sends C-a\n\r")
    term.type(b"\x01b\x01z")
    m.pump()
    assert breaks == [1] and m.read(10) == b""
    term.type(b"\x01x")
    m.pump()
    assert term.take() == b"QEMU: Terminated\n\r"
    assert control.calls == [("quit",)]


def test_mux_holds_back_when_the_guest_does_not_read(mux):
    m, term, control, _ = mux
    term.type(b"y" * (3 * MAX_PENDING))
    m.pump()
    assert MAX_PENDING <= m.pending < MAX_PENDING + 4096
    assert m.fileno() is None                   # do not wait on the terminal meanwhile
    got = bytearray()
    while True:
        data = m.read(1000)
        if not data:
            break
        got += data
    assert got == b"y" * (3 * MAX_PENDING) and m.fileno() == term.r
