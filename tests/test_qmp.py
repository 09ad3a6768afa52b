"""QMP server and main loop: a real QMP client (qemu.qmp) and raw sockets against
QMPServer on unix and TCP sockets, with QEMU 7.2 as the oracle for error classes and texts.

The server runs in a MainLoop polled by a background thread of the test (the machine runs
it on its own thread); events are injected through call_soon_threadsafe so they are
emitted on the loop's thread, as the machine does.
"""
import asyncio
import json
import os
import shutil
import socket
import threading
import time

import pytest
from support import qemu_virt_socket

from dbt.machine.control import CommandError, Control
from dbt.machine.mainloop import MainLoop, parse_socket_spec
from dbt.machine.qmp import MAX_MESSAGE_BYTES, JSONStream, QMPServer

CPU = "cortex-a57-arm-cpu"


class FakeControl(Control):
    """A 4-slot machine that records every call; device_del completes on the next poll of
    `loop` (at once without one)."""

    def __init__(self, smp=1, maxcpus=4):
        super().__init__()
        self.calls = []
        self.loop = None
        self.running = True
        self.status = "running"
        self.maxcpus = maxcpus
        self.slots = {i: None for i in range(smp)}      # plugged index -> device id

    def _props(self, i):
        return {"socket-id": 0, "cluster-id": 0, "core-id": i, "thread-id": 0}

    def _path(self, i):
        dev = self.slots[i]
        return f"/machine/peripheral/{dev}" if dev else f"/machine/unattached/device[{i}]"

    def query_status(self):
        self.calls.append(("query_status",))
        return {"status": self.status, "singlestep": False, "running": self.running}

    def query_cpus_fast(self):
        self.calls.append(("query_cpus_fast",))
        return [{"cpu-index": i, "qom-path": self._path(i), "thread-id": 4000 + i,
                 "props": self._props(i), "qom-type": CPU, "target": "aarch64"}
                for i in sorted(self.slots)]

    def query_hotpluggable_cpus(self):
        self.calls.append(("query_hotpluggable_cpus",))
        out = []
        for i in reversed(range(self.maxcpus)):
            e = {"props": self._props(i), "vcpus-count": 1, "type": CPU}
            if i in self.slots:
                e["qom-path"] = self._path(i)
            out.append(e)
        return out

    def device_add(self, options, *, typed=True):
        self.calls.append(("device_add", dict(options), typed))
        driver = options["driver"]
        if driver != CPU:
            raise CommandError(f"'{driver}' is not a valid device model name")
        core = options.get("core-id")
        if not typed:
            try:
                core = int(core)
            except (TypeError, ValueError):
                raise CommandError("Parameter 'core-id' expects int32") from None
        if not isinstance(core, int) or not 0 <= core < self.maxcpus:
            raise CommandError(f"Invalid core-id {core} specified, must be in range "
                               f"1:{self.maxcpus - 1}")
        if core in self.slots:
            raise CommandError(f"cpu(id{core}=0:0:{core}:0) exists")
        self.slots[core] = options.get("id")

    def device_del(self, device_id):
        self.calls.append(("device_del", device_id))
        for i, dev in self.slots.items():
            if dev == device_id:
                def done(i=i):
                    del self.slots[i]
                    self.emit("DEVICE_DELETED", {"device": device_id,
                                                 "path": f"/machine/peripheral/{device_id}"})
                if self.loop is None:
                    done()
                else:
                    self.loop.call_soon(done)   # the guest completes the unplug later
                return
        raise CommandError(f"Device '{device_id}' not found", "DeviceNotFound")

    def stop(self):
        self.calls.append(("stop",))
        self.running, self.status = False, "paused"
        self.emit("STOP")

    def cont(self):
        self.calls.append(("cont",))
        self.running, self.status = True, "running"
        self.emit("RESUME")

    def system_reset(self):
        self.calls.append(("system_reset",))
        self.emit("RESET", {"guest": False, "reason": "host-qmp-system-reset"})

    def system_powerdown(self):
        self.calls.append(("system_powerdown",))
        self.emit("POWERDOWN")

    def quit(self):
        self.calls.append(("quit",))
        self.emit("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})


class LoopThread:
    """A MainLoop polled by a background thread, as the machine would poll it."""

    def __init__(self):
        self.loop = MainLoop()
        self._stop = False
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop:
            try:
                self.loop.poll(0.05)
            except Exception as e:              # surfaces in the test's teardown
                self.errors.append(e)
                raise

    def call(self, fn):
        """Run fn on the loop's thread and wait for its result."""
        done = threading.Event()
        box = []
        self.loop.call_soon_threadsafe(lambda: (box.append(fn()), done.set()))
        assert done.wait(5)
        return box[0]

    def stop(self):
        self._stop = True
        self.loop.call_soon_threadsafe(lambda: None)
        self.thread.join(5)


@pytest.fixture
def env(tmp_path):
    """(loop thread, control, make_server(cls, spec)) with everything closed afterwards."""
    lt = LoopThread()
    control = FakeControl()
    control.loop = lt.loop
    servers = []

    def make(cls, spec):
        server = cls(lt.loop, control, spec)
        servers.append(server)
        return server

    started = []

    def start():
        if not started:
            lt.thread.start()
            started.append(1)

    yield lt, control, make, start
    if started:
        lt.stop()
    for s in servers:
        s.close()
    lt.loop.close()
    assert not lt.errors


@pytest.fixture
def qmp_env(env, tmp_path):
    lt, control, make, start = env
    server = make(QMPServer, f"unix:{tmp_path}/qmp.sock,server=on,wait=off")
    start()
    return lt, control, server


class Raw:
    """A raw QMP client: lines must end CRLF; `exchange` sends bytes and returns every reply
    up to a sync command's reply."""

    SYNC = b'{"execute": "query-version", "id": "sync"}'

    def __init__(self, address):
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(address)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        assert line.endswith(b"\r"), line
        return json.loads(line)

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else json.dumps(data).encode())

    def greeting(self):
        return self.line()

    def negotiate(self):
        self.greeting()
        self.send({"execute": "qmp_capabilities"})
        assert self.line() == {"return": {}}
        return self

    def exchange(self, data):
        self.send(data)
        self.send(self.SYNC)
        replies = []
        while True:
            r = self.line()
            if r.get("id") == "sync":
                return replies
            replies.append(r)

    def close(self):
        self.sock.close()


