"""The commands a running machine answers, shared by the monitor (HMP) and QMP.

Both front ends parse their own syntax, call these methods on the machine's one thread, and
render the results in their own format; neither holds machine state.  Return values are
QMP's JSON shapes (qapi/machine.json, qapi/run-state.json), so QMP passes them through and
HMP formats them as QEMU's monitor does.  A refused command raises `CommandError` before it
changes anything.

Events (QMP's `DEVICE_DELETED`, `ACPI_DEVICE_OST`, `STOP`, `RESUME`, `SHUTDOWN`, ...) go to
every callable in `Control.listeners` as `(name, data)`.
"""
from __future__ import annotations


class CommandError(Exception):
    """A refused command: QMP error class (GenericError, CommandNotFound, DeviceNotFound,
    ...) and the one-line description QEMU would give."""

    def __init__(self, desc: str, cls: str = "GenericError"):
        super().__init__(desc)
        self.cls = cls
        self.desc = desc


class Control:
    """What the monitor and QMP may ask of a machine.  The machine implements it."""

    def __init__(self):
        self.listeners: list = []

    def emit(self, name: str, data: dict | None = None) -> None:
        for listener in list(self.listeners):
            listener(name, {} if data is None else data)

    # -- queries --------------------------------------------------------------------------
    def query_status(self) -> dict:
        """{"running": bool, "status": "running" | "paused" | "shutdown" | ...}"""
        raise NotImplementedError

    def query_cpus_fast(self) -> list[dict]:
        """One CpuInfoFast per plugged CPU: cpu-index, qom-path, thread-id, props, target,
        qom-type."""
        raise NotImplementedError

    def query_hotpluggable_cpus(self) -> list[dict]:
        """One HotpluggableCPU per possible CPU, highest slot first: type, vcpus-count,
        props, and qom-path when the slot is occupied."""
        raise NotImplementedError

    # -- actions --------------------------------------------------------------------------
    def device_add(self, options: dict, *, typed: bool = True) -> None:
        """Plug a device.  `options` holds driver, id and the device's properties; with
        typed=False every value is the text the user wrote (HMP, the command line) and is
        parsed by the property's type."""
        raise NotImplementedError

    def device_del(self, device_id: str) -> None:
        """Ask for the unplug of device `device_id`; DEVICE_DELETED follows when done."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def cont(self) -> None:
        raise NotImplementedError

    def system_reset(self) -> None:
        raise NotImplementedError

    def system_powerdown(self) -> None:
        raise NotImplementedError

    def quit(self) -> None:
        raise NotImplementedError

    # -- migration ------------------------------------------------------------------------
    def migrate(self, uri: str) -> None:
        """Start migrating to uri; returns at once (query_migrate shows the progress)."""
        raise NotImplementedError

    def migrate_cancel(self) -> None:
        raise NotImplementedError

    def query_migrate(self) -> dict:
        """QMP's MigrationInfo: {} before any migration."""
        raise NotImplementedError

    def migrate_set_parameters(self, params: dict) -> None:
        """downtime-limit (ms), max-bandwidth (bytes/s)."""
        raise NotImplementedError

    def query_migrate_parameters(self) -> dict:
        raise NotImplementedError
