"""What the EFI stub would have left behind: the hand-off for an ACPI boot without firmware.

Linux arm64 boots the ACPI way only through EFI: it finds the RSDP in the EFI configuration
table and maps ACPI memory by looking it up in the EFI memory map (arch/arm64/kernel/acpi.c,
acpi_os_ioremap).  No firmware runs here; the loader writes, for guest physical placement,

- an EFI system table (UEFI 2.10 section 4.3): header signature "IBI SYST", revision 2.70,
  header size 120, CRC32 of the header; firmware vendor "dbt-vm"; no console, no boot or
  runtime services (NULL);
- its configuration table (section 4.6): ACPI 2.0 -> the RSDP;
  LINUX_EFI_MEMRESERVE -> a zeroed linux_efi_memreserve record (the root of the list that
  efi_mem_reserve_persistent() extends, e.g. for the GICv3 ITS tables); and the EFI RT
  properties table with no runtime service supported (what U-Boot and EDK2 write when there are
  none), so the kernel never calls through the NULL runtime services pointer even without
  `efi=noruntime`;
- an EFI memory map (section 7.2, GetMemoryMap; descriptor version 1, size 48) covering RAM
  exactly once, sorted, page aligned, attributes UC|WC|WT|WB:
    conventional memory (7)  RAM Linux may use (kernel, initrd and DTB included: Linux
                             memblock-reserves those itself, as it does after a stub boot,
                             where they sit in loader data, also a usable type);
    runtime services data (6) the page(s) holding these structures.  Not usable, so Linux
                             (drivers/firmware/efi/efi-init.c, reserve_regions) keeps it out of
                             the linear map (MEMBLOCK_NOMAP) and never allocates it; memremap()
                             of the memreserve root then maps it as normal cacheable memory.
                             It is where firmware keeps its system table.  No EFI_MEMORY_RUNTIME
                             attribute: there is nothing for a runtime virtual map to cover;
    ACPI reclaim memory (9)  the ACPI tables: usable, but memblock-reserved by
                             reserve_regions, so they stay in the linear map and
                             acpi_os_ioremap() hands out that mapping.  One descriptor covers
                             all tables (acpi_os_ioremap refuses a table spanning two).
- the /chosen properties pointing at them (drivers/firmware/efi/fdtparams.c), in a device tree
  that holds only what the stub leaves: /chosen and the memory node.

`efi_init()` reads the system table once (uefi_init), keeps the memory map (memblock-reserved)
and the memreserve root (memremap'd, written at run time).
"""
from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field

import libfdt

from . import fdt
from .memmap import RAM_BASE

# -- UEFI constants (UEFI 2.10) ---------------------------------------------------------------
EFI_SYSTEM_TABLE_SIGNATURE = 0x5453595320494249         # "IBI SYST"
EFI_2_70_SYSTEM_TABLE_REVISION = (2 << 16) | 70
EFI_SYSTEM_TABLE_SIZE = 120                             # 64-bit EFI_SYSTEM_TABLE
EFI_PAGE_SIZE = 4096

EFI_RESERVED_TYPE = 0
EFI_LOADER_CODE = 1
EFI_LOADER_DATA = 2
EFI_BOOT_SERVICES_CODE = 3
EFI_BOOT_SERVICES_DATA = 4
EFI_RUNTIME_SERVICES_CODE = 5
EFI_RUNTIME_SERVICES_DATA = 6
EFI_CONVENTIONAL_MEMORY = 7
EFI_UNUSABLE_MEMORY = 8
EFI_ACPI_RECLAIM_MEMORY = 9
EFI_ACPI_MEMORY_NVS = 10

EFI_MEMORY_UC = 0x1
EFI_MEMORY_WC = 0x2
EFI_MEMORY_WT = 0x4
EFI_MEMORY_WB = 0x8
EFI_MEMORY_RUNTIME = 1 << 63
MEMORY_ATTRIBUTES = EFI_MEMORY_UC | EFI_MEMORY_WC | EFI_MEMORY_WT | EFI_MEMORY_WB

EFI_MEMORY_DESCRIPTOR_VERSION = 1
# Type, pad, PhysicalStart, VirtualStart, NumberOfPages, Attribute: 40 bytes; firmware (EDK2)
# reports 48 and Linux steps by the reported size, so 48 it is, as the task and QEMU+EDK2 do.
EFI_MEMORY_DESCRIPTOR = struct.Struct("<IIQQQQ")
DESC_SIZE = 48

