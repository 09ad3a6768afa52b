"""The device tree, against the one QEMU 7.2 writes for the same virt configuration.

`qemu-system-aarch64 -M virt,gic-version=3,dumpdtb=FILE -cpu cortex-a57 -smp N -m M` dumps
QEMU's DTB without running anything.  Both trees are walked with libfdt and compared node by
node; phandle-valued properties are compared by the path of the node they point at.
"""
import shutil
import struct
import subprocess

import pytest

libfdt = pytest.importorskip("libfdt")

from dbt.machine import memmap                         # noqa: E402
from dbt.machine.fdt import UART_PATH, build_dtb        # noqa: E402
from dbt.machine.memmap import MEMMAP                   # noqa: E402

QEMU_SYSTEM = shutil.which("qemu-system-aarch64")
DTC = shutil.which("dtc")
needs_qemu = pytest.mark.skipif(QEMU_SYSTEM is None,
                                reason="qemu-system-aarch64 (the oracle) is missing")
needs_dtc = pytest.mark.skipif(DTC is None, reason="dtc (device-tree-compiler) is missing")

# QEMU devices this board does not have; everything else QEMU writes must be ours too.
QEMU_ONLY = ("virtio_mmio@", "platform-bus@", "fw-cfg@", "gpio-keys", "pl061@", "pcie@",
             "pl031@", "flash@", "pmu", "its@")
PHANDLE_PROPS = {"interrupt-parent", "clocks", "cpu"}
# Random per QEMU run; compared only when given to build_dtb.
SEEDS = {"rng-seed", "kaslr-seed"}


def tree(blob: bytes) -> dict:
    """path -> {property: bytes}, phandle references replaced by target paths."""
    fdt = libfdt.Fdt(blob)
    nodes, by_phandle = {}, {}
    off, depth = 0, 0
    while True:
        path = fdt.get_path(off)
        props = {}
        p = fdt.first_property_offset(off, libfdt.QUIET_NOTFOUND)
        while p >= 0:
            prop = fdt.get_property_by_offset(p)
            props[prop.name] = bytes(prop)
            p = fdt.next_property_offset(p, libfdt.QUIET_NOTFOUND)
        if "phandle" in props:
            by_phandle[struct.unpack(">I", props["phandle"])[0]] = path
        nodes[path] = props
        off, depth = fdt.next_node(off, depth, libfdt.QUIET_NOTFOUND)
        if off < 0 or depth < 0:                     # depth < 0: past the root's end
            break
    for props in nodes.values():
        props.pop("phandle", None)
        for name in PHANDLE_PROPS & props.keys():
            cells = struct.unpack(f">{len(props[name]) // 4}I", props[name])
            props[name] = tuple(by_phandle[c] for c in cells)
    return nodes


