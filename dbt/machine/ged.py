"""ACPI Generic Event Device (ACPI 6.5 section 5.6.9; `ACPI0013`), as QEMU's virt has it.

One 32-bit event selector, ESEL, at offset 0.  The board ORs event bits into it and pulses
an edge-triggered SPI; the guest's `_EVT` method reads ESEL, which returns every bit raised
since the last read and clears them.  Bits are latched until read, so one interrupt covers
any number of events and an event raised while the guest is still in `_EVT` is not lost.
Only 32-bit reads of offset 0 do anything; other accesses read 0 and writes are ignored (as
QEMU's model, whose region accepts exactly 4-byte accesses).
"""
from __future__ import annotations

from .device import Device

ESEL = 0x0


class GenericEventDevice(Device):
    STATE = ("sel",)

    def __init__(self, pulse):
        """pulse(): raise and lower the GED's interrupt line (an edge)."""
        self._pulse = pulse
        self.sel = 0

    def reset(self) -> None:
        self.sel = 0

    def raise_event(self, bits: int) -> None:
        self.sel |= bits
        self._pulse()

    def read(self, offset: int, size: int) -> int:
        if offset != ESEL or size != 4:
            return 0
        value, self.sel = self.sel, 0
        return value

    def write(self, offset: int, size: int, value: int) -> None:
        pass
