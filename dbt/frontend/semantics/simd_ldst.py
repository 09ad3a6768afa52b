"""AdvSIMD structure loads and stores: LD1-LD4/ST1-ST4 (multiple structures), LD1-LD4/ST1-ST4
(single structure) and LD1R-LD4R, after the manual's shared pseudocode
(aarch64/instrs/memory/vector/multiple/nowb and .../single/nowb).

Every form moves one contiguous run of bytes at X[n]; it is read or written with one soft-TLB
check when it lies in a page (one wide host access), else in chunks of at most 8 bytes through
the ordinary slow path, and (de-)interleaved with vector shuffles.  Loads read everything before
writing any register, so a fault commits nothing; stores write memory in ascending order (the
architecture allows a faulting multi-element store to have written part of it), and the base
writeback follows the accesses.
"""
from ...jit.emitter import I64, I128, INT_OF_BYTES, Value
from . import sem


def _chunks(nbytes):
    """Ascending (offset, size) pieces of at most 8 bytes, each a power of two."""
    off = 0
    while off < nbytes:
        size = 8
        while size > nbytes - off:
            size >>= 1
        yield off, size
        off += size


def _gather(t, va, nbytes, ty):
    """The slow path of _read: pieces of at most 8 bytes through t.load, in ascending order."""
    e = t.e
    if nbytes % 8 == 0:
        acc = e.undef(e.vec(nbytes // 8, I64))
        for k in range(nbytes // 8):
            acc = e.insert(acc, t.load(e.add(va, e.c(I64, 8 * k)), 8), k)
        return e.bitcast(acc, ty)
    wide = f"i{8 * nbytes}"
    acc = None
    for off, size in _chunks(nbytes):
        part = e.zext(t.load(e.add(va, e.c(I64, off)), size), wide)
        if off:
            part = e.shl(part, Value(str(8 * off), wide))
        acc = part if acc is None else e.or_(acc, part)
    return e.bitcast(acc, ty)


def _scatter(t, va, nbytes, v):
    """The slow path of _write: pieces of at most 8 bytes through t.store, in ascending order."""
    e = t.e
    if nbytes % 8 == 0:
        words = e.bitcast(v, e.vec(nbytes // 8, I64))
        for k in range(nbytes // 8):
            t.store(e.add(va, e.c(I64, 8 * k)), 8, e.extract(words, k))
        return
    wide = f"i{8 * nbytes}"
    whole = e.bitcast(v, wide)
    for off, size in _chunks(nbytes):
        part = e.lshr(whole, Value(str(8 * off), wide)) if off else whole
        t.store(e.add(va, e.c(I64, off)), size, e.trunc(part, INT_OF_BYTES[size]))


def _read(t, va, nbytes, ty):
    """nbytes at va as a value of the vector type ty."""
    e = t.e
    if nbytes in (1, 2, 4, 8):
        return e.bitcast(t.load(va, nbytes), ty)
    hit, host = t.tlb_lookup(va, nbytes, "READ")
    fast, slow, join = e.label("vlf"), e.label("vls"), e.label("vlj")
    e.cbr(hit, fast, slow)
    e.start(fast)
    v1 = e.load_host(host, ty)
    e.br(join)
    e.start(slow)
    v2 = _gather(t, va, nbytes, ty)
    tail = e.block
    e.br(join)
    e.start(join)
    return e.phi(ty, [(v1, fast), (v2, tail)])


def _write(t, va, nbytes, v):
    """Store the vector v (nbytes long) at va."""
    e = t.e
    if nbytes in (1, 2, 4, 8):
        t.store(va, nbytes, e.bitcast(v, INT_OF_BYTES[nbytes]))
        return
    hit, host = t.tlb_lookup(va, nbytes, "WRITE")
    fast, slow, join = e.label("vsf"), e.label("vss"), e.label("vsj")
    e.cbr(hit, fast, slow)
    e.start(fast)
    e.store_host(host, v)
    e.br(join)
    e.start(slow)
    _scatter(t, va, nbytes, v)
    e.br(join)
    e.start(join)


def _writeback(t, Rm, address, nbytes):
    """The post-indexed base: address + (X[m], or the transfer size when there is no Rm)."""
    e = t.e
    offs = t.X(Rm) if Rm is not None else e.c(I64, nbytes)
    return e.add(address, offs)


def _reg_lanes(t, n, Q, ety):
    """V[n] (64 << Q bits) as a vector of elements of type ety."""
    e = t.e
    v = t.Vreg(n)
    if not Q:
        v = e.trunc(v, I64)
    return e.bitcast(v, e.vec((64 << Q) // int(ety[1:]), ety))


def _concat(e, vs):
    """Concatenate equal-typed vectors."""
    lanes = len(vs) * e.elem(vs[0].ty)[0]
    while len(vs) > 1:
        if len(vs) % 2:
            vs = vs + [vs[-1]]
        n = e.elem(vs[0].ty)[0]
        vs = [e.shuffle(a, b, range(2 * n)) for a, b in zip(vs[::2], vs[1::2])]
    v = vs[0]
    return v if e.elem(v.ty)[0] == lanes else e.shuffle(v, v, range(lanes))


@sem
def simd_ldst_multiple(t, Q, size, Rn, Rt, load, selem, rpt, wback, Rm=None):
    e = t.e
    ety = INT_OF_BYTES[1 << size]
    elements = (8 << Q) >> size
    nregs = rpt * selem
    total = nregs * (8 << Q)
    regs = [(Rt + j) % 32 for j in range(nregs)]
    address = t.XSP(Rn)
    # memory element (r * elements + i) * selem + s is lane i of register r * selem + s (one of
    # r and s is always 0): order[m] is the lane j * elements + i of the registers' concatenation
    order = [0] * (nregs * elements)
    for j in range(nregs):
        r, s = divmod(j, selem)
        for i in range(elements):
            order[(r * elements + i) * selem + s] = j * elements + i
    if load:
        flat = _read(t, address, total, e.vec(nregs * elements, ety))
        inverse = {lane: m for m, lane in enumerate(order)}
        values = []
        for j in range(nregs):
            mask = [inverse[j * elements + i] for i in range(elements)]
            v = flat if nregs == 1 else e.shuffle(flat, flat, mask)
            values.append(e.bitcast(v, I128 if Q else I64))
        if wback:
            t.set_XSP(Rn, _writeback(t, Rm, address, total))
        for n, v in zip(regs, values):
            t.set_Vreg(n, v)
        return
    flat = _concat(e, [_reg_lanes(t, n, Q, ety) for n in regs])
    if order != list(range(len(order))):
        flat = e.shuffle(flat, flat, order)
    _write(t, address, total, flat)
    if wback:
        t.set_XSP(Rn, _writeback(t, Rm, address, total))


@sem
def simd_ldst_single(t, Q, S, size, Rn, Rt, load, selem, esize, wback, Rm=None):
    e = t.e
    ety = INT_OF_BYTES[esize]
    index = {1: (Q << 3) | (S << 2) | size, 2: (Q << 2) | (S << 1) | (size >> 1),
             4: (Q << 1) | S, 8: Q}[esize]
    lanes_ty = e.vec(16 // esize, ety)
    flat_ty = e.vec(selem, ety)
    total = selem * esize
    regs = [(Rt + s) % 32 for s in range(selem)]
    address = t.XSP(Rn)
    if load:
        flat = _read(t, address, total, flat_ty)
        values = []
        for s, n in enumerate(regs):
            v = e.insert(e.bitcast(t.Vreg(n), lanes_ty), e.extract(flat, s), index)
            values.append(e.bitcast(v, I128))
        if wback:
            t.set_XSP(Rn, _writeback(t, Rm, address, total))
        for n, v in zip(regs, values):
            t.set_Vreg(n, v)
        return
    flat = e.undef(flat_ty)
    for s, n in enumerate(regs):
        flat = e.insert(flat, e.extract(e.bitcast(t.Vreg(n), lanes_ty), index), s)
    _write(t, address, total, flat)
    if wback:
        t.set_XSP(Rn, _writeback(t, Rm, address, total))


@sem
def simd_ld_replicate(t, Q, size, Rn, Rt, selem, wback, Rm=None):
    e = t.e
    ety = INT_OF_BYTES[1 << size]
    total = selem << size
    address = t.XSP(Rn)
    flat = _read(t, address, total, e.vec(selem, ety))
    values = [e.bitcast(e.splat_value(e.extract(flat, s), (8 << Q) >> size), I128 if Q else I64)
              for s in range(selem)]
    if wback:
        t.set_XSP(Rn, _writeback(t, Rm, address, total))
    for s, v in enumerate(values):
        t.set_Vreg((Rt + s) % 32, v)
