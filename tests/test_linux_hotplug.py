"""The acceptance for vCPU hotplug: Debian's Linux 6.12 ACPI-booted under `dbt-vm boot --smp 2
--maxcpus 4`, CPUs hot-added and removed over QMP as Kata Containers does it (see
dbt/testing/linux_hotplug.py for every step): the guest shows possible/present 0-3 and enabled
0-1; device_add of core 2 makes cpu2 appear (enabled 0-2); onlining it runs work pinned to it;
device_del makes the guest offline and eject it, DEVICE_DELETED arrives and enabled is 0-1
again; the cycle repeats; and the cold-booted CPU 1 is unplugged the same way.

It shares the kernel's translated code with tests/test_linux_dbt.py through the on-disk cache,
so after that boot it takes about two minutes, and it runs in the default test run.
"""
import pytest

from dbt.machine.guest import DEFAULT_APPEND, GuestFetchError, fetch_default_guest
from dbt.testing.linux_hotplug import linux_hotplug


def test_linux_cpu_hotplug_over_qmp():
    try:
        kernel, initrd = fetch_default_guest(progress=False)
    except GuestFetchError as e:
        pytest.skip(f"the Linux guest is not available: {e}")
    run = linux_hotplug(kernel, initrd, DEFAULT_APPEND, cycles=2)
    assert run.steps[0] == ("boot: {'possible': '0-3', 'present': '0-3', 'enabled': '0-1', "
                            "'online': '0-1'}")
    assert run.steps[-1] == "exit code after poweroff: 0"
    assert len(run.latencies["unplug: device_del -> DEVICE_DELETED"]) == 3
    # no ACPI complaint about the tables or the hotplug methods
    for bad in ("ACPI Error", "ACPI BIOS Error", "AE_", "FW_BUG", "Firmware Bug",
                "Eject incomplete", "Call trace"):
        assert bad not in run.console, bad
