"""Every *possible* vCPU as a slot with a fixed identity, and the state machine a slot goes
through (DESIGN.md section 3):

    parked ──plug──▶ plugged, power off ──PSCI CPU_ON──▶ running
       ▲                  ▲        │ (eject)                 │ PSCI CPU_OFF
       └──────────────────┴────────┴─────────────────────────┘

A slot keeps its index, MPIDR, topology ids and GIC redistributor whatever its state.  Only a
plugged slot has an execution context (a `VCPU`: registers, TLB, timer); parking drops it, and
plugging again makes a fresh one, so a re-plugged CPU starts clean.

Topology is QEMU virt's default for `-smp N,maxcpus=M`: one socket, one cluster, M cores of
one thread, so core-id = CPU index (HOTPLUG_PROTOCOL.md section 2.8).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .psci import Power

CLUSTER_SIZE = 16           # GICv3 affinity: Aff0 holds 16 CPUs
TOPOLOGY_IDS = ("socket-id", "cluster-id", "core-id", "thread-id")


def mpidr_of(index: int) -> int:
    """MPIDR affinity of possible CPU `index` (Aff1 = cluster, Aff0 = CPU in cluster)."""
    return ((index // CLUSTER_SIZE) << 8) | (index % CLUSTER_SIZE)


def topology_of(index: int) -> dict:
    return {"socket-id": 0, "cluster-id": 0, "core-id": index, "thread-id": 0}


@dataclass
class CPUSlot:
    index: int
    mpidr: int
    cpu: object = None              # the VCPU while plugged, else None
    power: Power = Power.OFF
    waiting: bool = False           # in WFI (or PSCI CPU_SUSPEND) until an interrupt
    dev_id: str | None = None       # the monitor's id (device_add id=..., --device id=...)
    hotplugged: bool = False        # plugged by device_add while the machine ran
    unplug_requested: bool = False  # device_del asked; the guest has not ejected it yet
    anon: int | None = None         # /machine/peripheral-anon/device[N] of an id-less device_add
    topology: dict = field(default_factory=dict)

    @property
    def plugged(self) -> bool:
        return self.cpu is not None

    @property
    def powered(self) -> bool:
        return self.power == Power.ON

    @property
    def state(self) -> str:
        if self.cpu is None:
            return "parked"
        return "running" if self.power == Power.ON else "plugged"

    def qom_path(self) -> str:
        if self.dev_id is not None:
            return f"/machine/peripheral/{self.dev_id}"
        if self.anon is not None:
            return f"/machine/peripheral-anon/device[{self.anon}]"
        # cold-booted CPUs are the board's first unattached devices, as on QEMU's virt
        return f"/machine/unattached/device[{self.index}]"
