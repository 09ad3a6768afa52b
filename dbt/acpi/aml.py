"""AML, the ACPI Machine Language: node constructors named after the grammar of ACPI 6.5
chapter 20 ("ACPI Machine Language Specification"), each with `.encode() -> bytes`.

Nodes compose into trees; a TermArg or SuperName given as a plain `int` becomes an Integer,
a plain `str` a name reference (NameString), so `Store(Arg0, "\\_SB.PRES.CSEL")` reads like the
ASL `\\_SB.PRES.CSEL = Arg0`.  A string *value* is always spelled `String("...")`.

Integers take the shortest encoding, as iasl emits them (20.2.3): ZeroOp, OneOp, OnesOp (all
64 bits set; tables here are revision 2, 64-bit integers), else Byte/Word/DWord/QWordConst.
"""
from __future__ import annotations

import struct
from enum import IntEnum


class Node:
    def encode(self) -> bytes:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        return self.encode()


def encode(term) -> bytes:
    """A TermArg/SuperName/DataObject: a Node, an int (Integer) or a str (NameString)."""
    if isinstance(term, Node):
        return term.encode()
    if isinstance(term, bool):
        raise TypeError("use 0/1 or Zero/One, not a bool")
    if isinstance(term, int):
        return Integer(term).encode()
    if isinstance(term, str):
        return name_string(term)
    raise TypeError(f"not an AML term: {term!r}")


def term_list(terms) -> bytes:
    return b"".join(encode(t) for t in terms)


# -- 20.2.4 Package Length Encoding -----------------------------------------------------------
PKG_LENGTH_MAX = (1 << 28) - 1


def length_encoding(value: int) -> bytes:
    """The PkgLength byte layout for `value` itself: one byte up to 63; otherwise a lead byte
    holding the count of following bytes (bits 7-6) and the low nibble (bits 3-0), then the
    remaining bits 8 at a time.  FieldElements use this directly for their bit counts."""
    if not 0 <= value <= PKG_LENGTH_MAX:
        raise ValueError(f"PkgLength {value} out of range")
    if value < 0x40:
        return bytes([value])
    rest = value >> 4
    extra = 1 if rest < 0x100 else 2 if rest < 0x1_0000 else 3
    return bytes([(extra << 6) | (value & 0xF)]) + rest.to_bytes(extra, "little")


def pkg_length(body_len: int) -> bytes:
    """PkgLength of a package whose contents after the PkgLength are `body_len` bytes: the
    encoded length counts its own bytes too, so take the smallest size that holds the sum."""
    for extra in range(4):
        total = body_len + 1 + extra
        if total < (0x40 if extra == 0 else 1 << (4 + 8 * extra)):
            return length_encoding(total)
    raise ValueError(f"package body of {body_len} bytes is too long")


def package(opcode: bytes, body: bytes) -> bytes:
    return opcode + pkg_length(len(body)) + body


# -- 20.2.2 Name Objects Encoding ---------------------------------------------------------------
ROOT_CHAR, PARENT_PREFIX_CHAR = b"\\", b"^"
NULL_NAME, DUAL_NAME_PREFIX, MULTI_NAME_PREFIX = b"\x00", b"\x2e", b"\x2f"
_LEAD = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME = _LEAD | set("0123456789")


def name_seg(seg: str) -> bytes:
    """A NameSeg: a lead character, up to three more, padded to four with '_'."""
    if not 1 <= len(seg) <= 4 or seg[0] not in _LEAD or not set(seg) <= _NAME:
        raise ValueError(f"bad NameSeg {seg!r}")
    return seg.ljust(4, "_").encode()


def name_string(path: str) -> bytes:
    """NameString := RootChar NamePath | PrefixPath NamePath, where NamePath is NullName,
    one NameSeg, DualNamePrefix + 2 segs or MultiNamePrefix + count + segs."""
    prefix = b""
    if path.startswith("\\"):
        prefix, path = ROOT_CHAR, path[1:]
    else:
        while path.startswith("^"):
            prefix, path = prefix + PARENT_PREFIX_CHAR, path[1:]
    segs = [name_seg(s) for s in path.split(".")] if path else []
    if not segs:
        return prefix + NULL_NAME
    if len(segs) == 1:
        return prefix + segs[0]
    if len(segs) == 2:
        return prefix + DUAL_NAME_PREFIX + b"".join(segs)
    if len(segs) > 255:
        raise ValueError("too many NameSegs")
    return prefix + MULTI_NAME_PREFIX + bytes([len(segs)]) + b"".join(segs)


