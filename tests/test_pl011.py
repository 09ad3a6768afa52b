"""PL011 UART and the serial back ends.

Register semantics are checked against the TRM (ARM DDI 0183) and, for what QEMU 7.2 also
models, against qemu-system-aarch64 running a bare-metal guest that replays the same register
accesses.
"""
import os
import shutil
import subprocess
import termios

import pytest

from dbt.machine import pl011 as P
from dbt.machine.chardev import (CharFrontend, FileBackend, MemoryBackend, NullBackend,
                                 StdioBackend, open_chardev)
from dbt.machine.device import load_state, save_state
from dbt.machine.pl011 import PL011

QEMU_SYSTEM = shutil.which("qemu-system-aarch64")
CROSS_CC = shutil.which("aarch64-linux-gnu-gcc")


class Uart:
    """A PL011 with its output and interrupt line recorded."""

    def __init__(self):
        self.out = bytearray()
        self.edges = []
        self.dev = PL011(self.out.extend, self.edges.append)

    @property
    def line(self):
        return self.edges[-1] if self.edges else False

    def r(self, off, size=4):
        return self.dev.read(off, size)

    def w(self, off, value, size=4):
        self.dev.write(off, size, value)

    def enable_fifo(self, ifls=0x12):
        self.w(P.UARTIFLS, ifls)
        self.w(P.UARTLCR_H, P.LCR_H_FEN | 0x60)          # 8 bits, FIFOs on
        self.w(P.UARTCR, P.CR_UARTEN | P.CR_TXE | P.CR_RXE)

    def drain(self):
        data = bytearray()
        while not self.r(P.UARTFR) & P.FR_RXFE:
            data.append(self.r(P.UARTDR) & 0xFF)
        return bytes(data)


# -- reset state and identification ------------------------------------------------------

def test_reset_values():
    u = Uart()
    assert u.r(P.UARTFR) == P.FR_TXFE | P.FR_RXFE == 0x90
    assert u.r(P.UARTCR) == 0x300                      # TXE | RXE, UARTEN clear
    assert u.r(P.UARTIFLS) == 0x12
    for off in (P.UARTRSR, P.UARTILPR, P.UARTIBRD, P.UARTFBRD, P.UARTLCR_H, P.UARTIMSC,
                P.UARTRIS, P.UARTMIS, P.UARTDMACR):
        assert u.r(off) == 0, hex(off)
    assert u.edges == []


def test_periph_and_pcell_id():
    u = Uart()
    ids = [u.r(0xFE0 + 4 * i) for i in range(8)]
    assert ids == [0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1]
    # How Linux's amba bus puts them together (amba_read_periphid: low byte of each word).
    periphid = sum((ids[i] & 0xFF) << (8 * i) for i in range(4))
    cid = sum((ids[4 + i] & 0xFF) << (8 * i) for i in range(4))
    assert cid == 0xB105F00D                           # AMBA_CID
    assert periphid & 0x000FFFFF == 0x00041011         # ARM, part 0x011: "arm,pl011"
    assert periphid >> 20 & 0xF == 1                   # revision 1: Linux assumes 16-deep FIFOs
    u.w(0xFE0, 0x55)                                   # read-only
    assert u.r(0xFE0) == 0x11
    assert u.r(0xFE8, 1) == 0x14 and u.r(0xFF0, 2) == 0x0D


def test_plain_registers_masks():
    u = Uart()
    for off, value, expect in ((P.UARTILPR, 0x1FF, 0xFF), (P.UARTIBRD, 0x1_2345, 0x2345),
                               (P.UARTFBRD, 0xFF, 0x3F), (P.UARTLCR_H, 0x1FF, 0xFF),
                               (P.UARTIFLS, 0xFF, 0x3F), (P.UARTDMACR, 0xF, 0x7),
                               (P.UARTIMSC, 0xFFFF, 0x7FF), (P.UARTCR, 0xFFFF, 0xFF87)):
        u.w(off, value)
        assert u.r(off) == expect, hex(off)


