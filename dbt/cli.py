"""`dbt-vm`: the system emulator's command line.

    dbt-vm boot [--kernel PATH] [--initrd PATH] [--append STR] [--dtb PATH] [--smp N]
                [--maxcpus M] [--memory SIZE] [--icount] [--no-acpi]
                [--serial mon:stdio|stdio|file:PATH]
                [--monitor unix:PATH|tcp:HOST:PORT] [--qmp unix:PATH|tcp:HOST:PORT]
                [--device cortex-a57-arm-cpu,id=ID,core-id=N]... [-S]
                [-d in_asm,exec,int,mmu,unimp] [-D LOGFILE]
                [--incoming file:PATH|tcp:[HOST]:PORT|unix:PATH] [--migrate-secret FILE]
    dbt-vm migrate --qmp unix:PATH|tcp:HOST:PORT --to HOST:PORT|file:PATH|unix:PATH
                [--downtime-limit MS] [--max-bandwidth SIZE]
    dbt-vm snapshot-info FILE [--migrate-secret FILE]
    dbt-vm acpi-dump [--smp N] [--maxcpus M] [--memory SIZE] --out DIR

Bad input (a missing kernel, an unknown option, --smp above --maxcpus, a size that does not
parse) gets one line on stderr and exit code 2; an emulator error exits 1 with a message; a
guest that powers off with PSCI SYSTEM_OFF exits 0.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

PROG = "dbt-vm"
LOG_ITEMS = ("in_asm", "exec", "int", "mmu", "unimp")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_size(text: str) -> int:
    """QEMU's size syntax: a number with an optional K/M/G/T suffix (default MiB)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", text)
    if not m:
        raise UsageError(f"--memory: cannot parse size '{text}' (examples: 512M, 2G)")
    scale = {"": 1 << 20, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    value = int(float(m.group(1)) * scale)
    if value <= 0:
        raise UsageError(f"--memory: size must be positive, not '{text}'")
    return value


def parse_smp(text: str):
    """`N` or QEMU's `cpus=N,maxcpus=M` (either part may be missing)."""
    if re.fullmatch(r"\d+", text.strip()):
        return int(text), None
    cpus = maxcpus = None
    for part in text.split(","):
        key, _, val = part.partition("=")
        if not val.strip().isdigit():
            if key.strip().isdigit() and not val:
                cpus = int(key)
                continue
            raise UsageError(f"--smp: cannot parse '{text}' (examples: 4, cpus=4,maxcpus=8)")
        if key.strip() == "cpus":
            cpus = int(val)
        elif key.strip() == "maxcpus":
            maxcpus = int(val)
        elif key.strip() in ("sockets", "clusters", "cores", "threads"):
            continue
        else:
            raise UsageError(f"--smp: unknown property '{key}'")
    return cpus, maxcpus


def _boot_parser(sub):
    p = sub.add_parser("boot", help="boot a guest on the virt board")
    p.add_argument("--kernel", help="ELF, arm64 Image or raw binary to boot")
    p.add_argument("--initrd")
    p.add_argument("--append", default="", help="kernel command line")
    p.add_argument("--dtb", help="use this device tree instead of the generated one")
    p.add_argument("--no-acpi", action="store_true",
                   help="boot an arm64 Image with a device tree instead of ACPI")
    # no defaults for what --incoming compares with the stream: given means checked
    p.add_argument("--smp", help="vCPUs present at boot (or cpus=N,maxcpus=M; default 1)")
    p.add_argument("--maxcpus", type=int, help="possible vCPUs (default: --smp)")
    p.add_argument("--memory", "-m", help="RAM size (default 512M)")
    p.add_argument("--icount", action="store_true",
                   help="guest time follows instructions executed: repeatable runs")
    p.add_argument("--incoming", metavar="URI",
                   help="take the machine and its state from a migration stream: file:PATH, "
                        "tcp:[HOST]:PORT (HOST defaults to 127.0.0.1) or unix:PATH")
    p.add_argument("--migrate-secret", metavar="FILE",
                   help="authenticate migration streams (HMAC-SHA256) with this shared secret")
    p.add_argument("--serial", default="mon:stdio",
                   help="mon:stdio (the terminal shared with the monitor: C-a c switches, "
                        "C-a x quits), stdio, file:PATH or null")
    p.add_argument("--monitor", action="append", default=[],
                   help="serve the human monitor on unix:PATH[,server,nowait] or tcp:HOST:PORT")
    p.add_argument("--qmp", action="append", default=[],
                   help="serve QMP on unix:PATH[,server,nowait] or tcp:HOST:PORT "
                        "(HOST defaults to 127.0.0.1)")
    p.add_argument("--device", action="append", default=[],
                   help="cold-plug a CPU: <model>-arm-cpu,id=ID,core-id=N")
    p.add_argument("-S", dest="stopped", action="store_true",
                   help="do not start the vCPUs until the monitor's cont")
    p.add_argument("-d", dest="log_items", default="",
                   help=f"log categories, comma-separated: {','.join(LOG_ITEMS)}")
    p.add_argument("-D", dest="logfile", help="write the -d log here (default stderr)")
    p.add_argument("--no-disk-cache", action="store_true",
                   help="do not read or write the on-disk translated-code cache")
    p.add_argument("--stats", action="store_true",
                   help="print guest instructions, blocks and compile time on stderr at exit")
    return p


def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise UsageError(f"cannot read {what} '{path}': {exc.strerror}") from None


def boot(args) -> int:
    smp_cpus, smp_max = parse_smp(args.smp) if args.smp is not None else (None, None)
    cpus = smp_cpus or 1
    maxcpus = args.maxcpus or smp_max or cpus
    if cpus > maxcpus:
        raise UsageError(f"--smp {cpus} is above --maxcpus {maxcpus}")
    memory = parse_size(args.memory) if args.memory is not None else 512 << 20
    items, log = _log_items(args)
    secret = _secret(args)
    if args.incoming:
        for option in ("kernel", "initrd", "dtb", "append"):
            if getattr(args, option):
                raise UsageError(f"--{option} cannot be combined with --incoming: the guest "
                                 "comes from the migration stream")
        given = {}
        if args.memory is not None:
            given["--memory"] = memory
        if smp_cpus is not None:
            given["--smp"] = smp_cpus
        if args.maxcpus or smp_max:
            given["--maxcpus"] = maxcpus
        if args.icount:
            given["--icount"] = True
        if args.device:
            given["--device"] = [_device_ident(spec) for spec in args.device]
        return _incoming(args, given, secret, items, log)
    kernel, initrd, dtb = _guest_files(args)
    from .machine.virt import MachineConfig
    config = MachineConfig(memory=memory, smp=cpus, maxcpus=maxcpus, icount=args.icount)
    try:
        config.check()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    machine = _make_machine(config, args, items, log)
    machine.control.migrate_secret = secret
    try:
        return _run(machine, args, kernel, initrd, dtb)
    finally:
        _close(machine, args)


def _log_items(args):
    items = [i for i in args.log_items.split(",") if i]
    bad = [i for i in items if i not in LOG_ITEMS]
    if bad:
        raise UsageError(f"-d: unknown log item '{bad[0]}' (known: {', '.join(LOG_ITEMS)})")
    if args.serial not in ("mon:stdio", "stdio", "null", "none") \
            and not (args.serial.startswith("file:") and len(args.serial) > 5):
        raise UsageError(f"--serial: expected mon:stdio, stdio, file:PATH or null, "
                         f"not '{args.serial}'")
    logfile = open(args.logfile, "w") if args.logfile else sys.stderr

    def log(category, text):
        if category in items:
            logfile.write(f"{text}\n")
    return items, log


def _secret(args):
    if not args.migrate_secret:
        return None
    from .migration import MigrationError
    from .migration.stream import read_secret
    try:
        return read_secret(args.migrate_secret)
    except MigrationError as exc:
        raise UsageError(f"--migrate-secret: {exc}") from None


def _device_ident(spec: str):
    """(id, core-id) of a --device option, as the stream's CPUs are compared."""
    from .machine.hmp import parse_device_options
    opts = parse_device_options(spec)
    try:
        return opts.get("id") or "", int(opts.get("core-id", ""), 0)
    except ValueError:
        raise UsageError(f"--device {spec}: CPU core-id is not set") from None


def _guest_files(args):
    if args.kernel is None:
        # the acceptance guest, fetched once into the user's cache
        from .machine.guest import DEFAULT_APPEND, GuestFetchError, fetch_default_guest
        try:
            kernel_path, initrd_path = fetch_default_guest(progress=True)
        except GuestFetchError as exc:
            raise UsageError(f"no --kernel given and the default guest is unavailable: {exc}")
        args.initrd = args.initrd or initrd_path
        args.append = args.append or DEFAULT_APPEND
    else:
        kernel_path = args.kernel
    kernel = _read(kernel_path, "kernel")
    initrd = _read(args.initrd, "initrd") if args.initrd else None
    dtb = _read(args.dtb, "device tree") if args.dtb else None
    return kernel, initrd, dtb


def _make_machine(config, args, items, log):
    """The machine with the host-side options: serial back end (the terminal shared with
    the monitor for mon:stdio), logging."""
    from .machine.virt import Machine
    config.serial = args.serial
    config.disk_cache = not args.no_disk_cache
    serial = None
    machine = None
    if args.serial == "mon:stdio":
        from .machine.chardev import StdioBackend
        from .machine.hmp import Monitor
        from .machine.mux import MuxBackend
        # as QEMU's -nographic: the guest gets ^C; C-a x quits
        serial = MuxBackend(StdioBackend(signals=False),
                            lambda write: Monitor(machine.control, write, echo=True))
    machine = Machine(config, serial_backend=serial, log=log if items else None,
                      log_items=items)
    if "unimp" in items:
        machine.phys.unassigned_log = lambda text: log("unimp", text)
    return machine


def _close(machine, args):
    machine.close()
    if args.stats:
        c = machine.code.cache
        print(f"stats: {machine.executed} guest instructions, "
              f"{len(c.compile_seconds)} blocks translated in {sum(c.compile_seconds):.2f} s, "
              f"{c.disk_hits} regions from the disk cache", file=sys.stderr)


def _incoming(args, given, secret, items, log) -> int:
    """--incoming: build the machine the stream describes, load it, run it."""
    from .migration import MigrationError
    from .migration.incoming import Listener, load_file, serve

    def make(config):
        return _make_machine(config, args, items, log)
    # load the compiled runtime now, not while the source waits with its vCPUs stopped
    from .machine.virt import Machine, MachineConfig
    Machine(MachineConfig(memory=16 << 20, serial="null", disk_cache=False)).close()
    try:
        if args.incoming.startswith("file:"):
            got = load_file(args.incoming[5:], make, given, secret)
        else:
            listener = Listener(args.incoming)
            print(f"{PROG}: waiting for an incoming migration on {listener.address}",
                  file=sys.stderr, flush=True)
            got = serve(listener, make, given, secret)
    except MigrationError as exc:
        print(f"{PROG}: incoming migration failed: {exc}", file=sys.stderr)
        return 1
    machine = got.machine
    machine.control.migrate_secret = secret
    try:
        return _run(machine, args, None, None, None)
    finally:
        _close(machine, args)


def _run(machine, args, kernel, initrd, dtb) -> int:
    """Cold-plug, serve the monitor and QMP, load the guest (none when it came from a
    migration stream), run."""
    from .machine.boot import BootError, boot as load
    from .machine.control import CommandError
    from .machine.hmp import parse_device_options
    if kernel is not None:
        for spec in args.device:
            try:
                machine.control.device_add(parse_device_options(spec), typed=False)
            except CommandError as exc:
                raise UsageError(f"--device {spec}: {exc.desc}") from None
    for option, specs, add in (("--qmp", args.qmp, machine.add_qmp),
                               ("--monitor", args.monitor, machine.add_monitor)):
        for spec in specs:
            try:
                add(spec)
            except (ValueError, OSError) as exc:
                raise UsageError(f"{option} {spec}: {exc}") from None
    if kernel is not None:
        try:
            load(machine, kernel, initrd, args.append, dtb,
                 acpi=False if args.no_acpi else None)
        except BootError as exc:
            raise UsageError(str(exc)) from None
    if args.stopped:
        machine.control.stop(prelaunch=kernel is not None)
    why = machine.run()
    if why in ("poweroff", "quit"):
        return 0
    print(f"{PROG}: guest stopped ({why})", file=sys.stderr)
    return 1


def _acpi_dump_parser(sub):
    p = sub.add_parser("acpi-dump", help="write the ACPI tables the board would give a guest")
    p.add_argument("--smp", default="1", help="vCPUs present at boot (or cpus=N,maxcpus=M)")
    p.add_argument("--maxcpus", type=int, help="possible vCPUs (default: --smp)")
    p.add_argument("--memory", "-m", default="512M", help="RAM size (default 512M)")
    p.add_argument("--out", required=True, help="directory for <SIGNATURE>.dat files")
    return p


def acpi_dump(args) -> int:
    from .acpi import AcpiBoard, dump
    from .machine.virt import MachineConfig
    cpus, maxcpus = parse_smp(args.smp)
    cpus = cpus or 1
    maxcpus = args.maxcpus or maxcpus or cpus
    memory = parse_size(args.memory)
    try:
        MachineConfig(memory=memory, smp=cpus, maxcpus=maxcpus).check()
        os.makedirs(args.out, exist_ok=True)
        paths = dump(AcpiBoard(possible=maxcpus, present=cpus, memory=memory), args.out)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"--out {args.out}: {exc.strerror}") from None
    for path in paths:
        print(path)
    return 0


