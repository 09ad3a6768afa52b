"""The bare-metal test guests (tests/guests/) under QEMU, the reference they were written
against: each is built with the cross compiler, run under

    qemu-system-aarch64 -M virt,gic-version=3 -cpu cortex-a57 -smp N -m 256M -nographic \
        -no-reboot -nic none -kernel GUEST.elf

and must end its UART output with PASS and leave QEMU with exit code 0 (PSCI SYSTEM_OFF).
The same binaries are meant to run unchanged under `dbt-vm boot --kernel GUEST.elf` with the
same output byte for byte, which is why the output must also be the same from run to run."""
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


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("guests")


_runs: dict = {}


def run_qemu(image, smp: int) -> tuple[int, str]:
    cmd = qemu_command(image, smp, QEMU_SYSTEM)
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        pytest.fail(f"{' '.join(cmd)}: no SYSTEM_OFF within {TIMEOUT} s; output so far:\n{out}")
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def lines(out: str) -> list[str]:
    return [ln.rstrip("\r") for ln in out.split("\n") if ln.strip()]


def assert_pass(rc: int, out: str) -> None:
    got = lines(out)
    assert got, "no output at all"
    failures = [ln for ln in got if ln.startswith("FAIL") or "check failed" in ln]
    assert not failures and got[-1] == "PASS", "guest did not pass:\n" + out
    assert rc == 0, f"exit code {rc}:\n{out}"


@pytest.mark.parametrize("guest", GUESTS, ids=[g.name for g in GUESTS])
def test_guest_passes_under_qemu(guest, outdir):
    elf = build_guest(guest.name, outdir)
    rc, out = run_qemu(elf, guest.smp)
    _runs[guest.name] = out
    assert_pass(rc, out)


@pytest.mark.parametrize("guest", GUESTS, ids=[g.name for g in GUESTS])
def test_guest_output_is_deterministic(guest, outdir):
    """A second run prints the same bytes: nothing time- or scheduling-dependent is printed,
    so the output can be compared with dbt-vm's byte for byte."""
    elf = build_guest(guest.name, outdir)
    first = _runs.get(guest.name)
    if first is None:
        first = run_qemu(elf, guest.smp)[1]
    second = run_qemu(elf, guest.smp)[1]
    assert second == first


def test_canary_fails(outdir):
    """A guest with a check that cannot hold ends in FAIL: the harness can see a failure."""
    elf = build_guest(CANARY.name, outdir)
    rc, out = run_qemu(elf, CANARY.smp)
    got = lines(out)
    assert rc == 0, out
    assert got and got[-1].startswith("FAIL: canary"), out
    with pytest.raises(AssertionError):
        assert_pass(rc, out)


@pytest.mark.skipif(OBJCOPY is None, reason="aarch64-linux-gnu-objcopy is not installed")
@pytest.mark.parametrize("name", ["exceptions", "psci"])
def test_raw_binary_image_passes(name, outdir):
    """The raw-binary form, loaded by QEMU at RAM base + 0x80000 as a kernel image, runs the
    same and prints the same as the ELF."""
    guest = next(g for g in GUESTS if g.name == name)
    binary = build_guest_bin(name, outdir)
    rc, out = run_qemu(binary, guest.smp)
    assert_pass(rc, out)
    rc_elf, out_elf = run_qemu(build_guest(name, outdir), guest.smp)
    assert out == out_elf
