"""ARM PrimeCell UART (PL011), register names from the TRM (ARM DDI 0183).

Transmission is instantaneous: a character written to UARTDR goes to `output` at once, so the
transmit FIFO is always empty (FR.TXFE=1, TXFF=0, BUSY=0).  Reception goes through a receive
FIFO of 16 entries (a 1-entry holding register while LCR_H.FEN=0); the host side offers input
with `receive()` and whatever does not fit stays with the caller, so nothing is dropped.

Interrupts follow the TRM, and the two places where the TRM's timing has no equivalent here
follow what Linux's amba-pl011 driver relies on (and what QEMU's model does):
- TXRIS is set each time a character leaves the transmit FIFO, i.e. on every UARTDR write,
  and cleared only through UARTICR.  Linux never unmasks TXIM unless it found FR.TXFF set
  (never here), so a latched TXRIS cannot storm; drivers that unmask TXIM after a write and
  refill from the interrupt still get their interrupt.
- RTRIS (receive timeout, "no data for 32 bit periods") is set when `receive()` has taken
  everything the host had and characters wait in the FIFO: the host line is then idle.  Linux
  programs the RX trigger to half full and relies on the timeout for shorter input.
"""
import logging

from .device import Device

# Accesses to reserved offsets go here once each; `-d unimp` is expected to enable it.
_unimp = logging.getLogger("dbt.unimp")

# The clock the virt board feeds the UART (UARTCLK and PCLK): QEMU's 24 MHz fixed clock.
UARTCLK_HZ = 24_000_000

# Register offsets (TRM, register summary).
UARTDR, UARTRSR, UARTFR, UARTILPR = 0x000, 0x004, 0x018, 0x020
UARTIBRD, UARTFBRD, UARTLCR_H, UARTCR = 0x024, 0x028, 0x02C, 0x030
UARTIFLS, UARTIMSC, UARTRIS, UARTMIS = 0x034, 0x038, 0x03C, 0x040
UARTICR, UARTDMACR = 0x044, 0x048
PERIPH_ID_BASE = 0xFE0

# UARTPeriphID0-3, UARTPCellID0-3.  PeriphID2 revision 1 (r1p3): Linux sizes the FIFOs from
# the revision (16 entries below revision 3), so the value fixes FIFO_DEPTH below.
PERIPH_ID = (0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1)
FIFO_DEPTH = 16

# UARTDR read bits / UARTRSR bits (RSR holds DR[11:8] shifted down).
DR_FE, DR_PE, DR_BE, DR_OE = 1 << 8, 1 << 9, 1 << 10, 1 << 11
RSR_OE = DR_OE >> 8

# UARTFR
FR_CTS, FR_DSR, FR_DCD, FR_BUSY = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FR_RXFE, FR_TXFF, FR_RXFF, FR_TXFE, FR_RI = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8

# UARTLCR_H
LCR_H_BRK, LCR_H_FEN = 1 << 0, 1 << 4

# UARTCR
CR_UARTEN, CR_SIREN, CR_SIRLP, CR_LBE = 1 << 0, 1 << 1, 1 << 2, 1 << 7
CR_TXE, CR_RXE, CR_DTR, CR_RTS = 1 << 8, 1 << 9, 1 << 10, 1 << 11
CR_OUT1, CR_OUT2, CR_RTSEN, CR_CTSEN = 1 << 12, 1 << 13, 1 << 14, 1 << 15
CR_WRITABLE = 0xFF87                    # bits 6:3 are reserved

# UARTRIS / UARTIMSC / UARTMIS / UARTICR bits
RIMIS, CTSMIS, DCDMIS, DSRMIS = 1 << 0, 1 << 1, 1 << 2, 1 << 3
RXRIS, TXRIS, RTRIS, FERIS = 1 << 4, 1 << 5, 1 << 6, 1 << 7
PERIS, BERIS, OERIS = 1 << 8, 1 << 9, 1 << 10
INT_ALL = 0x7FF

# UARTIFLS.RXIFLSEL -> receive trigger as a fill level of the 16-entry FIFO (1/8 .. 7/8).
# Values 0b101..0b111 are reserved; they behave as the highest level here.
RX_TRIGGER = (2, 4, 8, 12, 14, 14, 14, 14)


# Plain read/write registers: offset -> (attribute, writable mask).
_PLAIN = {
    UARTILPR: ("ilpr", 0xFF),
    UARTIBRD: ("ibrd", 0xFFFF),
    UARTFBRD: ("fbrd", 0x3F),
    UARTIFLS: ("ifls", 0x3F),
    UARTDMACR: ("dmacr", 0x7),
}


