"""Loads and stores: single register, pair, literal, exclusive and acquire/release."""
from ..bits import sign_extend
from ...cpu.state import OFFSET
from ...jit import exits
from ...jit.emitter import I32, I64, I128, INT_OF_BYTES
from . import sem
from .common import extend_reg


def _address(t, Rn, mode, offset, writeback_ok=True):
    """(access address, writeback value or None) for base register Rn and an offset Value."""
    e = t.e
    base = t.XSP(Rn)
    if mode == "post":
        return base, e.add(base, offset)
    addr = e.add(base, offset) if offset is not None else base
    return addr, (addr if mode == "pre" else None)


def _load_view(t, Rt, view, value, nbytes, signed):
    e = t.e
    if view in ("w", "x"):
        ty = I64 if view == "x" else I32
        t.set_X(Rt, e.resize(value, ty, signed))
    else:
        t.set_Vreg(Rt, value)


def _store_value(t, Rt, view, nbytes):
    e = t.e
    if view in ("w", "x"):
        return e.resize(t.X(Rt), INT_OF_BYTES[nbytes])
    return e.resize(t.Vreg(Rt), INT_OF_BYTES[nbytes])


@sem
def ldst_reg(t, Rn, Rt, nbytes, signed, load, view, mode, imm12=None, imm9=None, Rm=None,
             option=None, S=None):
    e = t.e
    if mode == "uoff":
        offset = e.c(I64, imm12 * nbytes)
    elif mode == "reg":
        offset = extend_reg(t, Rm, option, (nbytes.bit_length() - 1) if S else 0, 1)
    else:
        offset = e.c(I64, sign_extend(imm9, 9))
    addr, wb = _address(t, Rn, mode, offset)
    if mode == "unpriv":
        t.mmu = 0       # LDTR/STTR: EL0's permissions, even at EL1
    if load:
        value = t.load(addr, nbytes)
        if wb is not None:
            t.set_XSP(Rn, wb)
        _load_view(t, Rt, view, value, nbytes, signed)
    else:
        t.store(addr, nbytes, _store_value(t, Rt, view, nbytes))
        if wb is not None:
            t.set_XSP(Rn, wb)
    t.mmu = t.el


@sem
def prfm(t, **fields):
    """Prefetches are hints: no access, no fault."""


@sem
def ldr_lit(t, imm19, Rt, nbytes, signed, view):
    e = t.e
    addr = e.c(I64, t.pc + sign_extend(imm19, 19) * 4)
    _load_view(t, Rt, view, t.load(addr, nbytes), nbytes, signed)


@sem
def ldst_pair(t, imm7, Rt2, Rn, Rt, nbytes, signed, load, view, mode):
    e = t.e
    offset = e.c(I64, sign_extend(imm7, 7) * nbytes)
    addr, wb = _address(t, Rn, mode, offset)
    addr2 = e.add(addr, e.c(I64, nbytes))
    if load:
        v1 = t.load(addr, nbytes)
        v2 = t.load(addr2, nbytes)
        if wb is not None:
            t.set_XSP(Rn, wb)
        _load_view(t, Rt, view, v1, nbytes, signed)
        _load_view(t, Rt2, view, v2, nbytes, signed)
    else:
        v1 = _store_value(t, Rt, view, nbytes)
        v2 = _store_value(t, Rt2, view, nbytes)
        t.store(addr, nbytes, v1)
        t.store(addr2, nbytes, v2)
        if wb is not None:
            t.set_XSP(Rn, wb)


def _check_alignment(t, addr, size, load):
    e = t.e
    if size == 1:
        return
    bad = e.icmp("ne", e.and_(addr, e.c(I64, size - 1)), e.c(I64, 0))
    ok = e.label("al")
    e.cbr(bad, t.exit_label(exits.FAULT, t.pc, t.index, info=addr), ok)
    # system mode reports the fault's ISS (alignment fault, WnR)
    t.exits[-1].info2 = (0x21 | (0 if load else 0x40)) if t.system else exits.ACCESS_ALIGN
    e.start(ok)


@sem
def ldst_exclusive(t, Rn, Rt, nbytes, load, pair, exclusive, ordered, Rs=None, Rt2=None):
    """Exclusives keep a local monitor (address, size, loaded value); a store-exclusive
    succeeds when the monitor holds that address and memory still holds the value (as QEMU
    does).  Acquire/release ordering needs nothing on one host thread."""
    e = t.e
    addr = t.XSP(Rn)
    total = nbytes * (2 if pair else 1)
    _check_alignment(t, addr, total, load)
    regty = I64 if nbytes == 8 else I32
    if load:
        value = t.load(addr, total)
        if exclusive:
            e.set(OFFSET["EXCL_ADDR"], addr)
            e.set(OFFSET["EXCL_SIZE"], e.c(I64, total))
            e.set(OFFSET["EXCL_VAL"], e.zext(value, I128) if value.ty != I128 else value, )
        if pair:
            t.set_X(Rt, e.resize(value, regty))
            t.set_X(Rt2, e.trunc(e.lshr(value, e.c(value.ty, nbytes * 8)), regty))
        else:
            t.set_X(Rt, e.resize(value, regty))
        return
    if pair:
        width = INT_OF_BYTES[total]
        data = e.or_(e.zext(t.X(Rt, nbytes == 8), width),
                     e.shl(e.zext(t.X(Rt2, nbytes == 8), width), e.c(width, nbytes * 8)))
    else:
        data = e.resize(t.X(Rt), INT_OF_BYTES[nbytes])
    if not exclusive:
        t.store(addr, total, data)
        return
    # STXR: compare monitor, then memory, then store.  A size other than the load's is
    # CONSTRAINED UNPREDICTABLE (pass or fail); we decide as QEMU does: only the address is
    # compared, and memory up to 8 bytes, zero-extended, against the loaded value's low 64
    # bits (its exclusive_val).
    mon_ok = e.and_(e.icmp("eq", e.get(OFFSET["EXCL_ADDR"]), addr),
                    e.icmp("ne", e.get(OFFSET["EXCL_SIZE"]), e.c(I64, 0)))
    check, do_store, fail, join = e.label("xc"), e.label("xs"), e.label("xf"), e.label("xj")
    e.cbr(mon_ok, check, fail)
    e.start(check)
    current = t.load(addr, total)
    loaded = e.get(OFFSET["EXCL_VAL"], I128)
    if total <= 8:
        current, loaded = e.zext(current, I64), e.trunc(loaded, I64)
    e.cbr(e.icmp("eq", current, loaded), do_store, fail)
    e.start(do_store)
    t.store(addr, total, data)
    e.set(OFFSET["EXCL_SIZE"], e.c(I64, 0))
    t.set_X(Rs, e.c(I32, 0))
    e.br(join)
    e.start(fail)
    e.set(OFFSET["EXCL_SIZE"], e.c(I64, 0))
    t.set_X(Rs, e.c(I32, 1))
    e.br(join)
    e.start(join)
