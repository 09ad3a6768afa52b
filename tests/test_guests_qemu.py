"""The bare-metal test guests (tests/guests/) under QEMU, the reference they are written
against: each is built with the cross compiler, run under

    qemu-system-aarch64 -M virt,gic-version=3 -cpu cortex-a57 -smp N -m 256M -nographic \\
        -no-reboot -nic none -kernel GUEST.elf

(-cpu max for a guest whose Guest.cpu says so: mmu16k needs the 16K granule, which the A57
lacks, and prints nothing that depends on the CPU model)

and must end its UART output with PASS and leave QEMU with exit code 0 (PSCI SYSTEM_OFF).
The same binaries are meant to run unchanged under `dbt-vm boot --kernel GUEST.elf --smp N
--memory 256M` and print the same bytes, which is why the output must also be the same from
one QEMU run to the next."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from guests.build import CANARY, CC, GUESTS, OBJCOPY, build_guest, build_guest_bin, qemu_command

QEMU_SYSTEM = shutil.which("qemu-system-aarch64")
TIMEOUT = 120

pytestmark = [
    pytest.mark.skipif(CC is None, reason="aarch64-linux-gnu-gcc (the cross compiler) is not "
                                          "installed"),
    pytest.mark.skipif(QEMU_SYSTEM is None, reason="qemu-system-aarch64 is not installed"),
]
IDS = [g.name for g in GUESTS]


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("guests")


def run_qemu(image, smp: int, *extra: str, cpu: str = "cortex-a57") -> tuple[int, str, str]:
    """-> (exit code, UART output, QEMU's stderr)"""
    cmd = qemu_command(image, smp, QEMU_SYSTEM, cpu=cpu) + list(extra)
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        pytest.fail(f"{' '.join(cmd)}: no SYSTEM_OFF within {TIMEOUT} s; output so far:\n{out}")
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def lines(out: str) -> list[str]:
    return [ln.rstrip("\r") for ln in out.split("\n") if ln.strip()]


def assert_pass(rc: int, out: str, err: str = "") -> None:
    got = lines(out)
    assert got, f"no output at all (exit code {rc}):\n{err}"
    failures = [ln for ln in got if ln.startswith("FAIL") or "check failed" in ln]
    assert not failures and got[-1] == "PASS", f"guest did not pass:\n{out}\n{err}"
    assert rc == 0, f"exit code {rc}:\n{out}\n{err}"


_first_output: dict[str, str] = {}


@pytest.mark.parametrize("guest", GUESTS, ids=IDS)
def test_guest_passes_under_qemu(guest, outdir):
    elf = build_guest(guest.name, outdir)
    rc, out, err = run_qemu(elf, guest.smp, cpu=guest.cpu)
    _first_output[guest.name] = out
    assert_pass(rc, out, err)


@pytest.mark.parametrize("guest", GUESTS, ids=IDS)
def test_guest_output_is_deterministic(guest, outdir):
    """Another run, this time with a single round-robin TCG thread and an instruction-counted
    clock (-icount), prints the same bytes as the default multi-threaded run: nothing that
    depends on time or scheduling is printed, so the output can be compared with dbt-vm's byte
    for byte."""
    elf = build_guest(guest.name, outdir)
    first = _first_output.get(guest.name)
    if first is None:
        first = run_qemu(elf, guest.smp, cpu=guest.cpu)[1]
    rc, second, err = run_qemu(elf, guest.smp, "-icount", "shift=4", cpu=guest.cpu)
    assert_pass(rc, second, err)
    assert second == first


def test_canary_fails(outdir):
    """A guest whose check cannot hold ends in FAIL: a failing check reaches the harness."""
    elf = build_guest(CANARY.name, outdir)
    rc, out, err = run_qemu(elf, CANARY.smp, cpu=CANARY.cpu)
    got = lines(out)
    assert rc == 0, err
    assert got and got[-1].startswith("FAIL: canary"), out
    with pytest.raises(AssertionError):
        assert_pass(rc, out)


@pytest.mark.skipif(OBJCOPY is None, reason="aarch64-linux-gnu-objcopy is not installed")
@pytest.mark.parametrize("name", ["exceptions", "psci"])
def test_raw_binary_image_passes(name, outdir):
    """The raw-binary form, which QEMU loads at RAM base + 0x80000 as a kernel image and enters
    through its boot stub, runs and prints the same as the ELF."""
    guest = next(g for g in GUESTS if g.name == name)
    rc, out, err = run_qemu(build_guest_bin(name, outdir), guest.smp, cpu=guest.cpu)
    assert_pass(rc, out, err)
    assert out == run_qemu(build_guest(name, outdir), guest.smp, cpu=guest.cpu)[1]
