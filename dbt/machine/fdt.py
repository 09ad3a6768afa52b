"""The flattened device tree handed to a guest booted the `-kernel` way.

Nodes and properties follow what QEMU 7.2 writes for `-M virt,gic-version=3 -cpu cortex-a57`
(hw/arm/virt.c, hw/arm/boot.c) for the devices this board has; addresses and interrupt
numbers come from memmap.  Bindings: Documentation/devicetree/bindings/ in Linux
(arm/psci.yaml, interrupt-controller/arm,gic-v3.yaml, timer/arm,arch_timer.yaml,
serial/pl011.yaml, clock/fixed-clock.yaml, chosen.yaml).
"""
from __future__ import annotations

import struct

import libfdt

from . import memmap
from .memmap import MEMMAP
from .pl011 import UARTCLK_HZ

# GIC interrupt specifier, first and third cells (arm,gic-v3 binding).
GIC_FDT_IRQ_TYPE_SPI = 0
GIC_FDT_IRQ_TYPE_PPI = 1
IRQ_TYPE_LEVEL_HIGH = 4

# PSCI function IDs (ARM DEN 0022, PSCI 0.2+) listed in /psci for pre-0.2 style clients.
PSCI_0_2_FN64_CPU_SUSPEND = 0xC400_0001
PSCI_0_2_FN_CPU_OFF = 0x8400_0002
PSCI_0_2_FN64_CPU_ON = 0xC400_0003
PSCI_0_2_FN64_MIGRATE = 0xC400_0005

CPU_COMPATIBLE = "arm,cortex-a57"
MPIDR_AFFINITY_MASK = 0xFF_00FF_FFFF        # Aff3, Aff2, Aff1, Aff0

UART_NODE = f"pl011@{MEMMAP['uart'].base:x}"
UART_PATH = "/" + UART_NODE

# The /chosen properties the EFI stub would have written (drivers/firmware/efi/fdtparams.c
# reads the first five; the arm64 stub path checks the last).  key -> (property, cells).
UEFI_PROPERTIES = {
    "system_table": ("linux,uefi-system-table", 2),
    "mmap_start": ("linux,uefi-mmap-start", 2),
    "mmap_size": ("linux,uefi-mmap-size", 1),
    "mmap_desc_size": ("linux,uefi-mmap-desc-size", 1),
    "mmap_desc_ver": ("linux,uefi-mmap-desc-ver", 1),
    "secure_boot": ("linux,uefi-secure-boot", 1),
}
# Defaults: descriptor version 1; secure boot 2 = efi_secureboot_mode_disabled.
UEFI_DEFAULTS = {"mmap_desc_ver": 1, "secure_boot": 2}


def _cells(*values: int) -> bytes:
    return struct.pack(f">{len(values)}I", *values)


def _reg(*pairs: tuple[int, int]) -> bytes:
    """A reg property under #address-cells = #size-cells = 2."""
    return b"".join(struct.pack(">QQ", base, size) for base, size in pairs)


def _strings(*items: str) -> bytes:
    return b"".join(s.encode() + b"\0" for s in items)


def _ppi(intid: int) -> tuple[int, int, int]:
    return (GIC_FDT_IRQ_TYPE_PPI, intid - 16, IRQ_TYPE_LEVEL_HIGH)


class _Writer:
    """FdtSw with the buffer grown on demand and phandles handed out in order."""

    def __init__(self):
        self.sw = libfdt.FdtSw()
        self._next_phandle = 1

    def phandle(self) -> int:
        p = self._next_phandle
        self._next_phandle += 1
        return p

    def __getattr__(self, name):
        return getattr(self.sw, name)

    def finish(self) -> bytes:
        # fdt_finish needs room for the end token, which FdtSw.as_fdt does not make.
        while True:
            try:
                fdt = self.sw.as_fdt()
                break
            except libfdt.FdtException as e:
                if e.err != -libfdt.NOSPACE:
                    raise
                self.sw.resize(len(self.sw.as_bytearray()) + self.sw.INC_SIZE)
        fdt.pack()
        return bytes(fdt.as_bytearray())