class NamePath(Node):
    """A reference to a named object (a NameString as a TermArg or SuperName)."""

    def __init__(self, path: str):
        self.path = path

    def encode(self) -> bytes:
        return name_string(self.path)


# -- 20.2.3 Data Objects Encoding ---------------------------------------------------------------
ZERO_OP, ONE_OP, ONES_OP = 0x00, 0x01, 0xFF
BYTE_PREFIX, WORD_PREFIX, DWORD_PREFIX, STRING_PREFIX, QWORD_PREFIX = 0x0A, 0x0B, 0x0C, 0x0D, 0x0E
ONES = (1 << 64) - 1


class Integer(Node):
    def __init__(self, value: int):
        if not 0 <= value <= ONES:
            raise ValueError(f"integer {value} does not fit 64 bits")
        self.value = value

    def encode(self) -> bytes:
        v = self.value
        if v == 0:
            return bytes([ZERO_OP])
        if v == 1:
            return bytes([ONE_OP])
        if v == ONES:
            return bytes([ONES_OP])
        for prefix, fmt in ((BYTE_PREFIX, "<B"), (WORD_PREFIX, "<H"), (DWORD_PREFIX, "<I")):
            if v < 1 << (8 * struct.calcsize(fmt)):
                return bytes([prefix]) + struct.pack(fmt, v)
        return bytes([QWORD_PREFIX]) + struct.pack("<Q", v)


Zero, One, Ones = Integer(0), Integer(1), Integer(ONES)


class DWordConst(Node):
    """A DWordConst whatever the value (EISAID uses this form)."""

    def __init__(self, value: int):
        self.value = value

    def encode(self) -> bytes:
        return bytes([DWORD_PREFIX]) + struct.pack("<I", self.value)


class String(Node):
    def __init__(self, text: str):
        if "\0" in text or not text.isascii():
            raise ValueError("AML strings are ASCII without NUL")
        self.text = text

    def encode(self) -> bytes:
        return bytes([STRING_PREFIX]) + self.text.encode() + b"\0"


def eisaid(pnp_id: str) -> int:
    """The compressed EISA id of e.g. "PNP0A06": three letters of 5 bits (A = 1) and four hex
    digits, big-endian, stored as a little-endian DWORD (ACPI 6.5, 6.1.5 _HID)."""
    if len(pnp_id) != 7 or not pnp_id[:3].isupper() or not pnp_id[:3].isalpha():
        raise ValueError(f"bad EISA id {pnp_id!r}")
    letters = 0
    for ch in pnp_id[:3]:
        letters = (letters << 5) | (ord(ch) - 0x40)
    value = (letters << 16) | int(pnp_id[3:], 16)
    return int.from_bytes(value.to_bytes(4, "big"), "little")


def EISAID(pnp_id: str) -> DWordConst:
    return DWordConst(eisaid(pnp_id))


BUFFER_OP, PACKAGE_OP = b"\x11", b"\x12"


class Buffer(Node):
    """DefBuffer := BufferOp PkgLength BufferSize ByteList."""

    def __init__(self, data: bytes):
        self.data = bytes(data)

    def encode(self) -> bytes:
        return package(BUFFER_OP, Integer(len(self.data)).encode() + self.data)


class Package(Node):
    """DefPackage := PackageOp PkgLength NumElements PackageElementList; `count` above
    len(elements) leaves the rest uninitialized."""

    def __init__(self, *elements, count: int | None = None):
        self.elements = elements
        self.count = len(elements) if count is None else count
        if not len(elements) <= self.count <= 255:
            raise ValueError("a Package holds at most 255 elements")

    def encode(self) -> bytes:
        return package(PACKAGE_OP, bytes([self.count]) + term_list(self.elements))


# -- 20.2.5 Term Objects Encoding: named objects -----------------------------------------------
EXT_OP_PREFIX = b"\x5b"
NAME_OP, SCOPE_OP, METHOD_OP = b"\x08", b"\x10", b"\x14"
MUTEX_OP, OP_REGION_OP, FIELD_OP, DEVICE_OP = (EXT_OP_PREFIX + bytes([op])
                                               for op in (0x01, 0x80, 0x81, 0x82))


class DefName(Node):
    def __init__(self, name: str, value):
        self.name, self.value = name, value

    def encode(self) -> bytes:
        return NAME_OP + name_string(self.name) + encode(self.value)


class DefScope(Node):
    def __init__(self, name: str, *terms):
        self.name, self.terms = name, list(terms)

    def encode(self) -> bytes:
        return package(SCOPE_OP, name_string(self.name) + term_list(self.terms))