def test_reserved_offsets_raz_wi():
    u = Uart()
    for off in (0x008, 0x00C, 0x010, 0x014, 0x01C, 0x04C, 0x100, 0xFDC):
        u.w(off, 0xFFFF_FFFF)
        assert u.r(off) == 0
    assert u.r(P.UARTICR) == 0                         # write-only
    u.w(P.UARTFR, 0)                                   # read-only: ignored
    assert u.r(P.UARTFR) == 0x90


# -- transmit ------------------------------------------------------------------------------

def test_transmit_is_immediate_and_sets_txris():
    u = Uart()
    u.enable_fifo()
    for ch in b"hello, world\n" * 4:                   # more than a FIFO's worth
        assert not u.r(P.UARTFR) & (P.FR_TXFF | P.FR_BUSY)
        u.w(P.UARTDR, ch)
    assert bytes(u.out) == b"hello, world\n" * 4
    fr = u.r(P.UARTFR)
    assert fr & P.FR_TXFE and not fr & (P.FR_TXFF | P.FR_BUSY)
    assert u.r(P.UARTRIS) & P.TXRIS
    assert u.r(P.UARTMIS) == 0 and u.edges == []       # masked: the line stays low
    u.w(P.UARTIMSC, P.TXRIS)
    assert u.line is True and u.r(P.UARTMIS) == P.TXRIS
    u.w(P.UARTICR, P.TXRIS)
    assert u.line is False and u.r(P.UARTRIS) == 0
    u.w(P.UARTDR, ord("x"))                            # the next character raises it again
    assert u.line is True


def test_transmit_needs_no_enable_like_qemu():
    # Reset CR has UARTEN clear; earlycon on a directly booted kernel writes anyway.
    u = Uart()
    u.w(P.UARTDR, ord("E"))
    assert bytes(u.out) == b"E"


def test_byte_lane_accesses():
    u = Uart()
    u.w(P.UARTDR, ord("b"), size=1)
    assert bytes(u.out) == b"b"
    assert u.r(P.UARTFR, 2) == 0x90
    assert u.r(P.UARTCR + 1, 1) == 0x03                # CR[15:8]
    u.w(P.UARTIMSC + 1, 0x02, size=1)                  # IMSC bit 9 (BEIM) via its byte lane
    assert u.r(P.UARTIMSC) == P.BERIS


def test_linux_style_tx_never_unmasks_txim():
    """pl011_start_tx_pio writes while FR.TXFF is clear and unmasks TXIM only if it had to
    stop; with instant transmission it never has to, so no TX interrupt storm."""
    u = Uart()
    u.enable_fifo()
    u.w(P.UARTIMSC, P.RTRIS | P.RXRIS)
    im = u.r(P.UARTIMSC)
    queue = bytearray(b"x" * 300)
    while queue and not u.r(P.UARTFR) & P.FR_TXFF:
        u.w(P.UARTDR, queue.pop(0))
    if queue:
        im |= P.TXRIS
        u.w(P.UARTIMSC, im)
    assert not queue and not im & P.TXRIS
    assert u.line is False and len(u.out) == 300


# -- receive FIFO --------------------------------------------------------------------------

def test_fifo_full_and_empty_flags():
    u = Uart()
    u.enable_fifo()
    assert u.dev.can_receive() == 16
    assert u.dev.receive(bytes(range(65, 65 + 20))) == 16      # the rest stays with us
    fr = u.r(P.UARTFR)
    assert fr & P.FR_RXFF and not fr & P.FR_RXFE
    assert u.dev.can_receive() == 0 and u.dev.receive(b"Z") == 0
    assert u.r(P.UARTDR) == 65
    fr = u.r(P.UARTFR)
    assert not fr & P.FR_RXFF and not fr & P.FR_RXFE
    assert u.dev.receive(b"Z") == 1
    assert u.drain() == bytes(range(66, 65 + 16)) + b"Z"
    assert u.r(P.UARTFR) & P.FR_RXFE


def test_holding_register_when_fifo_disabled():
    u = Uart()                                         # FEN=0 at reset
    assert u.dev.can_receive() == 1
    assert u.dev.receive(b"ab") == 1
    assert u.r(P.UARTFR) & P.FR_RXFF
    assert u.r(P.UARTRIS) & P.RXRIS                    # trigger is one character
    assert u.r(P.UARTDR) == ord("a")
    assert u.r(P.UARTRIS) & P.RXRIS == 0
    assert u.dev.receive(b"b") == 1 and u.r(P.UARTDR) == ord("b")