def build_dtb(memory_size: int, cpus: list[tuple[int, int]], possible_cpus: int,
              bootargs: str = "", initrd: tuple[int, int] | None = None,
              stdout_path: str | None = None, *, uefi: dict | None = None,
              rng_seed: bytes | None = None, kaslr_seed: int | None = None,
              gic_maintenance_intid: int | None = None, pmu: bool = False) -> bytes:
    """Build the DTB.

    memory_size: bytes of RAM at memmap RAM_BASE.  cpus: (index, MPIDR) of each CPU to
    describe, boot CPU first.  possible_cpus: redistributor frames to describe (every possible
    CPU has one).  initrd: (start, end) guest physical addresses, end exclusive.
    stdout_path: defaults to the PL011 node.  uefi: see UEFI_PROPERTIES for the keys
    (mmap_desc_ver and secure_boot have defaults).  rng_seed/kaslr_seed: /chosen entropy,
    left out unless given (so runs stay reproducible).  gic_maintenance_intid: the GIC
    maintenance PPI, only for a board with EL2 (QEMU writes it only with virtualization=on).
    pmu: describe a PMUv3 on memmap PPI_PMU.
    """
    if not cpus:
        raise ValueError("build_dtb: no CPU to describe")
    if not 0 < possible_cpus <= memmap.MAX_CPUS or len(cpus) > possible_cpus:
        raise ValueError(f"build_dtb: {possible_cpus} possible CPUs for {len(cpus)} described "
                         f"(at most {memmap.MAX_CPUS})")
    uart, gicd, gicr = MEMMAP["uart"], MEMMAP["gicd"], MEMMAP["gicr"]
    w = _Writer()
    gic_phandle = w.phandle()
    clk_phandle = w.phandle()
    cpu_phandles = [w.phandle() for _ in cpus]

    w.finish_reservemap()
    w.begin_node("")
    w.property_u32("interrupt-parent", gic_phandle)
    w.property_string("model", "linux,dummy-virt")
    w.property_u32("#size-cells", 2)
    w.property_u32("#address-cells", 2)
    w.property_string("compatible", "linux,dummy-virt")

    # PSCI 1.0 through HVC: the vCPU traps HVC #0 and answers it (there is no EL2).
    w.begin_node("psci")
    w.property("compatible", _strings("arm,psci-1.0", "arm,psci-0.2", "arm,psci"))
    w.property_string("method", "hvc")
    w.property_u32("cpu_suspend", PSCI_0_2_FN64_CPU_SUSPEND)
    w.property_u32("cpu_off", PSCI_0_2_FN_CPU_OFF)
    w.property_u32("cpu_on", PSCI_0_2_FN64_CPU_ON)
    w.property_u32("migrate", PSCI_0_2_FN64_MIGRATE)
    w.end_node()

    w.begin_node(f"memory@{memmap.RAM_BASE:x}")
    w.property_string("device_type", "memory")
    w.property("reg", _reg((memmap.RAM_BASE, memory_size)))
    w.end_node()

    w.begin_node(UART_NODE)
    w.property("compatible", _strings("arm,pl011", "arm,primecell"))
    w.property("reg", _reg((uart.base, uart.size)))
    w.property("interrupts", _cells(GIC_FDT_IRQ_TYPE_SPI, uart.spi, IRQ_TYPE_LEVEL_HIGH))
    # uartclk for the baud-rate divisor, apb_pclk for the AMBA bus (both the one clock).
    w.property("clocks", _cells(clk_phandle, clk_phandle))
    w.property("clock-names", _strings("uartclk", "apb_pclk"))
    w.end_node()

    w.begin_node(f"intc@{gicd.base:x}")
    w.property("compatible", _strings("arm,gic-v3"))
    w.property_u32("#interrupt-cells", 3)
    w.property("interrupt-controller", b"")
    # One redistributor region, sized for every possible CPU so hot-added ones are found.
    w.property("reg", _reg((gicd.base, gicd.size),
                           (gicr.base, memmap.gicr_frames(possible_cpus))))
    w.property_u32("#redistributor-regions", 1)
    if gic_maintenance_intid is not None:
        w.property("interrupts", _cells(*_ppi(gic_maintenance_intid)))
    # QEMU declares these for its ITS child node; dtc's interrupt_provider check wants
    # #address-cells on every interrupt controller.
    w.property_u32("#address-cells", 2)
    w.property_u32("#size-cells", 2)
    w.property("ranges", b"")
    w.property_u32("phandle", gic_phandle)
    w.end_node()

    _cpus_node(w, cpus, cpu_phandles)

    w.begin_node("timer")
    w.property("compatible", _strings("arm,armv8-timer", "arm,armv7-timer"))
    # Order fixed by the binding: secure phys, non-secure phys, virtual, hypervisor.
    w.property("interrupts", _cells(*_ppi(memmap.PPI_STIMER), *_ppi(memmap.PPI_PTIMER),
                                    *_ppi(memmap.PPI_VTIMER), *_ppi(memmap.PPI_HTIMER)))
    w.property("always-on", b"")
    w.end_node()

    if pmu:
        w.begin_node("pmu")
        w.property("compatible", _strings("arm,armv8-pmuv3"))
        w.property("interrupts", _cells(*_ppi(memmap.PPI_PMU)))
        w.end_node()

    w.begin_node("apb-pclk")
    w.property("compatible", _strings("fixed-clock"))
    w.property_u32("#clock-cells", 0)
    w.property_u32("clock-frequency", UARTCLK_HZ)
    w.property("clock-output-names", _strings(f"clk{UARTCLK_HZ // 1_000_000}mhz"))
    w.property_u32("phandle", clk_phandle)
    w.end_node()

    _chosen_node(w, bootargs, initrd, stdout_path or UART_PATH, uefi, rng_seed, kaslr_seed)

    w.end_node()
    return w.finish()


