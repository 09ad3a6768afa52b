"""What of a virt machine goes into a snapshot, taken from each component's own declaration,
and how a destination machine is built and loaded from it.

The configuration record describes the machine to build (memory, smp/maxcpus, cpu model,
icount, and every plugged CPU with its monitor id and how it was plugged).  Sections carry
the state:

    machine   run state, instruction count, boot entry, the next anonymous device number
    clock     the system counter (guest time)
    cpu/N     every *possible* CPU N: identity (MPIDR), PSCI power state and WFI wait, the
              pending device_del; plugged CPUs also their architectural registers (the
              env's ARCH_FIELDS), WFE event register and timer output levels
    gic       distributor, and the redistributor and CPU interface of every possible CPU
    pl011, ged, cpuhp   Device.STATE of each
    rom       what the loader placed (written again on system_reset)

Translated code and TLBs are derived state and never travel.  Loading checks every section
(`stage`) before changing anything (`commit`).
"""
from __future__ import annotations

import time

import lz4.block

from ..cpu.state import ARCH_SIZE, OFFSET
from ..machine.commands import ID_RE
from ..machine.cpuslots import mpidr_of
from ..machine.device import commit_state, save_state, stage_state
from ..machine.memmap import MAX_CPUS
from ..machine.psci import Power
from .stream import MigrationError

MACHINE_TYPE = "virt"
CPU_MODELS = ("cortex-a57",)
MAX_MEMORY = 1 << 40
# every section this version writes, with its layout version; a reader keeps accepting the
# older layouts it lists in UPGRADES
SECTION_VERSIONS = {"machine": 1, "clock": 1, "cpu": 2, "gic": 1, "pl011": 1, "ged": 1,
                    "cpuhp": 1, "rom": 1}
# (section, old version) -> callable(state) -> the state in the next version's layout
UPGRADES: dict = {
    # cpu 2: WFE became a wait ("wfe-since"; a version 1 source only ever yielded in it) and
    # an SError can be pending ("serror"; version 1 had none)
    ("cpu", 1): lambda v: {**v, "wfe-since": None, "serror": False} if isinstance(v, dict) else v,
}
DEVICES = ("pl011", "ged", "cpuhp")


def _device(machine, name):
    return {"pl011": machine.uart, "ged": machine.ged, "cpuhp": machine.cpuhp}[name]


# -- the configuration record ----------------------------------------------------------------
def describe(machine) -> dict:
    c = machine.config
    return {
        "machine": MACHINE_TYPE, "cpu-model": c.cpu_model, "memory": c.memory,
        "smp": c.smp, "maxcpus": c.maxcpus, "icount": c.icount,
        "cpus": [{"index": s.index, "id": s.dev_id, "anon": s.anon, "hotplugged": s.hotplugged}
                 for s in machine.slots if s.plugged],
    }