class DefDevice(Node):
    def __init__(self, name: str, *terms):
        self.name, self.terms = name, list(terms)

    def encode(self) -> bytes:
        return package(DEVICE_OP, name_string(self.name) + term_list(self.terms))


class DefMethod(Node):
    """MethodFlags: bits 0-2 ArgCount, bit 3 SerializeFlag, bits 4-7 SyncLevel."""

    def __init__(self, name: str, args: int, *terms, serialized: bool = False,
                 sync_level: int = 0):
        if not 0 <= args <= 7 or not 0 <= sync_level <= 15:
            raise ValueError("bad method flags")
        self.name, self.args, self.terms = name, args, list(terms)
        self.flags = args | (int(serialized) << 3) | (sync_level << 4)

    def encode(self) -> bytes:
        return package(METHOD_OP,
                       name_string(self.name) + bytes([self.flags]) + term_list(self.terms))


class DefMutex(Node):
    def __init__(self, name: str, sync_level: int = 0):
        self.name, self.sync_level = name, sync_level

    def encode(self) -> bytes:
        return MUTEX_OP + name_string(self.name) + bytes([self.sync_level])


class RegionSpace(IntEnum):
    SystemMemory = 0
    SystemIO = 1


class DefOpRegion(Node):
    def __init__(self, name: str, space: RegionSpace, offset, length):
        self.name, self.space, self.offset, self.length = name, space, offset, length

    def encode(self) -> bytes:
        return (OP_REGION_OP + name_string(self.name) + bytes([self.space])
                + encode(self.offset) + encode(self.length))


class AccessType(IntEnum):
    AnyAcc = 0
    ByteAcc = 1
    WordAcc = 2
    DWordAcc = 3
    QWordAcc = 4
    BufferAcc = 5


class LockRule(IntEnum):
    NoLock = 0
    Lock = 1


class UpdateRule(IntEnum):
    Preserve = 0
    WriteAsOnes = 1
    WriteAsZeros = 2


class DefField(Node):
    """DefField := FieldOp PkgLength NameString FieldFlags FieldList.  `fields` are
    (name, bits) pairs; a name of None is a ReservedField (a gap of `bits`)."""

    def __init__(self, region: str, access: AccessType, lock: LockRule, update: UpdateRule,
                 fields: list[tuple[str | None, int]]):
        self.region, self.fields = region, fields
        self.flags = access | (lock << 4) | (update << 5)

    def encode(self) -> bytes:
        body = name_string(self.region) + bytes([self.flags])
        for name, bits in self.fields:
            body += (b"\x00" if name is None else name_seg(name)) + length_encoding(bits)
        return package(FIELD_OP, body)


# -- 20.2.5 Term Objects Encoding: statements and expressions ---------------------------------
class _Op(Node):
    """An opcode followed by ARITY operands (TermArgs, SuperNames or raw bytes)."""
    OPCODE, ARITY = b"", 0

    def __init__(self, *operands):
        if len(operands) != self.ARITY:
            raise TypeError(f"{type(self).__name__} takes {self.ARITY} operands")
        self.operands = operands

    def encode(self) -> bytes:
        return self.OPCODE + b"".join(
            o if isinstance(o, bytes) else encode(o) for o in self.operands)


class _Target(_Op):
    """The last operand is a Target: NullName when left out or None (result not stored)."""

    def __init__(self, *operands):
        if len(operands) == self.ARITY - 1:
            operands += (None,)
        *sources, target = operands
        super().__init__(*sources, NULL_NAME if target is None else target)


def _opcodes(base: type, arity: int, table: list[tuple[str, int]]) -> list[type]:
    return [type(name, (base,), {"OPCODE": bytes([op]), "ARITY": arity, "__module__": __name__,
                                 "__qualname__": name}) for name, op in table]


class Store(_Op):
    """DefStore := StoreOp TermArg SuperName (ASL: dst = src)."""
    OPCODE, ARITY = b"\x70", 2


# 20.2.5.3 Type 1 and 20.2.5.4 Type 2 Opcodes with fixed operands, in the spec's names;
# Index and the arithmetic ones take an optional last Target operand.
Add, Subtract, ShiftLeft, ShiftRight, And, Or = _opcodes(_Target, 3, [
    ("Add", 0x72), ("Subtract", 0x74), ("ShiftLeft", 0x79), ("ShiftRight", 0x7A),
    ("And", 0x7B), ("Or", 0x7D)])
