"""The machine's answers to monitor and QMP commands (`control.Control`).

CPU hotplug follows QEMU's x86/LoongArch model as Linux 6.11+ drives it on arm64
(reference/HOTPLUG_PROTOCOL.md sections 3 and 7): `device_add <model>-arm-cpu,core-id=N`
plugs a parked slot and signals the guest; `device_del` only asks, and `DEVICE_DELETED`
follows when the guest ejects the CPU.  Every check runs before anything changes, and the
error texts are QEMU's where QEMU has one.
"""
from __future__ import annotations

import re
import threading

from ..acpi import GED_EVT_PWR_DOWN
from .control import CommandError, Control
from .cpuslots import TOPOLOGY_IDS

# Arm CPU models QEMU knows (`-cpu help`): a device_add of another of them is a CPU of the
# wrong model rather than an unknown device
ARM_CPU_MODELS = ("a64fx", "cortex-a35", "cortex-a53", "cortex-a55", "cortex-a57",
                  "cortex-a72", "cortex-a76", "cortex-a710", "host", "max", "neoverse-n1",
                  "neoverse-n2", "neoverse-v1")
ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")        # QEMU's id_wellformed()
INT32_MAX = 2**31 - 1


class MachineControl(Control):
    def __init__(self, machine):
        super().__init__()
        self.machine = machine
        self.paused = False
        self.prelaunch = False          # -S: stopped before the first instruction
        self.started = False            # the guest has been started: device_add hot-plugs
        self.migrating = False          # set by migration; hotplug is refused meanwhile
        self.postmigrate = False        # stopped after migrating out (run state postmigrate)
        self.migration = None           # the last outgoing migration job, for query-migrate
        self.migrate_secret = None      # --migrate-secret: the stream is HMAC-authenticated
        self._anon = 0                  # next /machine/peripheral-anon/device[N]
        from ..migration.outgoing import Parameters
        self.migrate_params = Parameters()

    @property
    def cpu_type(self) -> str:
        return f"{self.machine.config.cpu_model}-arm-cpu"

    # -- queries --------------------------------------------------------------------------
    def query_status(self) -> dict:
        m = self.machine
        if m.shutdown in ("poweroff", "quit"):
            status = "shutdown"
        elif self.paused:
            status = "prelaunch" if self.prelaunch else \
                "postmigrate" if self.postmigrate else "paused"
        elif not self.started:
            status = "prelaunch"
        else:
            status = "running"
        return {"status": status, "singlestep": False, "running": status == "running"}

    def query_cpus_fast(self) -> list[dict]:
        tid = threading.get_native_id()     # every vCPU runs on the machine's one thread
        return [{"cpu-index": s.index, "qom-path": s.qom_path(), "thread-id": tid,
                 "props": dict(s.topology), "qom-type": self.cpu_type, "target": "aarch64"}
                for s in self.machine.slots if s.plugged]

    def query_hotpluggable_cpus(self) -> list[dict]:
        out = []
        for s in reversed(self.machine.slots):      # QEMU lists the highest slot first
            entry = {"type": self.cpu_type, "vcpus-count": 1, "props": dict(s.topology)}
            if s.plugged:
                entry["qom-path"] = s.qom_path()
            out.append(entry)
        return out

    # -- hotplug --------------------------------------------------------------------------
    def device_add(self, options: dict, *, typed: bool = True) -> None:
        m = self.machine
        opts = dict(options)
        driver = opts.pop("driver", None)
        if driver is None:
            raise CommandError("Parameter 'driver' is missing")
        if not isinstance(driver, str):
            raise CommandError("Invalid parameter type for 'driver', expected: string")
        if driver != self.cpu_type:
            if driver.endswith("-arm-cpu") and driver[:-8] in ARM_CPU_MODELS:
                raise CommandError(f"Invalid CPU type, expected cpu type: '{self.cpu_type}'")
            raise CommandError(f"'{driver}' is not a valid device model name")
        dev_id = opts.pop("id", None)
        if dev_id is not None:
            if not isinstance(dev_id, str):
                raise CommandError("Invalid parameter type for 'id', expected: string")
            if not ID_RE.fullmatch(dev_id):
                raise CommandError("Parameter 'id' expects an identifier")
            if self.find(dev_id) is not None:
                raise CommandError(f"Duplicate device ID '{dev_id}'")
        props = {}
        for key, value in opts.items():
            if key not in TOPOLOGY_IDS:
                raise CommandError(f"Property '{driver}.{key}' not found")
            props[key] = _int_property(key, value, typed)
        if "core-id" not in props:
            raise CommandError("CPU core-id is not set")
        last = len(m.slots) - 1
        for key in TOPOLOGY_IDS:
            hi = last if key == "core-id" else 0
            if key in props and not 0 <= props[key] <= hi:
                raise CommandError(f"Invalid {key} {props[key]} specified, "
                                   f"must be in range 0:{hi}")
        slot = m.slots[props["core-id"]]
        if slot.plugged:
            ids = ":".join(str(slot.topology[k]) for k in TOPOLOGY_IDS)
            raise CommandError(f"CPU({ids}) with arch-id {slot.mpidr:#x} exists")
        if self.migrating:
            raise CommandError("device_add not allowed while migrating")
        anon = None
        if dev_id is None:
            anon, self._anon = self._anon, self._anon + 1
        m.hotplug(slot.index, dev_id, anon, cold=not self.started)

    def device_del(self, device_id: str) -> None:
        slot = self.find(device_id)
        if slot is None:
            raise CommandError(f"Device '{device_id}' not found", "DeviceNotFound")
        if slot.index == 0:
            raise CommandError("Boot CPU(core-id=0) hot-unplug not supported")
        if self.migrating:
            raise CommandError("device_del not allowed while migrating")
        self.machine.unplug_request(slot.index)

    def find(self, name: str):
        """The plugged CPU slot with monitor id or QOM path `name`, else None."""
        for s in self.machine.slots:
            if s.plugged and name in (s.dev_id, s.qom_path()):
                return s
        return None

    # -- run state ------------------------------------------------------------------------
    def stop(self, prelaunch: bool = False) -> None:
        self.prelaunch = self.prelaunch or prelaunch
        if not self.paused:
            self.paused = True
            self.machine.clock.pause()
            if not prelaunch:               # QEMU announces no STOP for -S
                self.emit("STOP")

    def cont(self) -> None:
        if self.paused:
            self.paused = self.prelaunch = self.postmigrate = False
            self.machine.clock.resume()
            self.emit("RESUME")

    def system_reset(self) -> None:
        self.machine.request_shutdown("reset")
        self.emit("RESET", {"guest": False, "reason": "host-qmp-system-reset"})

    def system_powerdown(self) -> None:
        self.machine.ged.raise_event(GED_EVT_PWR_DOWN)
        self.emit("POWERDOWN")

    def quit(self) -> None:
        # SHUTDOWN is announced when the machine stops, after this command's reply
        self.machine.request_shutdown("quit", "host-qmp-quit")

    # -- migration ------------------------------------------------------------------------
    def migrate(self, uri: str) -> None:
        """Start migrating to uri (file:PATH, tcp:HOST:PORT, unix:PATH); progress shows in
        query_migrate and MIGRATION events."""
        from ..migration import MigrationError
        from ..migration.outgoing import OutgoingMigration, parse_uri
        if self.migration is not None and self.migration.active:
            raise CommandError("There's a migration process in progress")
        if self.machine.shutdown is not None or not self.started:
            raise CommandError("Guest is not running; nothing to migrate" if self.started
                               else "The guest has not started yet")
        try:
            parse_uri(uri)
        except MigrationError as exc:
            raise CommandError(str(exc)) from None
        job = OutgoingMigration(self.machine, uri, self.migrate_params, self.migrate_secret)
        self.migration = job
        job.start()         # as QEMU: a destination that cannot be reached fails the job

    def migrate_cancel(self) -> None:
        if self.migration is not None:
            self.migration.cancel()

    def query_migrate(self) -> dict:
        return {} if self.migration is None else self.migration.info()

    def migrate_set_parameters(self, params: dict) -> None:
        """downtime-limit (ms) and max-bandwidth (bytes/s); all checked before any is set.
        A running migration uses the new values from its next step."""
        from ..migration.outgoing import MAX_DOWNTIME_LIMIT_MS
        # QEMU's texts, (2000 * 1000) included
        limits = {"downtime-limit": (MAX_DOWNTIME_LIMIT_MS, "(2000 * 1000) ms"),
                  "max-bandwidth": ((1 << 64) - 1, f"{(1 << 64) - 1} bytes/second")}
        for key, value in params.items():
            hi, text = limits[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
                name = key.replace("-", "_")
                raise CommandError(f"Parameter '{name}' expects an integer in the range of 0 "
                                   f"to {text}")
        if "downtime-limit" in params:
            self.migrate_params.downtime_limit = params["downtime-limit"]
        if "max-bandwidth" in params:
            self.migrate_params.max_bandwidth = params["max-bandwidth"]

    def query_migrate_parameters(self) -> dict:
        return self.migrate_params.as_qmp()


def _int_property(key: str, value, typed: bool) -> int:
    if typed:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CommandError(f"Invalid parameter type for '{key}', expected: integer")
        number = value
    else:
        text = str(value).strip()
        try:
            number = int(text, 0)
        except ValueError:
            raise CommandError(f"Parameter '{key}' expects int32") from None
    if not -INT32_MAX - 1 <= number <= INT32_MAX:
        raise CommandError(f"Parameter '{key}' expects int32")
    return number