def test_fen_change_keeps_received_data():
    u = Uart()
    u.enable_fifo()
    u.dev.receive(b"abc")
    u.w(P.UARTLCR_H, 0x60)                             # FIFOs off: depth 1, still 3 inside
    assert u.dev.can_receive() == 0 and u.r(P.UARTFR) & P.FR_RXFF
    assert u.drain() == b"abc"


def test_rx_trigger_levels_from_ifls():
    for rxiflsel, level in enumerate((2, 4, 8, 12, 14)):
        u = Uart()
        u.enable_fifo(ifls=rxiflsel << 3)
        u.w(P.UARTIMSC, P.RXRIS)
        for i in range(level - 1):
            u.dev.receive(b"x")
        assert not u.r(P.UARTRIS) & P.RXRIS, rxiflsel
        assert u.line is False
        u.dev.receive(b"x")
        assert u.r(P.UARTRIS) & P.RXRIS and u.line is True
        u.r(P.UARTDR)                                  # below the trigger again: cleared
        assert not u.r(P.UARTRIS) & P.RXRIS and u.line is False


def test_receive_timeout_when_the_line_goes_idle():
    u = Uart()
    u.enable_fifo()                                    # RX trigger 8
    u.w(P.UARTIMSC, P.RTRIS | P.RXRIS)
    u.dev.receive(b"ls\r")
    assert u.r(P.UARTRIS) & (P.RTRIS | P.RXRIS) == P.RTRIS and u.line is True
    assert u.r(P.UARTDR) == ord("l")
    assert u.r(P.UARTRIS) & P.RTRIS                    # stays until the FIFO is empty
    u.r(P.UARTDR), u.r(P.UARTDR)
    assert u.r(P.UARTRIS) == 0 and u.line is False
    u.dev.receive(b"q")
    u.w(P.UARTICR, P.RTRIS)                            # or until cleared
    assert u.r(P.UARTRIS) == 0 and u.line is False
    assert u.drain() == b"q"


def test_no_timeout_while_more_input_is_pending():
    u = Uart()
    u.enable_fifo(ifls=4 << 3)                         # RX trigger 14
    assert u.dev.receive(b"y" * 15) == 15
    assert u.r(P.UARTRIS) & P.RTRIS                    # all taken: idle
    u = Uart()
    u.enable_fifo(ifls=4 << 3)
    assert u.dev.receive(b"y" * 40) == 16              # 24 left over: the line is busy
    assert u.r(P.UARTRIS) & (P.RTRIS | P.RXRIS) == P.RXRIS


def test_linux_interrupt_handler_flow():
    """pl011_startup / pl011_enable_interrupts / pl011_int as Linux 6.12 does them."""
    u = Uart()
    u.dev.receive(b"?")                                # junk before the driver starts
    u.w(P.UARTICR, P.OERIS | P.BERIS | P.PERIS | P.FERIS | P.RTRIS | P.RXRIS)
    u.w(P.UARTIMSC, P.RTRIS | P.RXRIS)
    u.w(P.UARTIFLS, 0x12)
    u.w(P.UARTCR, P.CR_UARTEN | P.CR_RXE | P.CR_TXE)
    u.w(P.UARTIBRD, 13)
    u.w(P.UARTFBRD, 1)
    u.w(P.UARTLCR_H, P.LCR_H_FEN | 0x60)
    u.w(P.UARTICR, P.RTRIS | P.RXRIS)
    assert u.drain() == b"?"
    im = P.RTRIS | P.RXRIS
    u.w(P.UARTIMSC, im)
    assert u.line is False

    received = bytearray()
    sent = b"echo hello; cat /proc/cpuinfo\r" * 3
    pending = bytearray(sent)
    while pending or u.line:
        if pending:
            del pending[:u.dev.receive(bytes(pending))]
        passes = 0
        while u.line:                                  # the interrupt handler
            status = u.r(P.UARTRIS) & im
            u.w(P.UARTICR, status & ~(P.TXRIS | P.RTRIS | P.RXRIS))
            if status & (P.RTRIS | P.RXRIS):
                received += u.drain()
            passes += 1
            assert passes < 256, "interrupt does not go away"
    assert bytes(received) == sent


