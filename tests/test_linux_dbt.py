"""The acceptance guest under dbt-vm: Debian's arm64 Linux 6.12 boots the ACPI way (EFI hand-off
without firmware, dbt-vm's default for an arm64 Image) on `dbt-vm boot --smp 4` to the busybox
/init, which prints the sysfs CPU lists, takes CPU 3 offline and back online, answers on its
shell, and `poweroff -f` ends dbt-vm with exit 0.

A first boot compiles the kernel's code (about four minutes on two cores; the translated code
is kept in the on-disk cache, so later boots take about one): it fits the default run, so CI
boots Linux on every submission.
"""
import sys

import pytest

from dbt.machine.guest import DEFAULT_APPEND, GuestFetchError, boot_and_poweroff, fetch_default_guest


def test_linux_boots_to_shell_with_four_cpus():
    try:
        kernel, initrd = fetch_default_guest(progress=False)
    except GuestFetchError as e:
        pytest.skip(f"the Linux guest is not available: {e}")
    argv = [sys.executable, "-m", "dbt.cli", "boot", "--kernel", str(kernel), "--initrd",
            str(initrd), "--smp", "4", "--memory", "512M", "--append", DEFAULT_APPEND]
    run = boot_and_poweroff(argv, ("echo hi-$((6*7))", "grep -c ^processor /proc/cpuinfo"),
                            timeout=3600)
    assert run.report["possible"] == "0-3"
    assert run.report["present"] == "0-3"
    assert run.report["online"] == "0-3"
    assert run.report["after_offline"] == "0-2"
    assert run.report["after_online"] == "0-3"
    assert run.answers[0] == "hi-42"
    assert run.answers[1] == "4"
    assert run.returncode == 0
