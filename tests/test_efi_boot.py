"""The ACPI boot's EFI hand-off (dbt/machine/efi.py) and the loader's choice between it and the
device-tree boot (dbt/machine/boot.py), without booting Linux: the structures are read back
from guest RAM through the pointers the device tree's /chosen gives, as Linux's
drivers/firmware/efi (fdtparams.c, efi-init.c uefi_init/reserve_regions, efi.c
efi_config_parse_tables) reads them.
"""
import struct
import zlib

import pytest

libfdt = pytest.importorskip("libfdt")

from dbt.acpi import TABLES_SIZE, default_base                              # noqa: E402
from dbt.machine import efi                                                 # noqa: E402
from dbt.machine.boot import BootError, acpi_cmdline, acpi_layout, boot    # noqa: E402
from dbt.machine.memmap import RAM_BASE                                     # noqa: E402
from dbt.machine.virt import Machine, MachineConfig                         # noqa: E402

MiB = 1 << 20
APPEND = "console=ttyAMA0 cryptomgr.notests"


def fake_image(image_size=4 * MiB, text_offset=0, body=4096) -> bytes:
    """An arm64 Image header (Documentation/arch/arm64/booting.rst) and a little code."""
    head = bytearray(64)
    struct.pack_into("<II", head, 0, 0x91005A4D, 0x14000000)     # "MZ" add; b stext
    struct.pack_into("<QQQ", head, 0x08, text_offset, image_size, 0x2)
    head[0x38:0x3C] = b"ARM\x64"
    return bytes(head) + bytes(body - 64)


@pytest.fixture
def machine_factory():
    made = []

    def make(memory=512 * MiB, smp=2, maxcpus=4):
        m = Machine(MachineConfig(memory=memory, smp=smp, maxcpus=maxcpus, disk_cache=False))
        made.append(m)
        return m
    yield make
    for m in made:
        m.close()


def chosen(blob: bytes) -> dict[str, bytes]:
    tree = libfdt.Fdt(blob)
    node = tree.path_offset("/chosen")
    out = {}
    p = tree.first_property_offset(node, libfdt.QUIET_NOTFOUND)
    while p >= 0:
        prop = tree.get_property_by_offset(p)
        out[prop.name] = bytes(prop)
        p = tree.next_property_offset(p, libfdt.QUIET_NOTFOUND)
    return out


def node_paths(blob: bytes) -> list[str]:
    tree = libfdt.Fdt(blob)
    paths, off, depth = [], 0, 0
    while off >= 0 and depth >= 0:
        paths.append(tree.get_path(off))
        off, depth = tree.next_node(off, depth, libfdt.QUIET_NOTFOUND)
    return paths