def test_break_and_error_bits():
    u = Uart()
    u.enable_fifo()
    u.w(P.UARTIMSC, P.BERIS)
    assert u.dev.receive_break()
    assert u.line is True and u.r(P.UARTRIS) & P.BERIS
    assert u.r(P.UARTDR) == P.DR_BE                    # NUL with BE
    assert u.r(P.UARTRSR) == P.DR_BE >> 8
    u.w(P.UARTRSR, 0)                                  # UARTECR
    assert u.r(P.UARTRSR) == 0
    u.w(P.UARTICR, P.BERIS)
    assert u.line is False


def test_overrun_in_loopback():
    u = Uart()                                         # FIFOs off: one-entry holding register
    u.w(P.UARTCR, P.CR_UARTEN | P.CR_TXE | P.CR_RXE | P.CR_LBE)
    u.w(P.UARTDR, ord("1"))
    u.w(P.UARTDR, ord("2"))                            # holding register full: overrun
    assert bytes(u.out) == b"12"                       # the line still carries both
    assert u.r(P.UARTRIS) & P.OERIS
    assert u.r(P.UARTRSR) & 0x8                        # RSR.OE at once
    assert u.r(P.UARTDR) == ord("1")                   # FIFO contents stay valid
    u.w(P.UARTDR, ord("3"))
    assert u.r(P.UARTDR) == ord("3") | P.DR_OE         # OE rides on the next character in
    u.w(P.UARTRSR, 0)
    assert u.r(P.UARTRSR) == 0


def test_loopback_holds_host_input_and_wires_modem_lines():
    u = Uart()
    u.enable_fifo()
    u.w(P.UARTIMSC, P.CTSMIS)
    u.w(P.UARTCR, P.CR_UARTEN | P.CR_TXE | P.CR_RXE | P.CR_LBE)
    assert u.dev.can_receive() == 0 and u.dev.receive(b"host") == 0
    u.w(P.UARTDR, ord("L"))
    assert u.drain() == b"L"
    assert not u.r(P.UARTFR) & P.FR_CTS
    u.w(P.UARTCR, P.CR_UARTEN | P.CR_TXE | P.CR_RXE | P.CR_LBE | P.CR_RTS)
    assert u.r(P.UARTFR) & P.FR_CTS and u.line is True
    u.w(P.UARTCR, P.CR_UARTEN | P.CR_TXE | P.CR_RXE)   # loopback off: host input again
    assert u.dev.receive(b"host") == 4


def test_snapshot_round_trip():
    u = Uart()
    u.enable_fifo()
    u.w(P.UARTIMSC, P.RTRIS)
    u.dev.receive(b"abcdef")
    u.r(P.UARTDR)
    state = save_state(u.dev)
    v = Uart()
    load_state(v.dev, state)
    v.dev.post_load()
    assert v.line is True
    assert all(v.r(off) == u.r(off) for off in range(0x04, 0x4C, 4))
    assert v.drain() == b"bcdef"
    w = Uart()
    fresh = save_state(w.dev)
    for bad in (dict(state, rx_pos=99), dict(state, rx_count=-1), dict(state, cr="x"),
                dict(state, rx_fifo=state["rx_fifo"][:-1])):
        with pytest.raises(ValueError):
            load_state(w.dev, bad)
        assert save_state(w.dev) == fresh          # nothing applied


def test_reset_lowers_the_line():
    u = Uart()
    u.w(P.UARTIMSC, P.TXRIS)
    u.w(P.UARTDR, 0x41)
    assert u.line is True
    u.dev.reset()
    assert u.line is False and u.r(P.UARTFR) == 0x90


# -- QEMU as the oracle --------------------------------------------------------------------