def qemu_dtb(tmp_path, smp: str, mem: str, *extra) -> bytes:
    out = tmp_path / "qemu.dtb"
    # -nodefaults: without it QEMU wants the NIC's option ROM, which Debian packages apart.
    r = subprocess.run([QEMU_SYSTEM, "-M", f"virt,gic-version=3,dumpdtb={out}",
                        "-cpu", "cortex-a57", "-smp", smp, "-m", mem, "-display", "none",
                        "-nodefaults", *extra],
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    assert out.exists(), r.stderr.decode(errors="replace")
    return out.read_bytes()


def qemu_mpidr(index: int) -> int:
    # QEMU virt with GICv3: 16 CPUs per Aff1 cluster (virt_cpu_mp_affinity).
    return (index // 16) << 8 | index % 16


def by_cpu_reg(nodes: dict) -> dict:
    """Rename /cpus/cpu@X, and references to it, after its reg value: QEMU's unit address
    is the CPU index in decimal, ours the reg value in hex (as the DT spec has it)."""
    rename = {path: "/cpus/cpu@" + props["reg"].hex() for path, props in nodes.items()
              if path.startswith("/cpus/cpu@")}
    out = {}
    for path, props in nodes.items():
        out[rename.get(path, path)] = {
            k: tuple(rename.get(t, t) for t in v) if k in PHANDLE_PROPS else v
            for k, v in props.items()}
    return out


def compare(ours: dict, qemu: dict, ignore_props=()):
    ours, qemu = by_cpu_reg(ours), by_cpu_reg(qemu)
    extra = [p for p in qemu if p not in ours
             and not any(part.startswith(QEMU_ONLY) for part in p.split("/"))]
    assert extra == [], f"QEMU nodes we do not write: {extra}"
    missing = [p for p in ours if p not in qemu]
    assert missing == [], f"nodes QEMU does not have: {missing}"
    for path, props in ours.items():
        theirs = {k: v for k, v in qemu[path].items() if k not in ignore_props}
        mine = {k: v for k, v in props.items() if k not in ignore_props}
        assert mine == theirs, path


@needs_qemu
@pytest.mark.parametrize("smp,mem", [(4, "512M"), (1, "128M"), (17, "1G")])
def test_same_nodes_as_qemu(tmp_path, smp, mem):
    qemu = tree(qemu_dtb(tmp_path, str(smp), mem))
    size = int(mem[:-1]) << (30 if mem.endswith("G") else 20)
    # With every possible CPU, our redistributor range is QEMU's whole region.
    ours = tree(build_dtb(size, [(i, qemu_mpidr(i)) for i in range(smp)],
                          memmap.MAX_CPUS, ""))
    if smp == 1:
        # QEMU names no enable-method for a lone CPU; ours always has it (harmless for the
        # boot CPU, and it lets Linux use PSCI CPU_OFF on it).
        for path, props in ours.items():
            if path.startswith("/cpus/cpu@"):
                assert props.pop("enable-method") == b"psci\0"
    compare(ours, qemu, ignore_props=SEEDS)


@needs_qemu
def test_redistributor_range_covers_possible_cpus(tmp_path):
    qemu = tree(qemu_dtb(tmp_path, "2,maxcpus=8", "256M"))
    ours = tree(build_dtb(256 << 20, [(0, 0), (1, 1)], 8, ""))
    regs = struct.unpack(">4Q", ours["/intc@8000000"]["reg"])
    qregs = struct.unpack(">4Q", qemu["/intc@8000000"]["reg"])
    gicd, gicr = MEMMAP["gicd"], MEMMAP["gicr"]
    assert regs[:3] == qregs[:3] == (gicd.base, gicd.size, gicr.base)
    assert regs[3] == memmap.gicr_frames(8) == 8 * 0x20000 <= qregs[3]
    # Everything else is QEMU's.
    del ours["/intc@8000000"]["reg"], qemu["/intc@8000000"]["reg"]
    compare(ours, qemu, ignore_props=SEEDS)


@needs_qemu
def test_chosen_matches_qemu_with_kernel_and_initrd(tmp_path):
    kernel, initrd = tmp_path / "Image", tmp_path / "initrd"
    kernel.write_bytes(bytes(4096))
    initrd.write_bytes(bytes(range(256)) * 5)
    args = "console=ttyAMA0 earlycon rdinit=/init"
    qemu = tree(qemu_dtb(tmp_path, "4", "512M", "-kernel", str(kernel),
                         "-initrd", str(initrd), "-append", args))
    chosen = qemu["/chosen"]
    start = struct.unpack(">I", chosen["linux,initrd-start"])[0]
    end = struct.unpack(">I", chosen["linux,initrd-end"])[0]
    assert end - start == 1280
    ours = tree(build_dtb(512 << 20, [(i, i) for i in range(4)], memmap.MAX_CPUS, args,
                          (start, end), rng_seed=chosen["rng-seed"],
                          kaslr_seed=struct.unpack(">Q", chosen["kaslr-seed"])[0]))
    assert ours["/chosen"] == chosen
    assert ours["/chosen"]["stdout-path"] == UART_PATH.encode() + b"\0"
    compare(ours, qemu)


@needs_dtc
def test_dtc_accepts_the_blob_without_warnings(tmp_path):
    blob = build_dtb(1 << 30, [(i, qemu_mpidr(i)) for i in range(20)], 32,
                     "console=ttyAMA0", (0x4800_0000, 0x4810_0000),
                     uefi={"system_table": 0x4F00_0000, "mmap_start": 0x4F00_1000,
                           "mmap_size": 96, "mmap_desc_size": 48},
                     gic_maintenance_intid=25, pmu=True)
    path = tmp_path / "ours.dtb"
    path.write_bytes(blob)
    for fmt in ("dtb", "dts"):                        # dtc runs its checks on the input tree
        r = subprocess.run([DTC, "-I", "dtb", "-O", fmt, "-o", str(tmp_path / f"out.{fmt}"),
                            str(path)], capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr == "", r.stderr
    # The source compiles back to the same tree.  (Its stderr is not checked: decompiled
    # phandle references are bare numbers, which dtc flags in QEMU's tree just the same.)
    r2 = subprocess.run([DTC, "-I", "dts", "-O", "dtb", "-o", str(tmp_path / "again.dtb"),
                         str(tmp_path / "out.dts")], capture_output=True, text=True)
    assert r2.returncode == 0, r2.stderr
    assert tree((tmp_path / "again.dtb").read_bytes()) == tree(blob)


def test_addresses_and_interrupts_come_from_memmap():
    t = tree(build_dtb(2 << 30, [(0, 0), (1, 1)], 4, "quiet"))
    uart, gicd, gicr = MEMMAP["uart"], MEMMAP["gicd"], MEMMAP["gicr"]
    assert t[f"/pl011@{uart.base:x}"]["reg"] == struct.pack(">QQ", uart.base, uart.size)
    assert t[f"/pl011@{uart.base:x}"]["interrupts"] == struct.pack(">3I", 0, uart.spi, 4)
    assert t[f"/memory@{memmap.RAM_BASE:x}"]["reg"] == struct.pack(">QQ", memmap.RAM_BASE,
                                                                    2 << 30)
    assert t[f"/intc@{gicd.base:x}"]["reg"] == struct.pack(
        ">4Q", gicd.base, gicd.size, gicr.base, memmap.gicr_frames(4))
    ppis = struct.unpack(">12I", t["/timer"]["interrupts"])
    assert ppis[1::3] == tuple(i - 16 for i in (memmap.PPI_STIMER, memmap.PPI_PTIMER,
                                                 memmap.PPI_VTIMER, memmap.PPI_HTIMER))
    assert "interrupts" not in t[f"/intc@{gicd.base:x}"]     # no EL2, no maintenance IRQ
    assert "/pmu" not in t


def test_cpu_nodes_use_mpidr_affinity():
    cpus = [(0, 0x8000_0000), (5, 0x8000_0105), (7, 0x01_0000_0000 | 0x8000_0000)]
    t = tree(build_dtb(1 << 30, cpus, 8, ""))
    assert struct.unpack(">I", t["/cpus"]["#address-cells"])[0] == 2   # Aff3 needs 2 cells
    assert struct.unpack(">Q", t["/cpus/cpu@105"]["reg"])[0] == 0x105  # MPIDR.U etc. dropped
    assert struct.unpack(">Q", t["/cpus/cpu@100000000"]["reg"])[0] == 1 << 32
    assert t["/cpus/cpu-map/socket0/cluster0/core5"]["cpu"] == ("/cpus/cpu@105",)
    for path in ("/cpus/cpu@0", "/cpus/cpu@105"):
        assert t[path]["enable-method"] == b"psci\0"
        assert t[path]["compatible"] == b"arm,cortex-a57\0"


def test_uefi_properties():
    u = {"system_table": 0x1_4F00_0000, "mmap_start": 0x4F00_1000, "mmap_size": 480,
         "mmap_desc_size": 48}
    chosen = tree(build_dtb(1 << 30, [(0, 0)], 1, "acpi=force", uefi=u))["/chosen"]
    # Widths as drivers/firmware/efi/fdtparams.c reads them: two u64, then u32s.
    assert chosen["linux,uefi-system-table"] == struct.pack(">Q", 0x1_4F00_0000)
    assert chosen["linux,uefi-mmap-start"] == struct.pack(">Q", 0x4F00_1000)
    assert chosen["linux,uefi-mmap-size"] == struct.pack(">I", 480)
    assert chosen["linux,uefi-mmap-desc-size"] == struct.pack(">I", 48)
    assert chosen["linux,uefi-mmap-desc-ver"] == struct.pack(">I", 1)
    assert chosen["linux,uefi-secure-boot"] == struct.pack(">I", 2)
    assert chosen["bootargs"] == b"acpi=force\0"
    with pytest.raises(ValueError):
        build_dtb(1 << 30, [(0, 0)], 1, "", uefi={"system_table": 1})
    with pytest.raises(ValueError):
        build_dtb(1 << 30, [(0, 0)], 1, "", uefi={**u, "mmap_bogus": 1})


def test_optional_nodes_and_64bit_initrd():
    t = tree(build_dtb(8 << 30, [(0, 0)], 1, "", (0x2_0000_0000, 0x2_0010_0000),
                       gic_maintenance_intid=25, pmu=True))
    assert t["/intc@8000000"]["interrupts"] == struct.pack(">3I", 1, 9, 4)
    assert t["/pmu"]["interrupts"] == struct.pack(">3I", 1, memmap.PPI_PMU - 16, 4)
    assert t["/chosen"]["linux,initrd-start"] == struct.pack(">Q", 0x2_0000_0000)
    assert "bootargs" not in t["/chosen"] and "rng-seed" not in t["/chosen"]


def test_bad_arguments():
    with pytest.raises(ValueError):
        build_dtb(1 << 30, [], 1, "")
    with pytest.raises(ValueError):
        build_dtb(1 << 30, [(0, 0), (1, 1)], 1, "")
    with pytest.raises(ValueError):
        build_dtb(1 << 30, [(0, 0)], memmap.MAX_CPUS + 1, "")
    with pytest.raises(ValueError):
        build_dtb(1 << 30, [(0, 0)], 1, "", (0x5000, 0x4000))


def test_blob_header():
    blob = build_dtb(1 << 30, [(0, 0)], 1, "")
    fdt = libfdt.Fdt(blob)
    assert fdt.totalsize() == len(blob) and fdt.version() == 17
    assert fdt.num_mem_rsv() == 0