def errors(replies):
    return [(r["error"]["class"], r["error"]["desc"]) for r in replies]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


# -- main loop ------------------------------------------------------------------------------
def test_mainloop_poll_is_cheap_and_runs_callbacks():
    loop = MainLoop()
    try:
        assert loop.poll(0) is False
        t = time.perf_counter()
        for _ in range(2000):
            loop.poll(0)
        assert (time.perf_counter() - t) / 2000 < 50e-6      # one epoll_wait, no more
        seen = []
        loop.call_soon(lambda: seen.append("soon"))
        r, w = os.pipe()
        loop.add_reader(r, lambda: seen.append(os.read(r, 10)))
        os.write(w, b"x")
        assert loop.poll(1) is True
        assert seen == ["soon", b"x"]
        loop.remove_reader(r)
        os.write(w, b"y")
        assert loop.poll(0) is False                    # no longer watched
        # watch(): the descriptor is asked for before each poll, None = nothing to wait on
        fd = [None]
        loop.watch(lambda: fd[0], lambda: seen.append(os.read(r, 10)))
        assert loop.poll(0) is False
        fd[0] = r
        assert loop.poll(0) is True and seen[-1] == b"y"
        # a poll(None) sleeping in one thread is woken by call_soon_threadsafe
        threading.Timer(0.05, lambda: loop.call_soon_threadsafe(lambda: seen.append("t"))).start()
        t = time.monotonic()
        while seen[-1] != "t":
            loop.poll(None)
        assert time.monotonic() - t < 2
        os.close(r)
        os.close(w)
    finally:
        loop.close()


