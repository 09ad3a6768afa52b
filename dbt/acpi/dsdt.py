"""The DSDT: the PL011, QEMU's "modern" CPU-hotplug AML (hw/acpi/cpu.c build_cpus_aml, the
SystemMemory variant rooted at \\_SB; reference/HOTPLUG_PROTOCOL.md section 1.5), the Generic
Event Device that delivers hotplug and power-button events, and the power button.

Register layout and names are QEMU's: the guest runs this AML against dbt/machine/cpuhp.py.
"""
from __future__ import annotations

from ..machine.memmap import MEMMAP
from .aml import (EISAID, AccessType, Acquire, And, Arg0, Arg1, Arg2, Break, Buffer, Call,
                  DefDevice, DefField, DefIfElse, DefMethod, DefMutex, DefName, DefOpRegion,
                  DefScope, DefWhile, DerefOf, Increment, Index, Interrupt, LAnd, LEqual, LLess,
                  Local0, Local1, Local2, Local3, Local4, Local5, LockRule, Memory32Fixed,
                  Notify, One, Package, RegionSpace, Release, ResourceTemplate, Return, Store,
                  String, UpdateRule, Zero)
from .tables import GICC_ENABLED, gicc, sdt

DSDT_REVISION = 2                   # 64-bit AML integers

# GED event bits in ESEL (QEMU include/hw/acpi/generic_event_device.h); the device model
# raises the same numbers.
GED_EVT_PWR_DOWN = 0x2
GED_EVT_CPU_HOTPLUG = 0x8
GED_EVENTS = GED_EVT_PWR_DOWN | GED_EVT_CPU_HOTPLUG

# CPU hotplug register block (HOTPLUG_PROTOCOL.md 1.2)
CPUHP_FLAGS_OFFSET = 4
CMD_GET_NEXT_CPU_WITH_EVENT, CMD_OST_EVENT, CMD_OST_STATUS = 0, 1, 2
NOTIFY_DEVICE_CHECK, NOTIFY_EJECT_REQUEST = 1, 3
STA_ENABLED, STA_NOT_ENABLED = 0xF, 0xD     # present + shown + functioning (+ enabled)
MAX_CPUS_PER_PASS = 255                     # the most a (ACPI 1.0) Package holds

PRES = "\\_SB.PRES"
CPLK, CSEL, CCMD, CDAT = (f"{PRES}.{n}" for n in ("CPLK", "CSEL", "CCMD", "CDAT"))
CPEN, CINS, CRMV, CEJ0 = (f"{PRES}.{n}" for n in ("CPEN", "CINS", "CRMV", "CEJ0"))


def cpu_device_name(index: int) -> str:
    return f"C{index:03X}"


def com0() -> DefDevice:
    uart = MEMMAP["uart"]
    return DefDevice(
        "COM0",
        DefName("_HID", String("ARMH0011")),
        DefName("_UID", Zero),
        DefName("_CRS", ResourceTemplate(Memory32Fixed(uart.base, uart.size),
                                         Interrupt(uart.intid))))


def pres() -> DefDevice:
    """The register block: Mutex CPLK, one byte-wide field for the flags and the command
    (WriteAsZeros, so writing one flag bit never sets another) and one dword-wide field for
    selector and data."""
    base, size = MEMMAP["cpuhp"].base, MEMMAP["cpuhp"].size
    return DefDevice(
        "PRES",
        DefName("_HID", EISAID("PNP0A06")),
        DefName("_UID", String("CPU Hotplug resources")),
        DefMutex("CPLK", 0),
        DefName("_CRS", ResourceTemplate(Memory32Fixed(base, size))),
        DefOpRegion("PRST", RegionSpace.SystemMemory, base, size),
        DefField("PRST", AccessType.ByteAcc, LockRule.NoLock, UpdateRule.WriteAsZeros, [
            (None, CPUHP_FLAGS_OFFSET * 8),
            ("CPEN", 1), ("CINS", 1), ("CRMV", 1), ("CEJ0", 1), ("CEJF", 1), (None, 3),
            ("CCMD", 8)]),
        DefField("PRST", AccessType.DWordAcc, LockRule.NoLock, UpdateRule.Preserve, [
            ("CSEL", 32), (None, 32), ("CDAT", 32)]))