def _cpus_node(w: _Writer, cpus, phandles) -> None:
    affs = [mpidr & MPIDR_AFFINITY_MASK for _, mpidr in cpus]
    # One cell is enough unless some CPU has a non-zero Aff3 (arm/cpus.yaml).
    wide = any(a >> 32 for a in affs)
    w.begin_node("cpus")
    w.property_u32("#address-cells", 2 if wide else 1)
    w.property_u32("#size-cells", 0)
    # cpu-map: one socket, one cluster, a core per CPU index (QEMU's default -smp topology).
    w.begin_node("cpu-map")
    w.begin_node("socket0")
    w.begin_node("cluster0")
    for (index, _), ph in sorted(zip(cpus, phandles)):
        w.begin_node(f"core{index}")
        w.property_u32("cpu", ph)
        w.end_node()
    w.end_node()
    w.end_node()
    w.end_node()
    for (index, _), aff, ph in zip(cpus, affs, phandles):
        w.begin_node(f"cpu@{aff:x}")
        w.property_string("device_type", "cpu")
        w.property_string("compatible", CPU_COMPATIBLE)
        w.property("reg", struct.pack(">Q", aff) if wide else _cells(aff))
        w.property_string("enable-method", "psci")
        w.property_u32("phandle", ph)
        w.end_node()
    w.end_node()


def _chosen_node(w: _Writer, bootargs, initrd, stdout_path, uefi, rng_seed,
                 kaslr_seed) -> None:
    w.begin_node("chosen")
    if bootargs:                        # QEMU leaves it out without -append
        w.property_string("bootargs", bootargs)
    w.property_string("stdout-path", stdout_path)
    if initrd is not None:
        start, end = initrd
        if not start <= end:
            raise ValueError("build_dtb: initrd end before start")
        # chosen.yaml allows 32 or 64 bits; one cell when it fits, as QEMU 7.2 writes it.
        for name, addr in (("linux,initrd-start", start), ("linux,initrd-end", end)):
            if addr >> 32:
                w.property_u64(name, addr)
            else:
                w.property_u32(name, addr)
    if rng_seed is not None:
        w.property("rng-seed", bytes(rng_seed))
    if kaslr_seed is not None:
        w.property_u64("kaslr-seed", kaslr_seed)
    if uefi is not None:
        unknown = set(uefi) - set(UEFI_PROPERTIES)
        if unknown:
            raise ValueError(f"build_dtb: unknown uefi keys {sorted(unknown)}")
        values = {**UEFI_DEFAULTS, **uefi}
        missing = [k for k in UEFI_PROPERTIES if k not in values]
        if missing:
            raise ValueError(f"build_dtb: uefi lacks {missing}")
        for key, (prop, ncells) in UEFI_PROPERTIES.items():
            if ncells == 2:
                w.property_u64(prop, values[key])
            else:
                w.property_u32(prop, values[key])
    w.end_node()