def check_config(desc) -> dict:
    """Validate a configuration record from an untrusted stream; returns it."""
    def bad(why):
        raise MigrationError(f"configuration record: {why}")

    def integer(key, lo, hi):
        v = desc.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            bad(f"'{key}' must be an integer in {lo}..{hi}")
        return v

    if not isinstance(desc, dict):
        bad("not a map")
    if desc.get("machine") != MACHINE_TYPE:
        bad(f"machine type {desc.get('machine')!r} is not {MACHINE_TYPE!r}")
    if desc.get("cpu-model") not in CPU_MODELS:
        bad(f"unknown cpu model {desc.get('cpu-model')!r}")
    memory = integer("memory", 16 << 20, MAX_MEMORY)
    if memory % 4096:
        bad("memory is not a multiple of 4 KiB")
    maxcpus = integer("maxcpus", 1, MAX_CPUS)
    integer("smp", 1, maxcpus)
    if not isinstance(desc.get("icount"), bool):
        bad("'icount' must be a boolean")
    cpus = desc.get("cpus")
    if not isinstance(cpus, list) or not cpus:
        bad("'cpus' must list the plugged CPUs")
    seen, ids, anons = set(), set(), set()
    for cpu in cpus:
        if not isinstance(cpu, dict) or set(cpu) != {"index", "id", "anon", "hotplugged"}:
            bad("a CPU entry needs exactly index, id, anon and hotplugged")
        i, dev_id, anon = cpu["index"], cpu["id"], cpu["anon"]
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < maxcpus or i in seen:
            bad(f"CPU index {i!r} is out of range or repeated")
        if dev_id is not None and (not isinstance(dev_id, str) or not ID_RE.fullmatch(dev_id)
                                   or dev_id in ids):
            bad(f"CPU {i}: bad or repeated id {dev_id!r}")
        if anon is not None and (not isinstance(anon, int) or isinstance(anon, bool)
                                 or not 0 <= anon < 1 << 31 or anon in anons):
            bad(f"CPU {i}: bad anonymous device number {anon!r}")
        if not isinstance(cpu["hotplugged"], bool):
            bad(f"CPU {i}: 'hotplugged' must be a boolean")
        seen.add(i)
        ids.add(dev_id)
        anons.add(anon)
    if 0 not in seen:
        bad("the boot CPU is not plugged")
    return desc


def config_differences(desc: dict, given: dict) -> list[str]:
    """What the options the destination was started with (`given`: option -> value, only
    those the user gave) say differently from the stream."""
    out = []
    for option, key, show in (("--memory", "memory", lambda v: f"{v >> 20}M"),
                              ("--smp", "smp", str), ("--maxcpus", "maxcpus", str),
                              ("--icount", "icount", lambda v: "on" if v else "off")):
        if option in given and given[option] != desc[key]:
            out.append(f"{option} {show(given[option])} but the stream has {show(desc[key])}")
    if "--device" in given:
        # the CPUs beyond --smp or hot-added: what QEMU's destination repeats as -device
        theirs = sorted(((c["id"] or "", c["index"]) for c in desc["cpus"]
                         if c["index"] >= desc["smp"] or c["hotplugged"]), key=lambda d: d[1])
        ours = sorted(given["--device"], key=lambda d: d[1])
        if theirs != ours:
            def show(devices):
                return ", ".join(f"{i or '(no id)'} core-id={c}" for i, c in devices) or "none"
            out.append(f"--device gives {show(ours)} but the stream plugs {show(theirs)}")
    return out


def build(desc: dict, make_machine):
    """A machine with the stream's configuration and plugged CPUs (no events raised):
    make_machine(MachineConfig) creates it with the destination's host-side options."""
    from ..machine.virt import MachineConfig
    config = MachineConfig(memory=desc["memory"], smp=desc["smp"], maxcpus=desc["maxcpus"],
                           icount=desc["icount"], cpu_model=desc["cpu-model"])
    machine = make_machine(config)
    plugged = {c["index"]: c for c in desc["cpus"]}
    for slot in machine.slots:
        want = plugged.get(slot.index)
        if want is None and slot.plugged:
            machine.unrealize(slot.index)
        elif want is not None and not slot.plugged:
            machine.realize(slot.index)
        if want is not None:
            slot.dev_id, slot.anon, slot.hotplugged = want["id"], want["anon"], want["hotplugged"]
    machine._release_contexts()
    machine.control.started = True
    return machine