ACPI_20_TABLE_GUID = uuid.UUID("8868e871-e4f1-11d3-bc22-0080c73c8881")
LINUX_EFI_MEMRESERVE_TABLE_GUID = uuid.UUID("888eb0c6-8ede-4ff5-a8f0-9aee5cb977c2")
EFI_RT_PROPERTIES_TABLE_GUID = uuid.UUID("eb66918a-7eef-402a-842e-931d21c38ae9")
EFI_RT_PROPERTIES_TABLE_VERSION = 1

FIRMWARE_VENDOR = "dbt-vm"
FIRMWARE_REVISION = 1

# EFI_TABLE_HEADER (Signature, Revision, HeaderSize, CRC32, Reserved), then FirmwareVendor,
# FirmwareRevision (+4 bytes padding), ConsoleInHandle, ConIn, ConsoleOutHandle, ConOut,
# StandardErrorHandle, StdErr, RuntimeServices, BootServices, NumberOfTableEntries,
# ConfigurationTable.
SYSTEM_TABLE = struct.Struct("<QIIII" "QI4x" "QQQQQQ" "QQ" "QQ")
assert SYSTEM_TABLE.size == EFI_SYSTEM_TABLE_SIZE
CONFIG_TABLE_ENTRY = struct.Struct("<16sQ")             # EFI_GUID (mixed endian), VendorTable
RT_PROPERTIES = struct.Struct("<HHI")                   # Version, Length, RuntimeServicesSupported
MEMRESERVE_SIZE = 16                                    # linux_efi_memreserve: size, count, next

# The region the loader gives these structures: 64 KiB, so the boundaries stay page aligned for a
# kernel built with 16K or 64K pages too (Linux rounds EFI regions to its own page size).
REGION_SIZE = 0x10000

# offsets inside the region
_SYSTAB_AT = 0x000
_VENDOR_AT = 0x080
_CONFIG_AT = 0x100
_RT_PROP_AT = 0x180
_MEMRESERVE_AT = 0x1C0
_MEMMAP_AT = 0x200


class EfiError(ValueError):
    pass


@dataclass
class MemoryDescriptor:
    type: int
    start: int
    pages: int
    attribute: int = MEMORY_ATTRIBUTES

    @property
    def end(self) -> int:
        return self.start + self.pages * EFI_PAGE_SIZE


@dataclass
class EfiImage:
    data: bytes                   # to be copied to guest physical `base`
    base: int
    system_table: int             # physical addresses inside data
    config_table: int
    memreserve: int
    memmap: int
    memmap_size: int
    descriptors: list[MemoryDescriptor] = field(default_factory=list)
    config: dict[uuid.UUID, int] = field(default_factory=dict)   # GUID -> table address

    def uefi_properties(self) -> dict:
        """The values of fdt.UEFI_PROPERTIES (the /chosen linux,uefi-* properties)."""
        return {"system_table": self.system_table, "mmap_start": self.memmap,
                "mmap_size": self.memmap_size, "mmap_desc_size": DESC_SIZE,
                "mmap_desc_ver": EFI_MEMORY_DESCRIPTOR_VERSION}


def table_crc32(header_and_body: bytes, header_size: int) -> int:
    """UEFI 4.2: the CRC32 of HeaderSize bytes with the CRC32 field (offset 16) taken as 0."""
    table = bytearray(header_and_body[:header_size])
    table[16:20] = bytes(4)
    return zlib.crc32(table) & 0xFFFF_FFFF


