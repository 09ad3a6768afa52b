"""The bare-metal test guests under `dbt-vm boot`, compared byte for byte with QEMU.

Each guest (tests/guests/) checks one system-level behaviour and prints PASS/FAIL over the
PL011; QEMU (`-M virt,gic-version=3 -cpu cortex-a57`) is the oracle for every line it prints,
including exception syndromes, fault addresses and PSCI return codes.  A guest that needs what
the A57 lacks (mmu16k: the 16K granule) names another QEMU CPU in Guest.cpu (`-cpu max`) and
prints nothing that depends on the CPU model.  The raw-binary form checks the loader's non-ELF
path; --icount runs must repeat exactly.
"""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from guests.build import (CANARY, CC, GUESTS, MEMORY, SERROR, WFE_WAIT, build_guest,
                          build_guest_bin, qemu_command)

QEMU_SYSTEM = shutil.which("qemu-system-aarch64")
TIMEOUT = 600

pytestmark = pytest.mark.skipif(CC is None, reason="aarch64-linux-gnu-gcc is not installed")


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("guests-dbt")


def dbt_vm(*args, timeout=TIMEOUT):
    return subprocess.run([sys.executable, "-m", "dbt.cli", *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)


def boot(image, smp, *extra):
    return dbt_vm("boot", "--kernel", image, "--smp", smp, "--memory", MEMORY,
                  "--serial", "stdio", *extra)


def qemu(image, smp, cpu="cortex-a57"):
    r = subprocess.run(qemu_command(image, smp, QEMU_SYSTEM, cpu=cpu), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=120)
    return r.stdout


def check_same(r, want: bytes, what: str):
    assert b"Traceback" not in r.stderr, r.stderr.decode(errors="replace")
    got = r.stdout
    if got != want:
        import difflib
        diff = difflib.unified_diff(want.decode(errors="replace").splitlines(),
                                    got.decode(errors="replace").splitlines(),
                                    "qemu", "dbt-vm", lineterm="", n=1)
        raise AssertionError(f"{what}: output differs from QEMU:\n" + "\n".join(diff) +
                             "\n" + r.stderr.decode(errors="replace"))
    assert r.returncode == 0, r.stderr.decode(errors="replace")


@pytest.mark.skipif(QEMU_SYSTEM is None, reason="qemu-system-aarch64 is not installed")
@pytest.mark.parametrize("guest", GUESTS, ids=[g.name for g in GUESTS])
def test_guest_matches_qemu(guest, outdir):
    elf = build_guest(guest.name, outdir)
    r = boot(elf, guest.smp)
    want = qemu(elf, guest.smp, guest.cpu)
    assert want.rstrip().endswith(b"PASS"), "the guest does not pass under QEMU"
    check_same(r, want, guest.name)


def test_raw_binary_boots(outdir):
    """A file without ELF or Image header is loaded at RAM base + 0x80000 and entered there."""
    r = boot(build_guest_bin("exceptions", outdir), 1)
    assert r.stdout.rstrip().endswith(b"PASS"), r.stdout.decode(errors="replace")


def test_canary_fails_under_dbt(outdir):
    r = boot(build_guest(CANARY.name, outdir), CANARY.smp)
    assert b"FAIL" in r.stdout


def test_icount_runs_repeat(outdir):
    """With --icount guest time follows instructions: two runs print the same bytes."""
    elf = build_guest("timer", outdir)
    first = boot(elf, 1, "--icount")
    second = boot(elf, 1, "--icount")
    assert first.stdout == second.stdout and first.stdout.rstrip().endswith(b"PASS")


def test_wfe_waits_for_an_event(outdir):
    """WFE sleeps until SEV, the event stream or an unmasked interrupt: a secondary in a WFE
    loop wakes a few times while CPU 0 sleeps 20 ms, ten times over ten event-stream periods
    (also with a masked interrupt pending), once for its own timer.  QEMU's TCG yields in
    WFE instead, so the guest checks its own counts; --icount makes them exact."""
    r = boot(build_guest(WFE_WAIT.name, outdir), WFE_WAIT.smp, "--icount")
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0 and out.rstrip().endswith("PASS"), out + r.stderr.decode()
    assert "wfe while cpu0 slept 20 ms: " in out and "FAIL" not in out


def test_serror(outdir):
    """A physical SError made pending from the host whenever the guest asks for one: masked
    by PSTATE.A it shows in ISR_EL1.A and wakes WFI; unmasked it is taken once at the SError
    vector with EC 0x2F (from EL1 and from EL0).  Nothing on QEMU's virt raises an SError."""
    from dbt.machine.boot import boot as load
    from dbt.machine.chardev import MemoryBackend
    from dbt.machine.virt import Machine, MachineConfig
    m = Machine(MachineConfig(memory=256 << 20, icount=True), serial_backend=MemoryBackend())
    try:
        load(m, build_guest(SERROR.name, outdir).read_bytes())
        out, asked = "", 0
        for _ in range(200):
            why = m.run(max_instructions=2_000_000, until_idle=True)
            out += m.serial.take_output().decode()
            if out.count("waiting for an SError") > asked:
                asked += 1
                m.slots[0].cpu.raise_serror()
            if why == "poweroff":
                break
        assert out.rstrip().endswith("PASS"), out
        assert asked == 2 and "FAIL" not in out
    finally:
        m.close()