def test_socket_specs():
    assert parse_socket_spec("unix:/tmp/q.sock") == ("unix", "/tmp/q.sock")
    for suffix in (",server", ",server=on,wait=off", ",server,nowait", ",nowait"):
        assert parse_socket_spec("unix:/tmp/q.sock" + suffix) == ("unix", "/tmp/q.sock")
    assert parse_socket_spec("tcp::4444,server,nowait") == ("tcp", ("127.0.0.1", 4444))
    assert parse_socket_spec("tcp:0.0.0.0:5") == ("tcp", ("0.0.0.0", 5))
    assert parse_socket_spec("tcp:[::1]:7") == ("tcp", ("::1", 7))
    for bad in ("/tmp/q.sock", "unix:", "tcp:host", "tcp:h:port", "stdio",
                "unix:/x,server=off", "tcp::1,reconnect=1"):
        with pytest.raises(ValueError):
            parse_socket_spec(bad)


# -- a real client --------------------------------------------------------------------------
def test_qemu_qmp_client_over_unix(qmp_env):
    from qemu.qmp import ExecuteError, QMPClient
    lt, control, server = qmp_env

    async def session():
        qmp = QMPClient("dbt-test")
        await qmp.connect(server.address)
        assert qmp.greeting.QMP.version["qemu"]["major"] == 7
        assert qmp.greeting.QMP.capabilities == ["oob"]
        assert await qmp.execute("query-status") == {"status": "running",
                                                     "singlestep": False, "running": True}
        cpus = await qmp.execute("query-cpus-fast")
        assert [c["cpu-index"] for c in cpus] == [0]
        slots = await qmp.execute("query-hotpluggable-cpus")
        assert [s["props"]["core-id"] for s in slots] == [3, 2, 1, 0]
        assert "qom-path" in slots[-1] and "qom-path" not in slots[0]
        # Kata's sequence: driver, id, core-id only
        assert await qmp.execute("device_add", {"driver": CPU, "id": "cpu-0",
                                                "core-id": 1}) == {}
        with pytest.raises(ExecuteError) as e:
            await qmp.execute("device_add", {"driver": CPU, "id": "cpu-1", "core-id": 1})
        assert e.value.error_class == "GenericError" and "exists" in str(e.value)
        assert await qmp.execute("device_del", {"id": "cpu-0"}) == {}
        event = await qmp.events.get()
        assert event["event"] == "DEVICE_DELETED"
        assert event["data"] == {"device": "cpu-0", "path": "/machine/peripheral/cpu-0"}
        assert set(event["timestamp"]) == {"seconds", "microseconds"}
        with pytest.raises(ExecuteError) as e:
            await qmp.execute("device_del", {"id": "cpu-0"})
        assert e.value.error_class == "DeviceNotFound"
        assert str(e.value) == "Device 'cpu-0' not found"
        names = {c["name"] for c in await qmp.execute("query-commands")}
        assert {"qmp_capabilities", "query-status", "query-cpus-fast",
                "query-hotpluggable-cpus", "device_add", "device_del", "stop", "cont",
                "system_reset", "system_powerdown", "quit", "query-commands",
                "query-version"} <= names
        assert await qmp.execute("query-version") == {
            "qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "dbt-vm"}
        assert await qmp.execute("human-monitor-command",
                                 {"command-line": "info status"}) == "VM status: running\r\n"
        await qmp.disconnect()

    run(session())
    assert ("device_add", {"driver": CPU, "id": "cpu-0", "core-id": 1}, True) in control.calls


def test_two_qemu_qmp_clients_over_tcp_get_every_event(env):
    from qemu.qmp import QMPClient
    lt, control, make, start = env
    server = make(QMPServer, "tcp:127.0.0.1:0")
    start()
    host, port = server.address
    assert host == "127.0.0.1" and port > 0

    async def session():
        a, b = QMPClient("a"), QMPClient("b")
        await a.connect((host, port))
        await b.connect((host, port))
        for cmd, event in (("stop", "STOP"), ("cont", "RESUME"),
                           ("system_reset", "RESET"), ("system_powerdown", "POWERDOWN")):
            assert await a.execute(cmd) == {}
            for client in (a, b):
                got = await client.events.get()
                assert got["event"] == event
        assert (await b.execute("query-status"))["running"] is True
        assert await b.execute("quit") == {}
        assert (await a.events.get())["data"] == {"guest": False, "reason": "host-qmp-quit"}
        await a.disconnect()
        await b.disconnect()

    run(session())
    assert [c[0] for c in control.calls if c[0] != "query_status"] == [
        "stop", "cont", "system_reset", "system_powerdown", "quit"]


# -- raw protocol ---------------------------------------------------------------------------
def test_greeting_and_negotiation(qmp_env):
    lt, control, server = qmp_env
    c = Raw(server.address)
    raw_greeting = c.sock.recv(4096)
    assert raw_greeting == (b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7},'
                            b' "package": "dbt-vm"}, "capabilities": ["oob"]}}\r\n')
    expecting = ("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'")
    # (the sync command is refused too; its error ends the exchange)
    assert errors(c.exchange(b'{"execute": "query-status"}')) == [expecting]
    c.send(b'{"execute": "query-status", "id": 1}')
    assert c.line() == {"id": 1, "error": {"class": expecting[0], "desc": expecting[1]}}
    c.send(b'{"execute": "no-such-command"}')
    assert errors([c.line()]) == [expecting]
    c.send(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": "n"}')
    assert c.line() == {"return": {}, "id": "n"}
    assert errors(c.exchange(b'{"execute": "qmp_capabilities"}')) == [
        ("CommandNotFound", "Capabilities negotiation is already complete, command ignored")]
    # with oob enabled exec-oob is understood, but no command here runs out of band
    assert errors(c.exchange(b'{"exec-oob": "query-status"}')) == [
        ("GenericError", "The command query-status does not support OOB")]
    assert control.calls == []
    c.close()


def test_exec_oob_without_oob_and_bad_enable(qmp_env):
    lt, control, server = qmp_env
    c = Raw(server.address)
    c.greeting()
    c.send(b'{"execute": "qmp_capabilities", "arguments": {"enable": "oob"}}')
    assert errors([c.line()]) == [
        ("GenericError", "Invalid parameter type for 'enable', expected: array")]
    c.send(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["x"]}}')
    assert errors([c.line()]) == [
        ("GenericError", "Parameter 'enable[0]' does not accept value 'x'")]
    c.send(b'{"execute": "qmp_capabilities"}')
    assert c.line() == {"return": {}}
    assert errors(c.exchange(b'{"exec-oob": "query-status"}')) == [
        ("GenericError", "QMP input member 'exec-oob' is unexpected")]
    c.close()