def number(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def check_memory_map(descs, ram_base, ram_size):
    """Sorted, non-overlapping, page aligned, covering RAM exactly once, attributes UC|WC|WT|WB."""
    cursor = ram_base
    for d in descs:
        assert d.start == cursor, f"gap or overlap at {cursor:#x}"
        assert d.start % 4096 == 0 and d.pages > 0
        assert d.attribute == 0xF
        cursor = d.end
    assert cursor == ram_base + ram_size


def type_at(descs, pa):
    hits = [d.type for d in descs if d.start <= pa < d.end]
    assert len(hits) == 1
    return hits[0]


# -- the structures on their own --------------------------------------------------------------
def test_system_table_config_table_and_memory_map_parse_back():
    ram = 512 * MiB
    tables = default_base(ram)
    base = tables - efi.REGION_SIZE
    rsdp = tables + 0x10
    image = efi.build_efi(base, ram, rsdp, (tables, tables + TABLES_SIZE))
    assert len(image.data) == efi.REGION_SIZE and image.base == base

    def at(pa, n):
        off = pa - base
        return image.data[off:off + n]

    raw = at(image.system_table, 120)
    st = efi.parse_system_table(raw)
    assert st.signature == 0x5453595320494249 and raw[:8] == b"IBI SYST"
    assert st.revision == (2 << 16) | 70 and st.header_size == 120
    zeroed = raw[:16] + bytes(4) + raw[20:]
    assert st.crc32 == zlib.crc32(zeroed) == efi.table_crc32(raw, 120)
    assert efi.read_ucs2(at(st.firmware_vendor, 64)) == "dbt-vm"
    assert st.runtime_services == 0 and st.boot_services == 0
    assert st.console == (0,) * 6
    assert st.tables == image.config_table

    config = efi.parse_config_table(at(st.tables, st.nr_tables * 24), st.nr_tables)
    assert config[efi.ACPI_20_TABLE_GUID] == rsdp
    assert str(efi.ACPI_20_TABLE_GUID) == "8868e871-e4f1-11d3-bc22-0080c73c8881"
    assert at(st.tables, 16) == bytes.fromhex("71e86888f1e4d311bc220080c73c8881")
    memreserve = config[efi.LINUX_EFI_MEMRESERVE_TABLE_GUID]
    assert str(efi.LINUX_EFI_MEMRESERVE_TABLE_GUID) == "888eb0c6-8ede-4ff5-a8f0-9aee5cb977c2"
    assert memreserve == image.memreserve and at(memreserve, 16) == bytes(16)
    version, length, supported = struct.unpack(
        "<HHI", at(config[efi.EFI_RT_PROPERTIES_TABLE_GUID], 8))
    assert (version, length, supported) == (1, 8, 0)

    descs = efi.parse_memory_map(at(image.memmap, image.memmap_size))
    assert image.memmap_size == len(descs) * 48
    check_memory_map(descs, RAM_BASE, ram)
    assert [d.type for d in descs] == [7, 6, 9]
    assert (descs[2].start, descs[2].end) == (tables, RAM_BASE + ram)
    for pa in (image.system_table, image.config_table, memreserve, image.memmap):
        assert type_at(descs, pa) == efi.EFI_RUNTIME_SERVICES_DATA
    assert type_at(descs, rsdp) == efi.EFI_ACPI_RECLAIM_MEMORY
    assert image.uefi_properties() == {"system_table": base, "mmap_start": image.memmap,
                                       "mmap_size": image.memmap_size, "mmap_desc_size": 48,
                                       "mmap_desc_ver": 1}


def test_memory_map_rejects_bad_ranges():
    ram = 64 * MiB
    top = RAM_BASE + ram
    with pytest.raises(efi.EfiError):           # overlapping
        efi.memory_map(RAM_BASE, ram, (top - 0x20000, top), (top - 0x30000, top - 0x10000))
    with pytest.raises(efi.EfiError):           # outside RAM
        efi.memory_map(RAM_BASE, ram, (top, top + 0x1000), (top - 0x1000, top))
    with pytest.raises(efi.EfiError):           # not page aligned
        efi.memory_map(RAM_BASE, ram, (top - 0x1800, top - 0x800), (top - 0x800, top))
    # ranges may sit anywhere in RAM: conventional memory fills the rest
    descs = efi.memory_map(RAM_BASE, ram, (RAM_BASE, RAM_BASE + 0x1000),
                           (RAM_BASE + 0x10000, RAM_BASE + 0x20000))
    check_memory_map(descs, RAM_BASE, ram)
    assert [d.type for d in descs] == [6, 7, 9, 7]


def test_acpi_cmdline_adds_only_what_is_missing():
    assert acpi_cmdline("console=ttyAMA0") == "console=ttyAMA0 acpi=force efi=noruntime"
    assert acpi_cmdline("") == "acpi=force efi=noruntime"
    assert acpi_cmdline("acpi=force efi=noruntime") == "acpi=force efi=noruntime"
    assert acpi_cmdline("acpi=on efi=debug,noruntime") == "acpi=on efi=debug,noruntime"
    assert acpi_cmdline("efi=debug") == "efi=debug acpi=force efi=noruntime"
    # after a lone "--" the words are init's, so the options go before it
    assert acpi_cmdline("quiet -- acpi=force x") == "quiet acpi=force efi=noruntime -- acpi=force x"


# -- the loader -------------------------------------------------------------------------------
@pytest.mark.parametrize("memory", [512 * MiB, 1024 * MiB])
def test_image_boots_acpi_by_default_with_tables_where_chosen_points(machine_factory, memory):
    m = machine_factory(memory=memory, smp=2, maxcpus=4)
    initrd = bytes(range(256)) * 4096                    # 1 MiB
    loaded = boot(m, fake_image(), initrd, APPEND)
    assert loaded.acpi and loaded.kind == "image"
    assert m.boot_entry == (loaded.entry, loaded.dtb)      # x0 = the device tree
    efi_base, tables_base = acpi_layout(memory)
    assert tables_base == default_base(memory) == RAM_BASE + memory - TABLES_SIZE
    assert efi_base == tables_base - efi.REGION_SIZE
    assert loaded.tables == (tables_base, RAM_BASE + memory)

    blob = m.phys.read(loaded.dtb, 0x10000)
    blob = blob[:struct.unpack(">I", blob[4:8])[0]]
    assert sorted(node_paths(blob)) == ["/", "/chosen", "/memory@40000000"]
    props = chosen(blob)
    args = props["bootargs"].rstrip(b"\0").decode()
    assert args == APPEND + " acpi=force efi=noruntime" == loaded.cmdline
    assert (number(props["linux,initrd-start"]), number(props["linux,initrd-end"])) \
        == loaded.initrd
    assert m.phys.read(loaded.initrd[0], len(initrd)) == initrd
    assert loaded.initrd[1] <= efi_base and loaded.dtb + len(blob) <= efi_base
    assert number(props["linux,uefi-mmap-desc-size"]) == 48
    assert number(props["linux,uefi-mmap-desc-ver"]) == 1
    assert number(props["linux,uefi-secure-boot"]) == 2
    assert len(props["linux,uefi-system-table"]) == 8 == len(props["linux,uefi-mmap-start"])

    systab_pa = number(props["linux,uefi-system-table"])
    assert systab_pa == loaded.efi.system_table and efi_base <= systab_pa < tables_base
    raw = m.phys.read(systab_pa, 120)
    st = efi.parse_system_table(raw)
    assert st.signature == efi.EFI_SYSTEM_TABLE_SIGNATURE and st.crc32 == zlib.crc32(
        raw[:16] + bytes(4) + raw[20:])
    config = efi.parse_config_table(m.phys.read(st.tables, 24 * st.nr_tables), st.nr_tables)
    rsdp = config[efi.ACPI_20_TABLE_GUID]
    assert rsdp == loaded.rsdp == tables_base
    assert m.phys.read(rsdp, 8) == b"RSD PTR "
    xsdt = struct.unpack_from("<Q", m.phys.read(rsdp, 36), 24)[0]
    assert tables_base < xsdt < RAM_BASE + memory and m.phys.read(xsdt, 4) == b"XSDT"
    assert m.phys.read(config[efi.LINUX_EFI_MEMRESERVE_TABLE_GUID], 16) == bytes(16)

    descs = efi.parse_memory_map(m.phys.read(number(props["linux,uefi-mmap-start"]),
                                             number(props["linux,uefi-mmap-size"])))
    check_memory_map(descs, RAM_BASE, memory)
    assert type_at(descs, rsdp) == type_at(descs, xsdt) == efi.EFI_ACPI_RECLAIM_MEMORY
    assert type_at(descs, systab_pa) == efi.EFI_RUNTIME_SERVICES_DATA
    for pa in (loaded.kernel[0], loaded.initrd[0], loaded.dtb):
        assert type_at(descs, pa) == efi.EFI_CONVENTIONAL_MEMORY
    # system_reset writes the loader's images again, tables included
    assert {pa for pa, _ in m.phys.images} >= {tables_base, efi_base, loaded.dtb}


def test_command_line_options_already_there_are_kept(machine_factory):
    m = machine_factory()
    loaded = boot(m, fake_image(), None, "console=ttyAMA0 acpi=force efi=noruntime")
    props = chosen(m.phys.read(loaded.dtb, 0x1000))
    assert props["bootargs"].rstrip(b"\0") == b"console=ttyAMA0 acpi=force efi=noruntime"
    assert "linux,initrd-start" not in props and loaded.initrd is None


def dt_boot_checks(m, loaded, append):
    assert not loaded.acpi and loaded.efi is None
    blob = m.phys.read(loaded.dtb, 0x10000)
    paths = node_paths(blob)
    assert "/cpus" in paths and "/psci" in paths            # the full board description
    props = chosen(blob)
    assert props["bootargs"].rstrip(b"\0").decode() == append == loaded.cmdline
    assert not any(name.startswith("linux,uefi") for name in props)
    # nothing at the top of RAM
    top = RAM_BASE + m.phys.ram_size
    assert m.phys.read(top - TABLES_SIZE, 8) == bytes(8)


def test_acpi_false_keeps_the_device_tree_boot(machine_factory):
    m = machine_factory()
    loaded = boot(m, fake_image(), b"x" * 4096, APPEND, acpi=False)
    dt_boot_checks(m, loaded, APPEND)
    assert loaded.initrd == (RAM_BASE + 2 * MiB + 128 * MiB, RAM_BASE + 130 * MiB + 4096)


def test_acpi_off_on_the_command_line_keeps_the_device_tree_boot(machine_factory):
    m = machine_factory()
    loaded = boot(m, fake_image(), None, APPEND + " acpi=off")
    dt_boot_checks(m, loaded, APPEND + " acpi=off")


def test_dtb_given_keeps_the_device_tree_boot(machine_factory):
    m = machine_factory()
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    sw.begin_node("")
    sw.property_string("model", "given")
    sw.end_node()
    given = bytes(sw.as_fdt().as_bytearray())
    loaded = boot(m, fake_image(), None, APPEND, dtb=given)
    assert not loaded.acpi and m.phys.read(loaded.dtb, len(given)) == given
    assert m.boot_entry == (loaded.entry, loaded.dtb)
    with pytest.raises(BootError):
        boot(machine_factory(), fake_image(), None, APPEND, dtb=given, acpi=True)
    with pytest.raises(BootError):
        boot(machine_factory(), fake_image(), None, APPEND + " acpi=off", acpi=True)


def test_raw_kernel_boots_with_a_device_tree_unless_asked(machine_factory):
    raw = b"\x00\x00\x00\x14" * 16
    m = machine_factory()
    assert not boot(m, raw, None, APPEND).acpi
    m = machine_factory()
    assert boot(m, raw, None, APPEND, acpi=True).acpi


def test_ram_too_small_is_a_boot_error(machine_factory):
    # 16 MiB: the kernel ends at 2 + 12 MiB, the tables take the top 320 KiB
    m = machine_factory(memory=16 * MiB, smp=1, maxcpus=1)
    with pytest.raises(BootError, match="too small"):
        boot(m, fake_image(image_size=12 * MiB), bytes(2 * MiB), APPEND)
    m = machine_factory(memory=16 * MiB, smp=1, maxcpus=1)
    with pytest.raises(BootError, match="too small"):
        boot(m, fake_image(image_size=14 * MiB - 0x40000), None, APPEND)
    # the same initrd fits when placed right after the kernel instead of at RAM/2
    m = machine_factory(memory=16 * MiB, smp=1, maxcpus=1)
    loaded = boot(m, fake_image(image_size=8 * MiB), bytes(5 * MiB), APPEND)
    efi_base, _ = acpi_layout(16 * MiB)
    assert loaded.acpi and loaded.initrd[0] == RAM_BASE + 10 * MiB
    assert loaded.initrd[1] <= loaded.dtb and loaded.dtb < efi_base