def _migrate_parser(sub):
    p = sub.add_parser("migrate", help="live-migrate a running VM through its QMP socket")
    p.add_argument("--qmp", required=True, help="the VM's QMP socket: unix:PATH or tcp:HOST:PORT")
    p.add_argument("--to", required=True,
                   help="destination: HOST:PORT (a dbt-vm boot --incoming tcp:...), "
                        "tcp:HOST:PORT, unix:PATH or file:PATH")
    p.add_argument("--downtime-limit", type=int, metavar="MS",
                   help="longest pause of the guest allowed for the final copy (default 300)")
    p.add_argument("--max-bandwidth", metavar="SIZE",
                   help="bytes per second (K/M/G suffixes; default 128M)")
    return p


def migrate(args) -> int:
    from .machine.hmp import parse_size_bytes
    from .migration.client import QMPClientError, migrate as run
    bandwidth = None
    if args.max_bandwidth is not None:
        try:
            bandwidth = parse_size_bytes(args.max_bandwidth)
        except ValueError:
            raise UsageError(f"--max-bandwidth: cannot parse '{args.max_bandwidth}' "
                             "(examples: 100M, 1G)") from None
    try:
        return run(args.qmp, args.to, args.downtime_limit, bandwidth)
    except QMPClientError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


def _snapshot_info_parser(sub):
    p = sub.add_parser("snapshot-info", help="describe a snapshot file (migrate file:PATH)")
    p.add_argument("file")
    p.add_argument("--migrate-secret", metavar="FILE",
                   help="the secret an authenticated snapshot was written with")
    return p