def test_malformed_requests_and_arguments_touch_nothing(qmp_env):
    lt, control, server = qmp_env
    c = Raw(server.address).negotiate()
    cases = {
        b'{"a":}': [("GenericError", "JSON parse error, expecting value")],
        b'{bad}': [("GenericError", "JSON parse error, invalid keyword 'bad'")],
        b'{"a":1,"a":2}': [("GenericError", "JSON parse error, duplicate key")],
        b'{"a" 1}': [("GenericError", "JSON parse error, missing : in object pair")],
        b'{1:2}': [("GenericError", "JSON parse error, key is not a string in object")],
        b'[1 2]': [("GenericError", "JSON parse error, expected separator in list")],
        b'{"a":01}': [("GenericError", "JSON parse error, stray '01'"),
                      ("GenericError", "JSON parse error, expecting value")],
        b'[1]': [("GenericError", "QMP input must be a JSON object")],
        b'"text"': [("GenericError", "QMP input must be a JSON object")],
        b'{"execute":1}': [("GenericError", "QMP input member 'execute' must be a string")],
        b'{"arguments":{}}': [("GenericError", "QMP input lacks member 'execute'")],
        b'{"execute":"stop","foo":1}': [
            ("GenericError", "QMP input member 'foo' is unexpected")],
        b'{"execute":"stop","arguments":[]}': [
            ("GenericError", "QMP input member 'arguments' must be an object")],
        b'{"execute":"stop","arguments":{"x":1}}': [
            ("GenericError", "Parameter 'x' is unexpected")],
        b'{"execute":"no-such","id":7}': [
            ("CommandNotFound", "The command no-such has not been found")],
        b'{"execute":"device_del"}': [("GenericError", "Parameter 'id' is missing")],
        b'{"execute":"device_del","arguments":{"x":1,"id":2}}': [
            ("GenericError", "Invalid parameter type for 'id', expected: string")],
        b'{"execute":"device_del","arguments":{"id":"c","x":1}}': [
            ("GenericError", "Parameter 'x' is unexpected")],
        b'{"execute":"device_add","arguments":{"id":"x","core-id":1}}': [
            ("GenericError", "Parameter 'driver' is missing")],
        b'{"execute":"device_add","arguments":{"driver":5}}': [
            ("GenericError", "Invalid parameter type for 'driver', expected: string")],
        b'{"execute":"device_add","arguments":{"driver":"%s","id":4}}' % CPU.encode(): [
            ("GenericError", "Invalid parameter type for 'id', expected: string")],
        b'{"execute":"human-monitor-command","arguments":{"command-line":"info status",'
        b'"cpu-index":"0"}}': [
            ("GenericError", "Invalid parameter type for 'cpu-index', expected: integer")],
    }
    for payload, want in cases.items():
        assert errors(c.exchange(payload)) == want, payload
    assert control.calls == []
    # the id comes back on errors after the request was read as an object
    c.send(b'{"execute":"stop","foo":1,"id":[1,{"a":null}]}')
    assert c.line()["id"] == [1, {"a": None}]
    c.send(b'{"execute":"device_del","arguments":{"id":"zz"},"id":"d"}')
    assert c.line() == {"id": "d", "error": {"class": "DeviceNotFound",
                                             "desc": "Device 'zz' not found"}}
    c.close()