def _locked(*terms) -> list:
    return [Acquire(CPLK, 0xFFFF), *terms, Release(CPLK)]


def ctfy(possible: int) -> DefMethod:
    """CTFY(uid, event): Notify the Cxxx device whose _UID is uid."""
    return DefMethod("CTFY", 2, *(
        DefIfElse(LEqual(Arg0, i), [Notify(cpu_device_name(i), Arg1)])
        for i in range(possible)))


def csta() -> DefMethod:
    """CSTA(uid): 0xF when plugged, else 0xD: on arm every possible CPU stays present and
    only Enabled toggles (HOTPLUG_PROTOCOL.md 2.3)."""
    return DefMethod("CSTA", 1, *_locked(
        Store(Arg0, CSEL),
        Store(STA_NOT_ENABLED, Local0),
        DefIfElse(LEqual(CPEN, One), [Store(STA_ENABLED, Local0)])),
        Return(Local0), serialized=True)


def cej0() -> DefMethod:
    return DefMethod("CEJ0", 1, *_locked(Store(Arg0, CSEL), Store(One, CEJ0)), serialized=True)


def cost() -> DefMethod:
    """COST(uid, event, status): _OST reported through commands 1 and 2.  (QEMU's COST also
    takes _OST's status-information buffer, unused; leaving it out keeps iasl quiet.)"""
    return DefMethod("COST", 3, *_locked(
        Store(Arg0, CSEL),
        Store(CMD_OST_EVENT, CCMD), Store(Arg1, CDAT),
        Store(CMD_OST_STATUS, CCMD), Store(Arg2, CDAT)), serialized=True)


def cscn(possible: int) -> DefMethod:
    """CSCN(): the batched scan.  Collect up to 255 CPUs with an insert event (CNEW) and up
    to 255 with a remove event (CEJL) by walking "next CPU with event" from uid upwards
    (events stay latched while scanning, so a selector below uid means it wrapped: done);
    then Notify device-check / eject-request and clear each event.  Rescan while a batch
    stopped on a full list.  Locals: 0 found-an-event, 1 len(CNEW), 2 list index,
    3 uid, 4 another-batch, 5 len(CEJL).  CNEW and CEJL are Packages of the CPUS device
    (QEMU declares them inside the method; iasl remarks on that, and CSCN is serialized
    and holds CPLK anyway)."""
    has_event, n_new, i, uid, has_job, n_eject = Local0, Local1, Local2, Local3, Local4, Local5
    full = MAX_CPUS_PER_PASS

    def notify_all(pkg: str, count, event: int, flag: str) -> list:
        return [Store(Zero, i),
                DefWhile(LLess(i, count),
                         Store(DerefOf(Index(pkg, i)), uid),
                         Call("CTFY", uid, event),
                         Store(uid, CSEL),
                         Store(One, flag),                 # writing 1 clears the event
                         Increment(i))]

    scan = DefWhile(
        LAnd(LEqual(has_event, One), LLess(uid, possible)),
        Store(Zero, has_event),
        Store(uid, CSEL),
        Store(CMD_GET_NEXT_CPU_WITH_EVENT, CCMD),
        DefIfElse(LLess(CDAT, uid), [Break()]),
        DefIfElse(LEqual(n_new, full), [Store(One, has_job), Break()]),
        DefIfElse(LEqual(n_eject, full), [Store(One, has_job), Break()]),
        Store(CDAT, uid),
        DefIfElse(LEqual(CINS, One), [
            Store(uid, Index("CNEW", n_new)), Increment(n_new), Store(One, has_event)]),
        DefIfElse(LEqual(CRMV, One), [
            Store(uid, Index("CEJL", n_eject)), Increment(n_eject), Store(One, has_event)]),
        Increment(uid))
    batch = DefWhile(
        LEqual(has_job, One),
        Store(Zero, has_job),
        Store(One, has_event),
        Store(Zero, n_new),
        Store(Zero, n_eject),
        scan,
        # the notify loops reuse Local3; restarting a batch from any CPU at or below the
        # point the scan stopped is safe because the events just handled are cleared
        *notify_all("CNEW", n_new, NOTIFY_DEVICE_CHECK, CINS),
        *notify_all("CEJL", n_eject, NOTIFY_EJECT_REQUEST, CRMV))
    return DefMethod("CSCN", 0, *_locked(Store(Zero, uid), Store(One, has_job), batch),
                     serialized=True)