# (op, offset, value): 1 write32, 2 read32, 3 read16, 4 read8.  Only what QEMU 7.2 models the
# same way: no input, no loopback (QEMU 8.0+), values inside the TRM's field widths.
W, R, R16, R8 = 1, 2, 3, 4
ORACLE_SCRIPT = (
    [(R, off, 0) for off in range(0x000, 0x04C, 4)]
    + [(R, off, 0) for off in range(0xFE0, 0x1000, 4)]
    + [(R8, 0xFE8, 0), (R16, P.UARTFR, 0)]
    + [(W, P.UARTIBRD, 13), (W, P.UARTFBRD, 1), (W, P.UARTLCR_H, 0x70),
       (W, P.UARTIFLS, 0x24), (W, P.UARTCR, 0x301), (W, P.UARTIMSC, 0x50),
       (W, P.UARTILPR, 0x5A), (W, P.UARTDMACR, 0x4)]
    + [(R, off, 0) for off in range(0x000, 0x04C, 4)]
    + [(W, P.UARTDR, ord("A")), (W, P.UARTDR, ord("B")), (R, P.UARTRIS, 0),
       (R, P.UARTMIS, 0), (R, P.UARTFR, 0), (W, P.UARTIMSC, 0x70), (R, P.UARTMIS, 0),
       (W, P.UARTICR, 0x20), (R, P.UARTRIS, 0), (R, P.UARTMIS, 0),
       (W, P.UARTRSR, 0), (R, P.UARTRSR, 0), (W, P.UARTLCR_H, 0x60), (R, P.UARTFR, 0),
       (W, P.UARTDR, ord("\n")), (R, P.UARTRIS, 0)]
)

GUEST_S = r"""
    .global _start
_start:
    ldr     x19, =0x09000000
    adr     x20, script
    adr     x21, results
next:
    ldp     w0, w1, [x20], #8
    ldr     w2, [x20], #4
    cbz     w0, dump
    add     x3, x19, x1
    cmp     w0, #1
    b.ne    1f
    str     w2, [x3]
    b       next
1:  cmp     w0, #2
    b.ne    2f
    ldr     w4, [x3]
    b       store
2:  cmp     w0, #3
    b.ne    3f
    ldrh    w4, [x3]
    b       store
3:  ldrb    w4, [x3]
store:
    str     w4, [x21], #4
    b       next
dump:                               // each result as 8 hex digits and a newline
    adr     x22, results
4:  cmp     x22, x21
    b.eq    off
    ldr     w4, [x22], #4
    mov     w5, #28
5:  lsr     w6, w4, w5
    and     w6, w6, #0xf
    add     w7, w6, #'0'
    add     w8, w6, #('a' - 10)
    cmp     w6, #10
    csel    w6, w7, w8, lt
    str     w6, [x19]
    subs    w5, w5, #4
    b.ge    5b
    mov     w6, #'\n'
    str     w6, [x19]
    b       4b
off:
    ldr     x0, =0x84000008         // PSCI SYSTEM_OFF
    hvc     #0
    b       .
    .ltorg
    .balign 4
script:
{script}
    .word 0, 0, 0
    .balign 16
results:
    .space {space}
"""


def _replay(script):
    u = Uart()
    results = []
    for op, off, value in script:
        if op == W:
            u.w(off, value)
        else:
            results.append(u.r(off, {R: 4, R16: 2, R8: 1}[op]))
    return bytes(u.out) + b"".join(b"%08x\n" % v for v in results)