class PL011(Device):
    STATE = ("rsr", "ilpr", "ibrd", "fbrd", "lcr_h", "cr", "ifls", "imsc", "ris", "dmacr",
             "rx_fifo", "rx_pos", "rx_count", "rx_overrun")

    def __init__(self, output, irq):
        self.output = output            # callable(bytes): the transmit line
        self.irq = irq                  # callable(bool): UARTINTR, the combined interrupt
        self._line = False
        self._unimp_seen = set()
        self.reset()

    def reset(self) -> None:
        self.rsr = 0                    # UARTRSR: FE/PE/BE of the last character read, OE
        self.ilpr = 0
        self.ibrd = 0
        self.fbrd = 0
        self.lcr_h = 0
        self.cr = CR_RXE | CR_TXE       # TRM reset value 0x300
        self.ifls = 0x12                # both triggers at half full
        self.imsc = 0
        self.ris = 0                    # UARTRIS: raw interrupt status
        self.dmacr = 0
        # Receive FIFO: 12-bit entries (data + FE/PE/BE/OE), a ring of FIFO_DEPTH slots.
        self.rx_fifo = [0] * FIFO_DEPTH
        self.rx_pos = 0
        self.rx_count = 0
        # An overrun happened; the OE flag goes with the next character that gets in.
        self.rx_overrun = False
        self._update()

    # -- derived state -------------------------------------------------------------------

    def _depth(self) -> int:
        return FIFO_DEPTH if self.lcr_h & LCR_H_FEN else 1

    def _rx_trigger(self) -> int:
        # With the FIFOs off the receive interrupt fires on every character (TRM, UARTRXINTR).
        return RX_TRIGGER[self.ifls >> 3 & 7] if self.lcr_h & LCR_H_FEN else 1

    def _modem_inputs(self) -> int:
        """FR's CTS/DSR/DCD/RI.  Nothing drives them except loopback, which wires
        RTS->CTS, DTR->DSR, Out1->DCD, Out2->RI (TRM, UARTCR.LBE)."""
        if not self.cr & CR_LBE:
            return 0
        fr = 0
        for out, inp in ((CR_RTS, FR_CTS), (CR_DTR, FR_DSR), (CR_OUT1, FR_DCD),
                         (CR_OUT2, FR_RI)):
            if self.cr & out:
                fr |= inp
        return fr

    def _fr(self) -> int:
        fr = FR_TXFE | self._modem_inputs()
        if self.rx_count == 0:
            fr |= FR_RXFE
        if self.rx_count >= self._depth():
            fr |= FR_RXFF
        return fr

    def _update(self) -> None:
        line = bool(self.ris & self.imsc)
        if line != self._line:
            self._line = line
            self.irq(line)

    # -- receive path --------------------------------------------------------------------

    def can_receive(self) -> int:
        """How many characters `receive` would accept now."""
        if self.cr & CR_LBE:
            # In loopback the receiver listens to the transmitter only; host input waits.
            return 0
        return max(0, self._depth() - self.rx_count)

    def receive(self, data: bytes) -> int:
        """Queue host input; returns how many bytes were taken (the rest: offer again)."""
        n = min(len(data), self.can_receive())
        for b in data[:n]:
            self._push(b)
        if n and n == len(data):
            self._line_idle()
        self._update()
        return n

    def receive_break(self) -> bool:
        """A break condition on the line: a NUL character with BE set (TRM, UARTDR.BE)."""
        if not self.can_receive():
            return False
        self._push(DR_BE)
        self.ris |= BERIS
        self._line_idle()
        self._update()
        return True

    def _push(self, entry: int) -> None:
        if self.rx_count >= self._depth():
            # Only the shift register is lost (TRM, UARTRSR.OE); the FIFO keeps its data.
            self.rsr |= RSR_OE
            self.ris |= OERIS
            self.rx_overrun = True
            return
        if self.rx_overrun:
            entry |= DR_OE
            self.rx_overrun = False
        self.rx_fifo[(self.rx_pos + self.rx_count) % FIFO_DEPTH] = entry
        self.rx_count += 1
        # RXRIS is set as the fill level reaches the trigger, not while it stays above
        # (Linux's pl011_enable_interrupts drains the FIFO because of this).
        if self.rx_count == self._rx_trigger():
            self.ris |= RXRIS

    def _line_idle(self) -> None:
        if self.rx_count:
            self.ris |= RTRIS

    def _pop(self) -> int:
        if self.rx_count == 0:
            return self.rx_fifo[self.rx_pos]        # reading an empty FIFO repeats stale data
        entry = self.rx_fifo[self.rx_pos]
        self.rx_pos = (self.rx_pos + 1) % FIFO_DEPTH
        self.rx_count -= 1
        if self.rx_count < self._rx_trigger():
            self.ris &= ~RXRIS
        if self.rx_count == 0:
            self.ris &= ~RTRIS
        # UARTRSR reflects the character just read; OE stays until UARTECR is written.
        self.rsr = (self.rsr & RSR_OE) | (entry >> 8 & 0xF)
        return entry

    # -- MMIO ----------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        reg, shift = offset & ~3, (offset & 3) * 8
        return (self._read_reg(reg) >> shift) & ((1 << (8 * size)) - 1)

    def _read_reg(self, reg: int) -> int:
        if reg == UARTDR:
            value = self._pop()
            self._update()
            return value
        if reg == UARTRSR:
            return self.rsr
        if reg == UARTFR:
            return self._fr()
        if reg in _PLAIN:
            return getattr(self, _PLAIN[reg][0])
        if reg == UARTLCR_H:
            return self.lcr_h
        if reg == UARTCR:
            return self.cr
        if reg == UARTIMSC:
            return self.imsc
        if reg == UARTRIS:
            return self.ris
        if reg == UARTMIS:
            return self.ris & self.imsc
        if PERIPH_ID_BASE <= reg < 0x1000:
            return PERIPH_ID[(reg - PERIPH_ID_BASE) >> 2]
        if reg != UARTICR:              # UARTICR is write-only and reads as zero
            self._unimp("read", reg)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        # Registers are 32 bits wide; a narrower access lands in its byte lanes.
        reg, shift = offset & ~3, (offset & 3) * 8
        value = (value & ((1 << (8 * size)) - 1)) << shift & 0xFFFF_FFFF
        if reg == UARTDR:
            self._transmit(value & 0xFF)
        elif reg == UARTRSR:            # UARTECR: any write clears the error flags
            self.rsr = 0
        elif reg in _PLAIN:
            name, mask = _PLAIN[reg]
            setattr(self, name, value & mask)
        elif reg == UARTLCR_H:
            old = self.lcr_h
            self.lcr_h = value & 0xFF
            if (old ^ self.lcr_h) & LCR_H_BRK and self.lcr_h & LCR_H_BRK \
                    and self.cr & CR_LBE:
                self._push(DR_BE)
                self.ris |= BERIS
                self._line_idle()
        elif reg == UARTCR:
            old_modem = self._modem_inputs()
            self.cr = value & CR_WRITABLE
            changed = old_modem ^ self._modem_inputs()
            # A change on a modem status input raises its interrupt (TRM, UARTMSINTR).
            for inp, bit in ((FR_CTS, CTSMIS), (FR_DSR, DSRMIS), (FR_DCD, DCDMIS),
                             (FR_RI, RIMIS)):
                if changed & inp:
                    self.ris |= bit
        elif reg == UARTIMSC:
            self.imsc = value & INT_ALL
        elif reg == UARTICR:
            self.ris &= ~(value & INT_ALL)
        elif reg not in (UARTFR, UARTRIS, UARTMIS) and not PERIPH_ID_BASE <= reg < 0x1000:
            self._unimp("write", reg)   # read-only registers ignore writes silently
        self._update()

    def _unimp(self, kind: str, reg: int) -> None:
        if (kind, reg) not in self._unimp_seen:
            self._unimp_seen.add((kind, reg))
            _unimp.info("pl011: %s of reserved offset %#x", kind, reg)

    def _transmit(self, ch: int) -> None:
        # UARTEN/TXE do not gate transmission, as in QEMU: kernels booted directly (no
        # firmware to set UARTEN; reset CR is TXE|RXE) print through earlycon before any
        # driver has enabled the UART.
        self.output(bytes((ch,)))
        if self.cr & CR_LBE:
            self._push(ch)
            self._line_idle()
        # The character has left the transmit FIFO, which is empty again.
        self.ris |= TXRIS

    # -- snapshots -----------------------------------------------------------------------

    def check_state(self, staged: dict) -> None:
        """Before `load_state` applies anything: the FIFO indices must be in range."""
        if not (0 <= staged["rx_pos"] < FIFO_DEPTH and 0 <= staged["rx_count"] <= FIFO_DEPTH):
            raise ValueError("PL011: receive FIFO position out of range")

    def post_load(self) -> None:
        """After `load_state`: drive the interrupt line."""
        self._line = bool(self.ris & self.imsc)
        self.irq(self._line)

    @property
    def line(self) -> bool:
        """Current level of UARTINTR."""
        return self._line