(Index,) = _opcodes(_Target, 3, [("Index", 0x88)])
LAnd, LOr, LEqual, LGreater, LLess, Notify = _opcodes(_Op, 2, [
    ("LAnd", 0x90), ("LOr", 0x91), ("LEqual", 0x93), ("LGreater", 0x94), ("LLess", 0x95),
    ("Notify", 0x86)])
LNot, Increment, Decrement, DerefOf, SizeOf, Return = _opcodes(_Op, 1, [
    ("LNot", 0x92), ("Increment", 0x75), ("Decrement", 0x76), ("DerefOf", 0x83),
    ("SizeOf", 0x87), ("Return", 0xA4)])
(Break,) = _opcodes(_Op, 0, [("Break", 0xA5)])


class Acquire(_Op):
    """DefAcquire := AcquireOp MutexObject Timeout (WordData; 0xFFFF waits forever)."""
    OPCODE, ARITY = EXT_OP_PREFIX + b"\x23", 2

    def __init__(self, mutex, timeout: int = 0xFFFF):
        super().__init__(mutex, struct.pack("<H", timeout))


class Release(_Op):
    OPCODE, ARITY = EXT_OP_PREFIX + b"\x27", 1


class Call(Node):
    """A MethodInvocation: the method's NameString followed by its arguments."""

    def __init__(self, method: str, *args):
        self.method, self.args = method, args

    def encode(self) -> bytes:
        return name_string(self.method) + term_list(self.args)


class DefIfElse(Node):
    """DefIfElse := IfOp PkgLength Predicate TermList DefElse;
    DefElse := Nothing | ElseOp PkgLength TermList."""

    def __init__(self, predicate, then: list, otherwise: list | None = None):
        self.predicate, self.then, self.otherwise = predicate, then, otherwise

    def encode(self) -> bytes:
        out = package(b"\xa0", encode(self.predicate) + term_list(self.then))
        if self.otherwise is not None:
            out += package(b"\xa1", term_list(self.otherwise))
        return out


class DefWhile(Node):
    def __init__(self, predicate, *terms):
        self.predicate, self.terms = predicate, terms

    def encode(self) -> bytes:
        return package(b"\xa2", encode(self.predicate) + term_list(self.terms))


class _Register(Node):
    def __init__(self, opcode: int):
        self.opcode = opcode

    def encode(self) -> bytes:
        return bytes([self.opcode])


def Local(n: int) -> _Register:
    if not 0 <= n <= 7:
        raise ValueError("Local0-Local7")
    return _Register(0x60 + n)


def Arg(n: int) -> _Register:
    if not 0 <= n <= 6:
        raise ValueError("Arg0-Arg6")
    return _Register(0x68 + n)


Local0, Local1, Local2, Local3, Local4, Local5, Local6, Local7 = (Local(n) for n in range(8))
Arg0, Arg1, Arg2, Arg3, Arg4, Arg5, Arg6 = (Arg(n) for n in range(7))


# -- 6.4 Resource Data Types --------------------------------------------------------------------
class Memory32Fixed(Node):
    """6.4.3.4 32-Bit Fixed Memory Range Descriptor (large item 0x86, 9 bytes of data)."""

    def __init__(self, base: int, length: int, writeable: bool = True):
        self.base, self.length, self.writeable = base, length, writeable

    def encode(self) -> bytes:
        return struct.pack("<BHBII", 0x86, 9, int(self.writeable), self.base, self.length)


class Interrupt(Node):
    """6.4.3.6 Extended Interrupt Descriptor (large item 0x89).  Flags: bit 0 consumer,
    bit 1 edge (else level), bit 2 active-low (else high), bit 3 shared (else exclusive)."""

    def __init__(self, *gsivs: int, consumer: bool = True, edge: bool = False,
                 active_low: bool = False, shared: bool = False):
        if not 1 <= len(gsivs) <= 255:
            raise ValueError("1 to 255 interrupts")
        self.gsivs = gsivs
        self.flags = int(consumer) | edge << 1 | active_low << 2 | shared << 3

    def encode(self) -> bytes:
        n = len(self.gsivs)
        return (struct.pack("<BHBB", 0x89, 2 + 4 * n, self.flags, n)
                + struct.pack(f"<{n}I", *self.gsivs))


class EndTag(Node):
    """6.4.2.9 End Tag (small item 0x79); a checksum of 0 means "treat as correct"."""

    def encode(self) -> bytes:
        return b"\x79\x00"


def ResourceTemplate(*descriptors: Node) -> Buffer:
    """A Buffer holding the descriptors and the End Tag, as ASL's ResourceTemplate()."""
    return Buffer(b"".join(d.encode() for d in (*descriptors, EndTag())))
