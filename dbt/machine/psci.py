"""PSCI 1.1 (ARM DEN 0022), answered in-process for HVC and SMC from EL1.

The power state of every *possible* vCPU lives in its machine slot (`CPUSlot.power`); CPU_ON
of a vCPU that is not plugged answers DENIED, as Linux 6.11+ expects for possible-but-disabled
CPUs.  Function ids and return codes are the spec's.
"""
from __future__ import annotations

import enum

from ..cpu.vcpu import RunResult

PSCI_VERSION = 0x8400_0000
CPU_SUSPEND = 0x8400_0001
CPU_OFF = 0x8400_0002
CPU_ON = 0x8400_0003
AFFINITY_INFO = 0x8400_0004
MIGRATE = 0x8400_0005
MIGRATE_INFO_TYPE = 0x8400_0006
MIGRATE_INFO_UP_CPU = 0x8400_0007
SYSTEM_OFF = 0x8400_0008
SYSTEM_RESET = 0x8400_0009
PSCI_FEATURES = 0x8400_000A
SMC64 = 0x4000_0000          # the SMC64 form of a function id sets bit 30

SUCCESS = 0
NOT_SUPPORTED = -1
INVALID_PARAMETERS = -2
DENIED = -3
ALREADY_ON = -4
ON_PENDING = -5
INTERNAL_FAILURE = -6
NOT_PRESENT = -7
DISABLED = -8
INVALID_ADDRESS = -9

VERSION_1_1 = 0x0001_0001

# AFFINITY_INFO answers
AFF_ON, AFF_OFF, AFF_ON_PENDING = 0, 1, 2

# MIGRATE_INFO_TYPE: no Trusted OS, migration not required
TOS_NOT_PRESENT = 2

IMPLEMENTED = {PSCI_VERSION, CPU_SUSPEND, CPU_OFF, CPU_ON, AFFINITY_INFO, MIGRATE_INFO_TYPE,
               SYSTEM_OFF, SYSTEM_RESET, PSCI_FEATURES,
               CPU_SUSPEND | SMC64, CPU_ON | SMC64, AFFINITY_INFO | SMC64}


class Power(enum.Enum):
    OFF = "off"
    ON = "on"


def call(machine, cpu, conduit: str):
    """Handle HVC/SMC from `cpu` (its PC is past the instruction).  Returns a RunResult when
    the vCPU must stop running, else None."""
    fid = cpu.x(0) & 0xFFFF_FFFF
    wide = bool(fid & SMC64)
    args = [cpu.x(n) if wide else cpu.x(n) & 0xFFFF_FFFF for n in (1, 2, 3)]
    if machine.log:
        machine.log("int", f"cpu{cpu.index}: PSCI {conduit} {fid:#x} {[hex(a) for a in args]}")

    def ret(value):
        cpu.set_x(0, value)
        return None

    if fid == PSCI_VERSION:
        return ret(VERSION_1_1)
    if fid == PSCI_FEATURES:
        return ret(SUCCESS if (args[0] & 0xFFFF_FFFF) in IMPLEMENTED else NOT_SUPPORTED)
    if fid == MIGRATE_INFO_TYPE:
        return ret(TOS_NOT_PRESENT)
    if fid in (CPU_ON, CPU_ON | SMC64):
        return ret(cpu_on(machine, args[0], args[1], args[2]))
    if fid in (AFFINITY_INFO, AFFINITY_INFO | SMC64):
        return ret(affinity_info(machine, args[0], args[1]))
    if fid == CPU_OFF:
        machine.cpu_off(cpu)
        return RunResult.OFF
    if fid in (CPU_SUSPEND, CPU_SUSPEND | SMC64):
        # every power state is entered as standby: the vCPU waits for an interrupt and the
        # call returns SUCCESS (allowed for powerdown states that wake early, too)
        cpu.set_x(0, SUCCESS)
        return None if cpu.wake_pending() else RunResult.WAIT
    if fid == SYSTEM_OFF:
        machine.request_shutdown("poweroff", "guest-shutdown")
        return RunResult.STOP
    if fid == SYSTEM_RESET:
        machine.request_shutdown("reset", "guest-reset")
        return RunResult.STOP
    return ret(NOT_SUPPORTED)


def cpu_on(machine, target: int, entry: int, context_id: int) -> int:
    index = machine.cpu_by_mpidr(target)
    if index is None:
        return INVALID_PARAMETERS
    if not machine.plugged(index):
        return DENIED
    if machine.slots[index].power == Power.ON:
        return ALREADY_ON
    machine.power_on(index, entry, context_id)
    return SUCCESS


def affinity_info(machine, target: int, level: int) -> int:
    if level != 0:
        return INVALID_PARAMETERS
    index = machine.cpu_by_mpidr(target)
    if index is None:
        return INVALID_PARAMETERS
    return AFF_ON if machine.slots[index].power == Power.ON else AFF_OFF
