"""Writing a machine into a stream and building a machine from one.

A stream is: header, CONFIG, then RAM and SECTION records in any order (pre-copy sends a
page again each time it was dirtied; the last copy wins), then END.  The destination builds
the machine as soon as the configuration is checked and writes pages straight into its RAM;
sections are kept until END, then every one is checked before any is applied.  A machine
that a failed stream was going into is closed and never runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import vmstate
from .ram import PAGE, RamSender, load_ram_record
from .stream import (CONFIG, END, RAM, SECTION, MigrationError, Reader, Writer, pack,
                     unpack)


def write_header(writer: Writer, machine) -> None:
    """CONFIG and the loader's images, which never change while the guest runs."""
    writer.record(CONFIG, pack(vmstate.describe(machine)))
    write_section(writer, "rom", vmstate.capture_rom(machine))


def write_section(writer: Writer, name: str, state) -> None:
    version = vmstate.SECTION_VERSIONS[vmstate.section_name_version(name)]
    writer.record(SECTION, pack({"name": name, "version": version, "state": state}))


def write_device_state(writer: Writer, machine, running: bool | None = None) -> None:
    """Every section but rom, then END with the number of records, which the reader
    checks (a stream cut at a record boundary is not complete)."""
    for name, state in vmstate.capture(machine, running).items():
        write_section(writer, name, state)
    writer.record(END, pack({"records": writer.records + 1}))


def save(machine, sink, secret: bytes | None = None) -> Writer:
    """Write a complete snapshot of a machine that is not running (between quanta or
    paused) to sink(bytes)."""
    writer = Writer(sink, secret)
    write_header(writer, machine)
    sender = RamSender(machine.phys.ram)
    sender.queue(np.ones(sender.pages, dtype=bool))
    sender.send(writer)
    write_device_state(writer, machine)
    return writer


@dataclass
class Received:
    machine: object
    config: dict
    ram_pages: int = 0            # pages received, counting repeats
    sections: dict = field(default_factory=dict)


def receive(reader: Reader, make_machine, given: dict | None = None) -> Received:
    """Read a whole stream and return the loaded machine.  make_machine(MachineConfig)
    creates a machine with the destination's host-side options; given: the options the
    destination was started with (see vmstate.config_differences)."""
    rtype, payload = reader.record()
    if rtype != CONFIG:
        raise MigrationError("the stream does not start with a configuration record")
    desc = vmstate.check_config(unpack(payload, "configuration record"))
    diffs = vmstate.config_differences(desc, given or {})
    if diffs:
        raise MigrationError("the destination's options do not match the stream: "
                             + "; ".join(diffs))
    machine = vmstate.build(desc, make_machine)
    try:
        got = Received(machine, desc)
        written = np.zeros(machine.phys.ram_size // PAGE, dtype=bool)
        while True:
            rtype, payload = reader.record()
            if rtype == RAM:
                got.ram_pages += load_ram_record(machine.phys.ram, payload, written)
            elif rtype == SECTION:
                name, version, state = parse_section(payload)
                if name in got.sections:
                    raise MigrationError(f"section {name} appears twice")
                got.sections[name] = (version, state)
            elif rtype == END:
                check_end(payload, reader)
                break
            else:
                raise MigrationError("a second configuration record")
        vmstate.load(machine, got.sections)
        # the guest's code is new to this machine: nothing translated is stale, but the
        # RAM writes above bypassed the code tracking, so start from a clean slate
        machine.phys.clear_all_code()
        return got
    except BaseException:
        machine.close()
        raise


def parse_section(payload: bytes):
    rec = unpack(payload, "section record")
    if not (isinstance(rec, dict) and set(rec) == {"name", "version", "state"}
            and isinstance(rec["name"], str) and isinstance(rec["version"], int)
            and not isinstance(rec["version"], bool)):
        raise MigrationError("section record: expected name, version and state")
    kind = vmstate.section_name_version(rec["name"])
    if kind not in vmstate.SECTION_VERSIONS:
        raise MigrationError(f"unknown section {rec['name']!r}")
    return rec["name"], rec["version"], rec["state"]


def check_end(payload: bytes, reader: Reader) -> None:
    rec = unpack(payload, "end record")
    if not (isinstance(rec, dict) and rec.get("records") == reader.records):
        raise MigrationError("end record: the record count does not match (records lost)")


# -- dbt-vm snapshot-info ----------------------------------------------------------------------
def info(reader: Reader, lines: list | None = None) -> list[str]:
    """A description of a stream: header, configuration, sections with sizes, RAM.  Lines
    go into `lines` as they are known, so a caller can show what came before an error."""
    lines = [] if lines is None else lines
    lines += [f"dbt-vm migration stream, format version {reader.version}"
             f"{', authenticated (HMAC-SHA256)' if reader.authenticated else ''}"]
    rtype, payload = reader.record()
    if rtype != CONFIG:
        raise MigrationError("the stream does not start with a configuration record")
    desc = vmstate.check_config(unpack(payload, "configuration record"))
    lines.append(f"machine: {desc['machine']}, cpu {desc['cpu-model']}, memory "
                 f"{desc['memory'] >> 20} MiB, smp {desc['smp']}, maxcpus {desc['maxcpus']}, "
                 f"icount {'on' if desc['icount'] else 'off'}")
    plugged = {c["index"]: c for c in desc["cpus"]}
    lines.append("cpus:")
    for i in range(desc["maxcpus"]):
        c = plugged.get(i)
        if c is None:
            lines.append(f"  {i:3}  parked")
        else:
            how = "hot-plugged" if c["hotplugged"] else "cold-plugged"
            dev = f"id {c['id']}" if c["id"] else (f"device[{c['anon']}]" if c["anon"] is not None
                                                   else "board CPU")
            lines.append(f"  {i:3}  plugged ({how}), {dev}")
    sections, ram_records, data_pages, zero_pages, ram_bytes = [], 0, 0, 0, 0
    ended = False
    while not ended:
        start = reader.bytes
        rtype, payload = reader.record()
        size = reader.bytes - start
        if rtype == RAM:
            rec = unpack(payload, "RAM record")
            ram_records += 1
            ram_bytes += size
            if isinstance(rec, list) and len(rec) == 4 and isinstance(rec[1], int):
                if rec[2] == 0:
                    zero_pages += rec[1]
                else:
                    data_pages += rec[1]
        elif rtype == SECTION:
            name, version, _ = parse_section(payload)
            sections.append((name, version, size))
        elif rtype == END:
            check_end(payload, reader)
            ended = True
        else:
            raise MigrationError("a second configuration record")
    lines.append("sections:")
    lines.append(f"  {'name':<10} {'version':>7} {'bytes':>12}")
    for name, version, size in sections:
        lines.append(f"  {name:<10} {version:>7} {size:>12}")
    pages = desc["memory"] // PAGE
    lines.append(f"RAM: {pages} pages; {ram_records} records carry {data_pages} data pages "
                 f"and {zero_pages} zero pages, {ram_bytes} bytes")
    lines.append(f"total: {reader.bytes} bytes in {reader.records} records, complete")
    return lines