def test_split_batched_and_single_quoted_input(qmp_env):
    lt, control, server = qmp_env
    c = Raw(server.address)
    c.greeting()
    msg = b'{"execute": "qmp_capabilities", "id": "neg"}'
    for i in range(len(msg)):                   # one byte per segment
        c.send(msg[i:i + 1])
        time.sleep(0.001 if i % 8 == 0 else 0)
    assert c.line() == {"return": {}, "id": "neg"}
    # a message split across segments at every position, next to whole ones
    c.send(b'{"execute":"query-status","id":1}\n{"execute":"query-')
    time.sleep(0.02)
    c.send(b'version","id":2}  {"exec')
    time.sleep(0.02)
    c.send(b'ute":"stop","id":3}\r\n')
    got = [c.line() for _ in range(4)]
    assert [r.get("id", r.get("event")) for r in got] == [1, 2, "STOP", 3]
    c.close()


def test_batched_replies_in_order(qmp_env):
    lt, control, server = qmp_env
    c = Raw(server.address).negotiate()
    c.send(b'{"execute":"query-status","id":1}{"execute":"query-version","id":2}'
           b"  {'execute':'stop','id':'it\\'s'}\r\n{'execute': 'cont', 'id': \"q\\\"'\"}")
    got = [c.line() for _ in range(6)]
    assert [r.get("id", r.get("event")) for r in got] == [1, 2, "STOP", "it's", "RESUME", "q\"'"]
    c.close()


