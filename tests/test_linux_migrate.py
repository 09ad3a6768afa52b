"""The acceptance for live migration: Debian's Linux 6.12, ACPI-booted with --smp 2 --maxcpus
4, CPU 2 hot-added and online, a shell loop printing ticks; migrated over loopback TCP to a
destination started with only --incoming (see dbt/testing/linux_migrate.py for every step):
the ticks go on there without a reboot, CPU 2 runs work there, device_del of it completes
with DEVICE_DELETED there and a device_add of core 3 there works.

It shares the kernel's translated code with the other Linux tests through the on-disk cache
(about 90 s after them), and it runs in the default test run.
"""
import pytest

from dbt.machine.guest import DEFAULT_APPEND, GuestFetchError, fetch_default_guest
from dbt.testing.linux_migrate import linux_migrate


def test_linux_live_migration_with_a_hot_added_cpu():
    try:
        kernel, initrd = fetch_default_guest(progress=False)
    except GuestFetchError as e:
        pytest.skip(f"the Linux guest is not available: {e}")
    run = linux_migrate(kernel, initrd, DEFAULT_APPEND)
    assert run.steps[-1] == "destination exit code after poweroff: 0"
    info = run.migration
    assert info["status"] == "completed" and info["ram"]["total"] == 512 << 20
    # most of a freshly booted guest's RAM is zero: it goes as markers, not pages
    assert info["ram"]["transferred"] < (512 << 20) // 4
    for bad in ("ACPI Error", "AE_", "Call trace", "BUG:", "rcu_sched self-detected stall"):
        assert bad not in run.console, bad