# -- sections ---------------------------------------------------------------------------------
def capture(machine, running: bool | None = None) -> dict:
    """name -> state of every section but "rom" (see capture_rom).  running: whether the
    destination should run (default: whether this machine runs; a migration that stopped
    the vCPUs for its last copy says they ran)."""
    m, ctl, clock = machine, machine.control, machine.clock
    out = {
        "machine": {"running": not ctl.paused if running is None else running, "executed": m.executed,
                    "boot-entry": list(m.boot_entry) if m.boot_entry else None,
                    "anon-next": ctl._anon},
        "clock": {"ns": clock.ns(), "instructions": clock.instructions,
                  "skipped-ns": clock.skipped_ns},
        "gic": m.gic.save_state(),
    }
    for slot in m.slots:
        cpu = slot.cpu
        out[f"cpu/{slot.index}"] = {
            "mpidr": slot.mpidr, "power": slot.power.value, "waiting": slot.waiting,
            "unplug-requested": slot.unplug_requested,
            "arch": cpu.save_arch() if cpu else None,
            "event": cpu.event if cpu else False,
            "wfe-since": cpu.wfe_since if cpu else None,
            "serror": bool(cpu.envi[OFFSET["SERROR_LINE"]]) if cpu else False,
            "timer-levels": [cpu.timer.levels["P"], cpu.timer.levels["V"]] if cpu else None,
            "executed": cpu.executed if cpu else 0,
        }
    for name in DEVICES:
        out[name] = save_state(_device(m, name))
    return out


def capture_rom(machine) -> dict:
    return {"images": [[pa, len(data), lz4.block.compress(data, store_size=False)]
                       for pa, data in machine.phys.images]}


def section_name_version(name: str):
    """The SECTION_VERSIONS key of a section name ("cpu/3" -> "cpu")."""
    return name.split("/", 1)[0]


def stage(machine, sections: dict) -> list:
    """Check every section against `machine` (built by `build`) without changing it; returns
    the actions `commit` performs.  sections: name -> (version, state)."""
    m = machine
    expected = {"machine", "clock", "gic", "rom", *DEVICES} \
        | {f"cpu/{i}" for i in range(len(m.slots))}
    missing = sorted(expected - set(sections))
    extra = sorted(set(sections) - expected)
    if missing:
        raise MigrationError(f"the stream lacks section(s) {', '.join(missing)}")
    if extra:
        raise MigrationError(f"the stream has unknown section(s) {', '.join(extra)}")
    state = {}
    for name, (version, value) in sections.items():
        kind = section_name_version(name)
        while version != SECTION_VERSIONS[kind]:
            upgrade = UPGRADES.get((kind, version))
            if upgrade is None:
                raise MigrationError(f"section {name}: layout version {version} is not "
                                     "supported")
            value, version = upgrade(value), version + 1
        state[name] = value
    actions = []
    try:
        actions.append(_stage_machine(m, state["machine"]))
        actions.append(_stage_clock(m, state["clock"]))
        actions.append(_stage_rom(m, state["rom"]))
        for slot in m.slots:
            actions.append(_stage_cpu(m, slot, state[f"cpu/{slot.index}"]))
        staged_gic = m.gic.stage_state(state["gic"])
        actions.append(lambda: m.gic.commit_state(staged_gic))
        for name in DEVICES:
            dev = _device(m, name)
            staged = stage_state(dev, state[name])
            actions.append(lambda d=dev, s=staged: (commit_state(d, s),
                                                    getattr(d, "post_load", lambda: None)()))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MigrationError(f"state does not fit this machine: {exc}") from None
    return actions


def commit(actions: list) -> None:
    for action in actions:
        action()


def load(machine, sections: dict) -> None:
    commit(stage(machine, sections))


def _fields(value, name, spec: dict) -> dict:
    """Check a section's map has exactly the keys in spec, each of the given type(s)."""
    if not isinstance(value, dict) or set(value) != set(spec):
        raise ValueError(f"{name}: expected the fields {', '.join(sorted(spec))}")
    for key, kinds in spec.items():
        v = value[key]
        if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in _tuple(kinds)):
            raise ValueError(f"{name}.{key}: wrong type")
        if isinstance(v, int) and not isinstance(v, bool) and not 0 <= v < 1 << 64:
            raise ValueError(f"{name}.{key}: out of range")
    return value


def _tuple(kinds):
    return kinds if isinstance(kinds, tuple) else (kinds,)


NONE = type(None)