def snapshot_info(args) -> int:
    from .migration import MigrationError
    from .migration.snapshot import info
    from .migration.stream import Reader, exact_reader
    secret = _secret(args)
    try:
        with open(args.file, "rb") as f:
            lines = []
            try:
                lines = info(Reader(exact_reader(f.read), secret), lines)
            finally:
                print("\n".join(lines))
    except OSError as exc:
        raise UsageError(f"cannot read '{args.file}': {exc.strerror}") from None
    except MigrationError as exc:
        print(f"{PROG}: {args.file}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    ap = _Parser(prog=PROG, description="An AArch64 virt-board emulator.")
    sub = ap.add_subparsers(dest="command", parser_class=_Parser)
    _boot_parser(sub)
    _acpi_dump_parser(sub)
    _migrate_parser(sub)
    _snapshot_info_parser(sub)
    try:
        args = ap.parse_args(argv)
        if args.command is None:
            raise UsageError("a command is required (boot, migrate, snapshot-info, acpi-dump)")
        if args.command == "boot":
            return boot(args)
        if args.command == "acpi-dump":
            return acpi_dump(args)
        if args.command == "migrate":
            return migrate(args)
        if args.command == "snapshot-info":
            return snapshot_info(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:        # noqa: BLE001 -- an emulator error: one line, no traceback
        if os.environ.get("DBT_TRACEBACK"):
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