@pytest.mark.skipif(QEMU_SYSTEM is None, reason="qemu-system-aarch64 (the oracle) is missing")
@pytest.mark.skipif(CROSS_CC is None, reason="aarch64-linux-gnu-gcc is missing")
def test_register_behaviour_matches_qemu(tmp_path):
    words = "\n".join(f"    .word {op}, {off:#x}, {value:#x}" for op, off, value in ORACLE_SCRIPT)
    src = tmp_path / "guest.S"
    src.write_text(GUEST_S.format(script=words, space=4 * len(ORACLE_SCRIPT)))
    elf = tmp_path / "guest.elf"
    subprocess.run([CROSS_CC, "-nostdlib", "-static", "-Wl,-Ttext=0x40200000", "-o", str(elf),
                    str(src)], check=True, capture_output=True)
    # -nodefaults: no NIC (its option ROM is not packaged) and no second serial/monitor.
    r = subprocess.run([QEMU_SYSTEM, "-M", "virt,gic-version=3", "-cpu", "cortex-a57",
                        "-m", "128M", "-display", "none", "-nodefaults", "-serial", "stdio",
                        "-kernel", str(elf)],
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout == _replay(ORACLE_SCRIPT)


# -- character back ends -------------------------------------------------------------------

def test_frontend_loses_no_input_when_the_fifo_is_full():
    u = Uart()
    u.enable_fifo()
    backend = MemoryBackend()
    fe = CharFrontend(backend, u.dev)
    text = bytes(range(256)) * 4
    backend.feed(text)
    got = bytearray()
    rounds = 0
    while len(got) < len(text):
        fe.pump()
        chunk = bytearray()
        for _ in range(5):                             # a slow guest: five per round
            if u.r(P.UARTFR) & P.FR_RXFE:
                break
            chunk.append(u.r(P.UARTDR) & 0xFF)
        got += chunk
        rounds += 1
        assert rounds < 1000
    assert bytes(got) == text and fe.pending == 0
    backend.close()


def test_frontend_fileno_only_when_the_device_has_room():
    u = Uart()                                         # one-entry holding register
    backend = MemoryBackend()
    fe = CharFrontend(backend, u.dev)
    assert fe.fileno() == backend.fileno()
    backend.feed(b"xy")
    assert fe.pump() == 1 and fe.fileno() is None      # full: nothing to wait for
    assert u.r(P.UARTDR) == ord("x")
    assert fe.pump() == 1 and u.r(P.UARTDR) == ord("y")
    assert fe.pump() == 0
    backend.close()


def test_memory_backend_fileno_is_selectable():
    import select
    b = MemoryBackend()
    assert select.select([b.fileno()], [], [], 0)[0] == []
    b.feed(b"hi")
    assert select.select([b.fileno()], [], [], 0)[0] == [b.fileno()]
    assert b.read(1) == b"h" and b.read(10) == b"i"
    assert select.select([b.fileno()], [], [], 0)[0] == []
    b.write(b"out")
    assert b.take_output() == b"out" and b.output == b""
    b.close()


def test_uart_output_into_file_backend(tmp_path):
    path = tmp_path / "serial.log"
    b = open_chardev(f"file:{path}")
    assert isinstance(b, FileBackend) and b.fileno() is None and b.read(10) == b""
    dev = PL011(b.write, lambda level: None)
    for ch in b"boot log\n":
        dev.write(P.UARTDR, 4, ch)
    b.close()
    assert path.read_bytes() == b"boot log\n"


def test_open_chardev_specs():
    assert isinstance(open_chardev("null"), NullBackend)
    assert isinstance(open_chardev("none"), NullBackend)
    for bad in ("", "file:", "tcp:1234", "pty"):
        with pytest.raises(ValueError):
            open_chardev(bad)


def test_stdio_backend_raw_mode_on_a_tty():
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    b = StdioBackend(stdin=slave, stdout=slave)
    raw = termios.tcgetattr(slave)
    assert not raw[3] & (termios.ICANON | termios.ECHO)
    assert not raw[0] & termios.ICRNL
    assert raw[1] & termios.OPOST
    assert b.fileno() == slave and b.read(16) == b""   # nothing typed: no blocking
    os.write(master, b"a\rb")
    import select
    select.select([slave], [], [], 5)
    assert b.read(16) == b"a\rb"                       # raw: CR kept, no line buffering
    b.write(b"out")
    assert os.read(master, 16) == b"out"
    b.close()
    assert termios.tcgetattr(slave) == before
    os.close(master)
    os.close(slave)


def test_stdio_backend_eof_stops_offering_a_descriptor():
    r, w = os.pipe()
    os.close(w)
    b = StdioBackend(stdin=r, stdout=os.open(os.devnull, os.O_WRONLY))
    assert b.read(8) == b"" and b.eof and b.fileno() is None
    b.close()
    os.close(r)