def memory_map(ram_base: int, ram_size: int, efi_range: tuple[int, int],
               acpi_range: tuple[int, int]) -> list[MemoryDescriptor]:
    """Descriptors covering [ram_base, ram_base + ram_size) once: the two ranges typed runtime
    services data and ACPI reclaim, everything else conventional memory."""
    ram_end = ram_base + ram_size
    typed = sorted([(efi_range, EFI_RUNTIME_SERVICES_DATA),
                    (acpi_range, EFI_ACPI_RECLAIM_MEMORY)])
    out, cursor = [], ram_base
    for (start, end), kind in typed:
        if start % EFI_PAGE_SIZE or end % EFI_PAGE_SIZE:
            raise EfiError(f"EFI memory range {start:#x}-{end:#x} is not page aligned")
        if not ram_base <= start < end <= ram_end or start < cursor:
            raise EfiError(f"EFI memory range {start:#x}-{end:#x} overlaps another or lies "
                           f"outside RAM {ram_base:#x}-{ram_end:#x}")
        if start > cursor:
            out.append(MemoryDescriptor(EFI_CONVENTIONAL_MEMORY, cursor,
                                        (start - cursor) // EFI_PAGE_SIZE))
        out.append(MemoryDescriptor(kind, start, (end - start) // EFI_PAGE_SIZE))
        cursor = end
    if cursor < ram_end:
        if ram_end % EFI_PAGE_SIZE:
            raise EfiError(f"RAM end {ram_end:#x} is not page aligned")
        out.append(MemoryDescriptor(EFI_CONVENTIONAL_MEMORY, cursor,
                                    (ram_end - cursor) // EFI_PAGE_SIZE))
    return out


def build_efi(base: int, ram_size: int, rsdp: int, acpi_range: tuple[int, int],
              ram_base: int = RAM_BASE, vendor: str = FIRMWARE_VENDOR) -> EfiImage:
    """The system table, configuration table, memreserve record and memory map, placed at
    guest physical `base` (REGION_SIZE bytes, page aligned, inside RAM, not overlapping
    acpi_range, the [start, end) of the ACPI tables holding `rsdp`)."""
    if base % EFI_PAGE_SIZE:
        raise EfiError(f"EFI tables base {base:#x} is not page aligned")
    if not acpi_range[0] <= rsdp < acpi_range[1]:
        raise EfiError(f"RSDP {rsdp:#x} is not inside the ACPI range")
    descriptors = memory_map(ram_base, ram_size, (base, base + REGION_SIZE), acpi_range)
    data = bytearray(REGION_SIZE)

    name = (vendor + "\0").encode("utf-16-le")
    if _VENDOR_AT + len(name) > _CONFIG_AT:
        raise EfiError(f"firmware vendor name {vendor!r} is too long")
    data[_VENDOR_AT:_VENDOR_AT + len(name)] = name

    # the memreserve record (int size, atomic count, u64 next) stays zero: an empty list root
    RT_PROPERTIES.pack_into(data, _RT_PROP_AT, EFI_RT_PROPERTIES_TABLE_VERSION,
                            RT_PROPERTIES.size, 0)                  # no runtime services
    config = {ACPI_20_TABLE_GUID: rsdp,
              LINUX_EFI_MEMRESERVE_TABLE_GUID: base + _MEMRESERVE_AT,
              EFI_RT_PROPERTIES_TABLE_GUID: base + _RT_PROP_AT}
    for i, (guid, address) in enumerate(config.items()):
        CONFIG_TABLE_ENTRY.pack_into(data, _CONFIG_AT + i * CONFIG_TABLE_ENTRY.size,
                                     guid.bytes_le, address)
    if _CONFIG_AT + len(config) * CONFIG_TABLE_ENTRY.size > _RT_PROP_AT:
        raise EfiError("configuration table overflows its slot")

    memmap_size = len(descriptors) * DESC_SIZE
    if _MEMMAP_AT + memmap_size > REGION_SIZE:
        raise EfiError("EFI memory map does not fit its region")
    for i, d in enumerate(descriptors):
        EFI_MEMORY_DESCRIPTOR.pack_into(data, _MEMMAP_AT + i * DESC_SIZE, d.type, 0, d.start,
                                        0, d.pages, d.attribute)

    SYSTEM_TABLE.pack_into(
        data, _SYSTAB_AT, EFI_SYSTEM_TABLE_SIGNATURE, EFI_2_70_SYSTEM_TABLE_REVISION,
        EFI_SYSTEM_TABLE_SIZE, 0, 0,
        base + _VENDOR_AT, FIRMWARE_REVISION,
        0, 0, 0, 0, 0, 0,                   # console in/out/err handles and protocols
        0, 0,                               # RuntimeServices, BootServices
        len(config), base + _CONFIG_AT)
    crc = table_crc32(data[_SYSTAB_AT:], EFI_SYSTEM_TABLE_SIZE)
    struct.pack_into("<I", data, _SYSTAB_AT + 16, crc)

    return EfiImage(bytes(data), base, base + _SYSTAB_AT, base + _CONFIG_AT,
                    base + _MEMRESERVE_AT, base + _MEMMAP_AT, memmap_size, descriptors, config)


# -- reading them back (tests, debugging) ----------------------------------------------------
@dataclass
class SystemTable:
    signature: int
    revision: int
    header_size: int
    crc32: int
    firmware_vendor: int
    firmware_revision: int
    console: tuple[int, ...]
    runtime_services: int
    boot_services: int
    nr_tables: int
    tables: int


def parse_system_table(blob: bytes) -> SystemTable:
    f = SYSTEM_TABLE.unpack_from(blob)
    return SystemTable(f[0], f[1], f[2], f[3], f[5], f[6], tuple(f[7:13]), f[13], f[14],
                       f[15], f[16])


def parse_config_table(blob: bytes, count: int) -> dict[uuid.UUID, int]:
    out = {}
    for i in range(count):
        guid, address = CONFIG_TABLE_ENTRY.unpack_from(blob, i * CONFIG_TABLE_ENTRY.size)
        out[uuid.UUID(bytes_le=guid)] = address
    return out


def parse_memory_map(blob: bytes, desc_size: int = DESC_SIZE) -> list[MemoryDescriptor]:
    out = []
    for at in range(0, len(blob) - desc_size + 1, desc_size):
        kind, _, start, _, pages, attr = EFI_MEMORY_DESCRIPTOR.unpack_from(blob, at)
        out.append(MemoryDescriptor(kind, start, pages, attr))
    return out


def read_ucs2(blob: bytes) -> str:
    end = 0
    while end + 1 < len(blob) and blob[end:end + 2] != b"\0\0":
        end += 2
    return blob[:end].decode("utf-16-le")


# -- the device tree the stub leaves ----------------------------------------------------------
def stub_dtb(memory_size: int, bootargs: str, initrd: tuple[int, int] | None,
             uefi: dict, stdout_path: str | None = None) -> bytes:
    """A device tree with only /chosen (bootargs, initrd, the linux,uefi-* properties --
    fdt.UEFI_DEFAULTS fill in the descriptor version and secure-boot mode -- and stdout-path
    only if given: this tree has no UART node for it to name) and the memory node (Linux
    replaces it with the EFI memory map).  Everything else the kernel learns from ACPI."""
    values = {**fdt.UEFI_DEFAULTS, **uefi}
    missing = [k for k in fdt.UEFI_PROPERTIES if k not in values]
    if missing or set(values) - set(fdt.UEFI_PROPERTIES):
        raise EfiError(f"stub_dtb: uefi properties {sorted(values)} do not match "
                       f"{sorted(fdt.UEFI_PROPERTIES)}")
    size = 4096
    while True:
        try:
            return _stub_dtb(size, memory_size, bootargs, initrd, values, stdout_path)
        except libfdt.FdtException as e:
            if e.err != -libfdt.NOSPACE:
                raise
            size *= 2


def _stub_dtb(size, memory_size, bootargs, initrd, values, stdout_path) -> bytes:
    sw = libfdt.FdtSw(size)
    sw.finish_reservemap()
    sw.begin_node("")
    sw.property_u32("#size-cells", 2)
    sw.property_u32("#address-cells", 2)
    sw.begin_node(f"memory@{RAM_BASE:x}")
    sw.property_string("device_type", "memory")
    sw.property("reg", struct.pack(">QQ", RAM_BASE, memory_size))
    sw.end_node()
    sw.begin_node("chosen")
    if bootargs:
        sw.property_string("bootargs", bootargs)
    if stdout_path:
        sw.property_string("stdout-path", stdout_path)
    if initrd is not None:
        for name, addr in (("linux,initrd-start", initrd[0]), ("linux,initrd-end", initrd[1])):
            sw.property_u64(name, addr)
    for key, (prop, ncells) in fdt.UEFI_PROPERTIES.items():
        if ncells == 2:
            sw.property_u64(prop, values[key])
        else:
            sw.property_u32(prop, values[key])
    sw.end_node()
    sw.end_node()
    tree = sw.as_fdt()
    tree.pack()
    return bytes(tree.as_bytearray())
