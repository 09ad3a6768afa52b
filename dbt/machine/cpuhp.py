"""The CPU-hotplug register block QEMU's ACPI CPU hotplug uses ("modern" interface,
docs/specs/acpi_cpu_hotplug.rst), in SystemMemory at the board's `cpuhp` region.  The DSDT's
CSCN/CSTA/CEJ0/COST methods drive it; see reference/HOTPLUG_PROTOCOL.md section 1.

    0x0 u32  read: command data 2 (arch id high word after command 3, else 0)
             write: CPU selector
    0x4 u8   read: flags of the selected CPU (CPEN, CINS, CRMV)
             write: 1-bits act, the first set one only: clear CINS, clear CRMV, eject (CEJ0)
    0x5 u8   write: command (0 next CPU with an event, 1 OST event, 2 OST status, 3 arch id)
    0x8 u32  read: command data (selector after command 0, arch id low word after command 3)
             write: OST event (after command 1) or OST status (after command 2)

A selector past the last possible CPU makes every read 0 and every write but the selector's
a no-op.  A system reset keeps the selector (as QEMU) and the pending events (unlike QEMU,
whose events a reboot can lose); it clears the command and the OST records.
"""
from __future__ import annotations

from .device import Device

SELECTOR, FLAGS, COMMAND, DATA = 0x0, 0x4, 0x5, 0x8

# flags, read
CPEN, CINS, CRMV = 1 << 0, 1 << 1, 1 << 2
# flags, write
CLEAR_CINS, CLEAR_CRMV, CEJ0, CEJF = 1 << 1, 1 << 2, 1 << 3, 1 << 4

CMD_GET_NEXT_CPU_WITH_EVENT, CMD_OST_EVENT, CMD_OST_STATUS, CMD_GET_CPU_ID = 0, 1, 2, 3
CMD_MAX = 4


class CPUHotplugController(Device):
    STATE = ("selector", "command", "inserting", "removing", "ost_event", "ost_status")

    def __init__(self, possible: int, board):
        """board: enabled(i) -> bool (CPU i is plugged), arch_id(i) -> MPIDR,
        eject(i) -> str | None (None: done, else why refused), ost(i, event, status)."""
        self.possible = possible
        self._board = board
        self.selector = 0
        self.command = 0
        self.inserting = [False] * possible
        self.removing = [False] * possible
        self.ost_event = [0] * possible
        self.ost_status = [0] * possible
        self.refused = 0                    # eject writes the board refused (a count: a
                                            # guest may repeat one forever)

    def reset(self) -> None:
        # pending insert/remove events survive a reset (the board raises the GED event
        # again), so a device_del sent while the guest reboots is not lost
        n = self.possible
        self.ost_event, self.ost_status = [0] * n, [0] * n
        self.command = 0

    # -- the board's side -----------------------------------------------------------------
    def request_insert(self, i: int) -> None:
        self.inserting[i] = True

    def request_remove(self, i: int) -> None:
        self.removing[i] = True

    def forget(self, i: int) -> None:
        """CPU i left (ejected) or came back clean: no event of it is pending any more."""
        self.inserting[i] = self.removing[i] = False

    # -- the guest's side -----------------------------------------------------------------
    def _valid(self) -> bool:
        return self.selector < self.possible

    def read(self, offset: int, size: int) -> int:
        if not self._valid():
            return 0
        i = self.selector
        if offset == SELECTOR:
            if self.command == CMD_GET_CPU_ID:
                return self._board.arch_id(i) >> 32
            return 0
        if offset == FLAGS:
            return ((CPEN if self._board.enabled(i) else 0) | (CINS if self.inserting[i] else 0)
                    | (CRMV if self.removing[i] else 0))
        if offset == DATA:
            if self.command == CMD_GET_NEXT_CPU_WITH_EVENT:
                return i
            if self.command == CMD_GET_CPU_ID:
                return self._board.arch_id(i) & 0xFFFF_FFFF
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset == SELECTOR:
            self.selector = value & 0xFFFF_FFFF
            return
        if not self._valid():
            return
        i = self.selector
        if offset == FLAGS:
            value &= 0xFF
            # one action per write, the lowest bit first (the AML writes one bit at a time)
            if value & CLEAR_CINS:
                self.inserting[i] = False
            elif value & CLEAR_CRMV:
                self.removing[i] = False
            elif value & CEJ0:
                if self._board.eject(i) is not None:
                    self.refused += 1
            # CEJF hands the eject to firmware; there is none, so it does nothing
        elif offset == COMMAND:
            value &= 0xFF
            if value >= CMD_MAX:
                return
            self.command = value
            if value == CMD_GET_NEXT_CPU_WITH_EVENT:
                n = self.possible
                for k in range(n):
                    j = (i + k) % n
                    if self.inserting[j] or self.removing[j]:
                        self.selector = j
                        break
        elif offset == DATA:
            value &= 0xFFFF_FFFF
            if self.command == CMD_OST_EVENT:
                self.ost_event[i] = value
            elif self.command == CMD_OST_STATUS:
                self.ost_status[i] = value
                self._board.ost(i, self.ost_event[i], value)