def test_events_go_to_negotiated_clients_only(qmp_env):
    lt, control, server = qmp_env
    early = Raw(server.address)
    early.greeting()
    ready = Raw(server.address).negotiate()
    lt.call(lambda: control.emit("ACPI_DEVICE_OST", {"info": {"device": "c", "slot": "1",
                                                             "slot-type": "CPU", "source": 3,
                                                             "status": 132}}))
    ev = ready.line()
    assert list(ev) == ["timestamp", "event", "data"]
    assert abs(ev["timestamp"]["seconds"] - time.time()) < 60
    assert 0 <= ev["timestamp"]["microseconds"] < 1000000
    assert ev["event"] == "ACPI_DEVICE_OST" and ev["data"]["info"]["status"] == 132
    # the early client saw nothing: its next line is the answer to negotiation
    early.send(b'{"execute": "qmp_capabilities"}')
    assert early.line() == {"return": {}}
    lt.call(lambda: control.emit("POWERDOWN"))
    assert early.line()["event"] == "POWERDOWN"
    assert ready.line()["event"] == "POWERDOWN"
    early.close()
    ready.close()


def test_event_without_data_has_no_data_member(qmp_env):
    lt, control, server = qmp_env
    c = Raw(server.address).negotiate()
    lt.call(lambda: control.emit("STOP"))
    assert set(c.line()) == {"timestamp", "event"}
    c.close()


def test_bad_clients_do_not_disturb_others(qmp_env):
    lt, control, server = qmp_env
    good = Raw(server.address).negotiate()
    # gone before reading the greeting; gone mid-message; garbage bytes; reset by peer
    Raw(server.address).close()
    half = Raw(server.address)
    half.send(b'{"execute": "qmp_capabilities"}{"execute": "stop", "argu')
    half.close()
    junk = Raw(server.address)
    junk.send(bytes(range(256)) * 64 + b"\xff\xfe\x00")
    junk.close()
    rst = Raw(server.address)
    rst.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    rst.send(b'{"execute": "query-status"')
    rst.close()
    assert good.exchange(b'{"execute":"query-status","id":"s"}')[0]["id"] == "s"
    lt.call(lambda: control.emit("RESUME"))
    assert good.line()["event"] == "RESUME"
    late = Raw(server.address).negotiate()      # still accepting
    assert late.exchange(b"") == []
    deadline = time.monotonic() + 5
    while lt.call(lambda: len(server._server.sessions)) != 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    good.close()
    late.close()
    assert ("stop",) not in control.calls


def test_huge_message_is_refused_without_storing_it(qmp_env):
    lt, control, server = qmp_env
    c = Raw(server.address).negotiate()
    big = b'{"execute":"device_add","arguments":{"driver":"' + b"A" * (10 << 20) + b'"}}'
    sender = threading.Thread(target=c.send, args=(big,))
    sender.start()
    assert errors([c.line()]) == [("GenericError", "JSON token size limit exceeded")]
    sender.join(20)
    assert c.exchange(b"") == []                # the rest was skipped, the session goes on
    stream = lt.call(lambda: next(iter(server._server.sessions.values()))._stream)
    assert len(stream._buf) < MAX_MESSAGE_BYTES
    deep = b"[" * 1025 + b"]" * 1025
    assert errors(c.exchange(deep)) == [("GenericError", "JSON nesting depth limit exceeded")]
    assert errors(c.exchange(b"[" * 1024 + b"]" * 1024)) == [
        ("GenericError", "QMP input must be a JSON object")]
    assert control.calls == []
    c.close()


def test_json_stream_units():
    s = JSONStream()
    assert s.feed(b'{"a": [1, -2.5e3, true, false, null, "\\u00e9\\ud83d\\ude00"]}') == [
        ({"a": [1, -2500.0, True, False, None, "\u00e9\U0001F600"]}, None)]
    assert s.feed(b"{'x': 'a\"b\\'c'}") == [({"x": "a\"b'c"}, None)]
    assert s.feed(b'{"big": 18446744073709551615, "neg": -9223372036854775808}') == [
        ({"big": (1 << 64) - 1, "neg": -(1 << 63)}, None)]
    # a control byte or 0xFF drops a half-read message and resynchronises
    assert s.feed(b'{"a": \xff{"b": 1}') == [(None, "JSON parse error, stray '\ufffd'"),
                                               ({"b": 1}, None)]
    assert s.feed(b'{"a":"x\x01"}') == [(None, "JSON parse error, stray '\"x\x01'"),
                                         (None, "JSON parse error, expecting value")]
    assert s.feed(b'"\xc3') == [] and s.feed(b'\xa9"') == [("\u00e9", None)]
    assert s.feed(b"12") == [] and s.feed(b"3 ") == [(123, None)]