def _stage_machine(m, v):
    _fields(v, "machine", {"running": bool, "executed": int, "boot-entry": (list, NONE),
                           "anon-next": int})
    entry = v["boot-entry"]
    if entry is not None and (len(entry) != 2 or not all(
            isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 1 << 64 for x in entry)):
        raise ValueError("machine.boot-entry: expected [pc, x0]")
    if v["anon-next"] >= 1 << 31:
        raise ValueError("machine.anon-next: out of range")

    def apply():
        m.executed = v["executed"]
        m.boot_entry = tuple(entry) if entry is not None else None
        m.control._anon = v["anon-next"]
        m.control.started = True
        if not v["running"]:
            m.control.stop()        # the source was paused: so is the destination
    return apply


def _stage_clock(m, v):
    _fields(v, "clock", {"ns": int, "instructions": int, "skipped-ns": int})
    clock = m.clock

    def apply():
        if clock.icount:
            clock.instructions, clock.skipped_ns = v["instructions"], v["skipped-ns"]
        else:
            # guest time continues from where the source stopped
            now = time.monotonic_ns()
            clock.t0 = now - v["ns"]
            if clock.paused_at is not None:
                clock.paused_at = now
    return apply


def _stage_rom(m, v):
    _fields(v, "rom", {"images": list})
    images = []
    for image in v["images"]:
        if not (isinstance(image, list) and len(image) == 3 and isinstance(image[0], int)
                and isinstance(image[1], int) and isinstance(image[2], bytes)):
            raise ValueError("rom: expected [address, size, lz4 data] per image")
        pa, size, packed = image
        if size < 0 or pa < m.phys.ram_base or pa + size > m.phys.ram_base + m.phys.ram_size:
            raise ValueError(f"rom: image at {pa:#x} of {size} bytes is outside RAM")
        try:
            data = lz4.block.decompress(packed, uncompressed_size=size) if size else b""
        except Exception as exc:               # noqa: BLE001 -- lz4 reports corrupt input so
            raise ValueError(f"rom: bad lz4 data ({exc})") from None
        if len(data) != size:
            raise ValueError("rom: image size mismatch")
        images.append((pa, data))

    def apply():
        m.phys.images = images
    return apply


def _stage_cpu(m, slot, v):
    name = f"cpu/{slot.index}"
    _fields(v, name, {"mpidr": int, "power": str, "waiting": bool, "unplug-requested": bool,
                      "arch": (bytes, NONE), "event": bool, "timer-levels": (list, NONE),
                      "executed": int, "wfe-since": (int, NONE), "serror": bool})
    if v["mpidr"] != mpidr_of(slot.index):
        raise ValueError(f"{name}: MPIDR {v['mpidr']:#x} is not this slot's "
                         f"{slot.mpidr:#x}")
    if v["power"] not in (p.value for p in Power):
        raise ValueError(f"{name}: unknown power state {v['power']!r}")
    if slot.plugged:
        if v["arch"] is None or len(v["arch"]) != ARCH_SIZE * 8:
            raise ValueError(f"{name}: a plugged CPU needs {ARCH_SIZE * 8} bytes of registers")
        levels = v["timer-levels"]
        if not (isinstance(levels, list) and len(levels) == 2
                and all(isinstance(x, bool) for x in levels)):
            raise ValueError(f"{name}: timer-levels must be two booleans")
    elif v["arch"] is not None or v["power"] != Power.OFF.value or v["waiting"] \
            or v["unplug-requested"] or v["wfe-since"] is not None or v["serror"]:
        raise ValueError(f"{name}: a parked CPU carries registers or is powered")

    def apply():
        slot.power = Power(v["power"])
        slot.waiting = v["waiting"]
        slot.unplug_requested = v["unplug-requested"]
        cpu = slot.cpu
        if cpu is not None:
            cpu.load_arch(v["arch"])
            cpu.event = v["event"]
            cpu.wfe_since = v["wfe-since"]
            cpu.envi[OFFSET["SERROR_LINE"]] = int(v["serror"])
            cpu.executed = v["executed"]
            cpu.timer.levels = {"P": v["timer-levels"][0], "V": v["timer-levels"][1]}
    return apply
