"""Build the bare-metal test guests with the aarch64 cross compiler.

    build_guest(name, outdir)      -> Path of the ELF (loaded by `-kernel` at its physical
                                      addresses, entered at EL1 with the MMU off)
    build_guest_bin(name, outdir)  -> Path of the same image as a raw binary, to be loaded at
                                      RAM base + 0x80000 = 0x40080000 and entered at its first byte
    GUESTS                         -> every guest with the -smp it is built for and run with,
                                      and the QEMU -cpu it is checked against

Each guest is tests/guests/<name>.c linked with the runtime in tests/guests/rt/. By hand:

    python3 tests/guests/build.py psci /tmp/g
    qemu-system-aarch64 -M virt,gic-version=3 -cpu cortex-a57 -smp 4 -m 256M -nographic \\
        -no-reboot -nic none -kernel /tmp/g/psci.elf
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RT = HERE / "rt"
CROSS = os.environ.get("CROSS_COMPILE", "aarch64-linux-gnu-")
CC = shutil.which(CROSS + "gcc")
OBJCOPY = shutil.which(CROSS + "objcopy")

RT_SOURCES = ["start.S", "lib.c", "exc.c", "psci.c", "gic.c", "mmu.c"]
CFLAGS = [
    "-nostdlib", "-ffreestanding", "-O2", "-mgeneral-regs-only",
    "-mstrict-align",              # the MMU is off in most guests: all data accesses are Device
    "-mno-outline-atomics", "-fno-pie", "-no-pie", "-static", "-fno-stack-protector",
    "-fno-tree-loop-distribute-patterns", "-ffunction-sections", "-fdata-sections",
    "-fno-asynchronous-unwind-tables", "-Wall", "-Werror=implicit-function-declaration",
]
LDFLAGS = ["-Wl,--gc-sections", "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments"]
RAM_BASE = 0x40000000
LOAD_ADDRESS = 0x40080000
MEMORY = "256M"


@dataclass(frozen=True)
class Guest:
    name: str
    smp: int
    checks: str
    # QEMU's -cpu for the reference run: cortex-a57 unless the guest needs a feature the A57
    # lacks (the 16K granule); such a guest prints nothing that depends on the CPU model, so
    # dbt-vm (whose CPU is an A57) must print the same bytes
    cpu: str = "cortex-a57"


GUESTS = [
    Guest("exceptions", 1, "EL1 entry state; UDF, BRK, SVC, data abort and PC alignment "
                           "syndromes with ELR/FAR/SPSR; ERET restoring NZCV; vector offsets "
                           "for SP0, SPx and lower EL; EL0 via ERET and back by SVC; EL0 traps"),
    Guest("mmu4k", 1, "4K granule, 48-bit TTBR0 and 39-bit TTBR1, blocks and pages, AF, "
                      "permission and translation faults with levels, FAR, AT, TLBI, ASIDs, "
                      "PXN/UXN, SCTLR.A"),
    Guest("mmu64k", 1, "the same with a 64K granule (42-bit TTBR1), 64K page offsets"),
    Guest("mmu16k", 1, "the same with a 16K granule (under QEMU -cpu max): 2-entry level 0, "
                       "32M blocks, 39-bit TTBR1 from a 3-bit level 1 with level 1/2 faults",
          cpu="max"),
    Guest("timer", 1, "CNTFRQ/CNTVCT/CNTPCT, CVAL/TVAL, ISTATUS/IMASK, virtual and physical "
                      "timer PPIs through the GIC, IRQ at EL1 and from EL0, CNTKCTL EL0 traps"),
    Guest("gic", 1, "GICD/GICR identification, SPI routing, priorities, PMR, RPR, HPPIR, "
                    "spurious IAR, preemption, pending/active state"),
    Guest("sgi", 4, "CPU_ON of every CPU, SGIs to each CPU by target list, to all but self, "
                    "to self; each acknowledged by the right CPU only"),
    Guest("psci", 4, "VERSION, FEATURES, MIGRATE_INFO_TYPE, CPU_ON with context id in x0, "
                     "entry state, ALREADY_ON, INVALID_PARAMS, AFFINITY_INFO, CPU_OFF, re-ON"),
    Guest("wfi", 2, "WFI wakes on a pending masked interrupt, ISR_EL1, a secondary sleeping "
                    "in WFI until an SGI or its own timer, WFE/SEV/SEVL"),
    Guest("extabort", 1, "loads, stores and fetches at an unmapped physical address take "
                         "synchronous external aborts, from EL1 and EL0, MMU off and on, and "
                         "on a translation table walk (also for AT)"),
    Guest("spinlock", 4, "4 CPUs take a test-and-set lock 2000 times each, spinning with "
                         "exclusive loads and no WFE: every holder keeps running"),
    Guest("debug", 1, "software step, hardware breakpoint and watchpoints from EL0 with their "
                      "syndromes"),
    Guest("uart", 1, "PL011 PrimeCell IDs, flags, control register, TX interrupt on INTID 33 "
                     "through the GIC"),
    Guest("sysregs", 1, "ID registers, DC ZVA and DCZID, SP_EL0/SPSel, DAIF, NZCV, exclusive "
                        "monitor, FP trap, TPIDR*, SCTLR UCT/DZE/UCI traps, illegal ERET"),
]
BY_NAME = {g.name: g for g in GUESTS}
# a guest that must print FAIL: proves a failing check reaches the end of the output
CANARY = Guest("canary", 1, "a deliberately failing check")
# needs a host that plugs and unplugs CPUs on cue (QEMU's virt has no CPU hotplug); run with
# --maxcpus HOTPLUG_MAXCPUS by tests/test_hotplug.py
HOTPLUG = Guest("hotplug", 2, "GED interrupt, CPU-hotplug register block scan, CPU_ON of "
                              "inserted CPUs, offline and eject of removed ones, refusals")
HOTPLUG_MAXCPUS = 4
# runs until the host stops it: hotplug at any time, a memory-dirtying workload, progress
# ticks; for live migration (tests/test_migrate_live.py, tools/bench --migrate), checked on
# its own by tests/test_migrate_guest.py; run with --maxcpus HOTPLUG_MAXCPUS; -D defines:
# MIGRATE_DIRTY_KB (the buffer, default 4096) and MIGRATE_TICK_MS (the tick, default 250)
# WFE as a wait: wake-up counts that QEMU (WFE is a yield there) cannot give; dbt-vm only,
# run with --icount (tests/test_guests_dbt.py)
WFE_WAIT = Guest("wfe_wait", 2, "a WFE waits for SEV, the event stream or an unmasked "
                                "interrupt, and costs nothing while every other CPU sleeps")
# SError made pending by the host (tests/test_guests_dbt.py, in process); dbt-vm only
SERROR = Guest("serror", 1, "a pending SError: masked by PSTATE.A, ISR_EL1.A, WFI wake-up, "
                            "taken at EL1 and from EL0")
MIGRATE = Guest("migrate", 2, "hotplug events at any time, a memory-dirtying workload and "
                              "progress ticks, until the host stops it")


class BuildError(RuntimeError):
    pass


def _guest(name: str) -> Guest:
    for special in (CANARY, HOTPLUG, MIGRATE, WFE_WAIT, SERROR):
        if name == special.name:
            return special
    if name not in BY_NAME:
        raise KeyError(f"unknown guest {name!r}; known: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def _run(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"{what} failed:\n{' '.join(cmd)}\n{r.stderr}")


def _runtime_objects(outdir: Path) -> list[Path]:
    """Compile the runtime once per output directory (again when a runtime file changes)."""
    objdir = outdir / "rt"
    objdir.mkdir(parents=True, exist_ok=True)
    newest = max(p.stat().st_mtime for p in RT.iterdir())
    objs = []
    for src in RT_SOURCES:
        obj = objdir / (src.rsplit(".", 1)[0] + ".o")
        if not obj.exists() or obj.stat().st_mtime < newest:
            tmp = obj.with_suffix(f".{os.getpid()}.tmp")
            _run([CC, *CFLAGS, f"-I{RT}", "-c", "-o", str(tmp), str(RT / src)],
                 f"compiling the guest runtime ({src})")
            os.replace(tmp, obj)
        objs.append(obj)
    return objs


def build_guest(name: str, outdir, smp: int | None = None, defines: dict | None = None) -> Path:
    """Compile tests/guests/<name>.c with the runtime into outdir/<name>.elf (smp: the number
    of CPUs the guest expects, default its GUESTS entry; defines: extra -D macros)."""
    if CC is None:
        raise BuildError(f"{CROSS}gcc not found")
    guest = _guest(name)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    elf = outdir / f"{name}.elf"
    objs = _runtime_objects(outdir)
    extra = [f"-D{k}={v}" for k, v in (defines or {}).items()]
    _run([CC, *CFLAGS, f"-DGUEST_SMP={smp or guest.smp}", *extra, f"-I{RT}", "-T",
          str(RT / "link.ld"),
          *LDFLAGS, "-o", str(elf), *map(str, objs), str(HERE / f"{name}.c")],
         f"building guest {name}")
    return elf


def build_source(src, outdir, name: str, defines=()) -> Path:
    """Any C file linked with the guests' runtime (the bare-metal benchmark workloads):
    outdir/<name>.elf; defines are -D options."""
    if CC is None:
        raise BuildError(f"{CROSS}gcc not found")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    elf = outdir / f"{name}.elf"
    objs = _runtime_objects(outdir)
    _run([CC, *CFLAGS, "-DGUEST_SMP=1", *(f"-D{d}" for d in defines), f"-I{RT}", "-T",
          str(RT / "link.ld"), *LDFLAGS, "-o", str(elf), *map(str, objs), str(src)],
         f"building {name}")
    return elf


def build_guest_bin(name: str, outdir, smp: int | None = None) -> Path:
    """The same guest as a raw binary image (load at 0x40080000, enter at its first byte)."""
    if OBJCOPY is None:
        raise BuildError(f"{CROSS}objcopy not found")
    elf = build_guest(name, outdir, smp)
    out = elf.with_suffix(".bin")
    _run([OBJCOPY, "-O", "binary", str(elf), str(out)], f"objcopy of guest {name}")
    return out


def qemu_command(kernel, smp: int, qemu: str = "qemu-system-aarch64",
                 cpu: str = "cortex-a57") -> list[str]:
    """The reference command line the guests are written against (cpu: the guest's
    Guest.cpu)."""
    return [qemu, "-M", "virt,gic-version=3", "-cpu", cpu, "-smp", str(smp),
            "-m", MEMORY, "-nographic", "-no-reboot", "-nic", "none", "-kernel", str(kernel)]


def dbt_vm_command(kernel, smp: int) -> list[str]:
    """The same run under dbt-vm, as issue 3 specifies its CLI (for the comparison loop)."""
    return [sys.executable, "-m", "dbt.cli", "boot", "--kernel", str(kernel), "--smp", str(smp),
            "--memory", MEMORY]


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: build.py NAME|all [OUTDIR]")
    out = Path(sys.argv[2] if len(sys.argv) == 3 else "guests-out")
    names = [g.name for g in GUESTS] if sys.argv[1] == "all" else [sys.argv[1]]
    for n in names:
        elf = build_guest(n, out)
        build_guest_bin(n, out)
        g = _guest(n)
        print(f"{elf}  ->  {' '.join(qemu_command(elf, g.smp, cpu=g.cpu))}")