# -- QEMU as the oracle ---------------------------------------------------------------------
ORACLE_CASES = [
    b'{"a":}', b'}', b'{bad}', b'{"a":1,"a":2}', b'{"a" 1}', b'{1:2}', b'{"a":1,}', b'[1,,2]',
    b'[1 2]', b'{"a":1 "b":2}', b'{"a":01}', b'{"a":NaN}', b'\x01', b'{"a"\xff', b'[1]',
    b'"str"', b'{"id":1}', b'{"execute":"query-status","foo":1,"id":7}', b'{"execute":1}',
    b'{"execute":"query-status","arguments":[],"id":7}', b'{"execute":"nope","id":7}',
    b'{"execute":"query-status","arguments":{"x":1}}', b'{"execute":"device_del"}',
    b'{"execute":"device_del","arguments":{"id":5}}',
    b'{"execute":"device_del","arguments":{"id":null}}',
    b'{"execute":"device_del","arguments":{"x":1}}',
    b'{"execute":"device_del","arguments":{"x":1,"id":2}}',
    b'{"execute":"device_add","arguments":{"id":"x"}}',
    b'{"execute":"qmp_capabilities"}',
    b'{"execute":"qmp_capabilities","arguments":{"enable":"oob"}}',
    b'{"execute":"qmp_capabilities","arguments":{"x":1}}',
    b'{"execute":"query-status","exec-oob":"x"}',
    b'{"execute":"stop","arguments":{"x":1}}',
    b'{"execute":"human-monitor-command"}',
    b"{'execute':'query-status','arguments':{'x':1},'id':'q'}",
]
BEFORE_NEGOTIATION = [b'{"execute":"query-status"}', b'{"execute":"foo","id":3}',
                      b'{"execute":"query-status","foo":1}',
                      b'{"execute":"qmp_capabilities","arguments":{"x":1}}']


def _error_lines(c, payloads):
    out = []
    for p in payloads:
        out.append([(r.get("id"), r["error"]["class"], r["error"]["desc"])
                    if "error" in r else ("ok",) for r in c.exchange(p)])
    return out


@pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="no QEMU")
def test_errors_match_qemu(qmp_env, tmp_path):
    lt, control, server = qmp_env
    path = str(tmp_path / "qemu-qmp.sock")
    with qemu_virt_socket("-qmp", path):
        theirs, ours = Raw(path), Raw(server.address)
        g1, g2 = theirs.greeting(), ours.greeting()
        assert set(g1) == set(g2) == {"QMP"} and set(g1["QMP"]) == set(g2["QMP"])
        assert set(g1["QMP"]["version"]["qemu"]) == set(g2["QMP"]["version"]["qemu"])
        assert g1["QMP"]["capabilities"] == g2["QMP"]["capabilities"]
        # the sync command itself is refused before negotiation: compare classes+texts
        assert _error_lines(theirs, BEFORE_NEGOTIATION) == _error_lines(ours,
                                                                        BEFORE_NEGOTIATION)
        for c in (theirs, ours):
            c.send(b'{"execute": "qmp_capabilities"}')
            assert c.line() == {"return": {}}
        for case in ORACLE_CASES:
            assert _error_lines(ours, [case]) == _error_lines(theirs, [case]), case
        for c in (theirs, ours):
            c.send(b"[" * 1025)
            assert errors([c.line()]) == [("GenericError", "JSON nesting depth limit exceeded")]
            c.close()
    assert control.calls == []