def processor(index: int) -> DefDevice:
    """Cxxx: _UID = MADT GICC ACPI Processor UID; _MAT = this CPU's GICC with Enabled set,
    the flag Linux's map_gicc_mpidr() accepts (it takes Enabled or Online-Capable) when it
    maps a hot-added CPU through _MAT.  The boot CPU has no _EJ0."""
    terms = [
        DefName("_HID", String("ACPI0007")),
        DefName("_UID", index),
        DefMethod("_STA", 0, Return(Call("CSTA", index)), serialized=True),
        DefName("_MAT", Buffer(gicc(index, GICC_ENABLED))),
    ]
    if index != 0:
        terms.append(DefMethod("_EJ0", 1, Call("CEJ0", index)))
    terms.append(DefMethod("_OST", 3, Call("COST", index, Arg0, Arg1), serialized=True))
    return DefDevice(cpu_device_name(index), *terms)


def cpus(possible: int) -> DefDevice:
    return DefDevice(
        "CPUS",
        DefName("_HID", String("ACPI0010")),
        DefName("_CID", EISAID("PNP0A05")),
        DefName("CNEW", Package(count=MAX_CPUS_PER_PASS)),
        DefName("CEJL", Package(count=MAX_CPUS_PER_PASS)),
        ctfy(possible), csta(), cej0(), cscn(possible), cost(),
        *(processor(i) for i in range(possible)))


def ged() -> DefDevice:
    """ACPI0013: ESEL is read-to-clear on the device side; _EVT tests each event bit.  The
    CPU-hotplug bit calls \\_SB.CPUS.CSCN directly (QEMU goes through a \\_SB.GED.CSCN
    wrapper that only makes this same call)."""
    ged = MEMMAP["ged"]

    def on(bit: int, *terms) -> DefIfElse:
        return DefIfElse(LEqual(And(Local0, bit), bit), list(terms))

    return DefDevice(
        "GED",
        DefName("_HID", String("ACPI0013")),
        DefName("_UID", String("GED")),
        DefName("_CRS", ResourceTemplate(Interrupt(ged.intid, edge=True))),
        DefOpRegion("EREG", RegionSpace.SystemMemory, ged.base, ged.size),
        DefField("EREG", AccessType.DWordAcc, LockRule.NoLock, UpdateRule.WriteAsZeros,
                 [("ESEL", 32)]),
        DefMethod("_EVT", 1,
                  Store("ESEL", Local0),
                  on(GED_EVT_PWR_DOWN, Notify("\\_SB.PWRB", 0x80)),
                  on(GED_EVT_CPU_HOTPLUG, Call("\\_SB.CPUS.CSCN")),
                  serialized=True))


def pwrb() -> DefDevice:
    return DefDevice("PWRB", DefName("_HID", String("PNP0C0C")), DefName("_UID", Zero))


def dsdt(possible: int) -> bytes:
    scope = DefScope("\\_SB", com0(), pres(), cpus(possible), ged(), pwrb())
    return sdt(b"DSDT", DSDT_REVISION, scope.encode())
