"""The stage-1 MMU of the EL1&0 translation regime (VMSAv8-64) and the system memory slow paths.

Everything here is Numba: translated code calls `sys_load`/`sys_store` by symbol on a soft-TLB
miss; the dispatcher calls `fill_exec` to translate an instruction address.  A walk fills the
TLB of the access's MMU index (EL0 or EL1) with every kind of access the page allows, so the
next access of any kind takes the inline fast path.  Pages that are Device memory, hold
translated code (for stores) or are not RAM never get a TLB entry: their accesses always come
here, where MMIO goes to the machine through a callback and alignment is checked.

Physical memory is described by a memory-context array (MC_*): RAM location and size, the
per-word code bitmap, and the MMIO callback `i64 (i64 env, i64 pa, i64 size, i64 value,
i64 is_write)`.
"""
import numpy as np
from llvmlite import ir
from numba import carray, cfunc, njit, types
from numba.extending import intrinsic

from ..cpu.state import ENV_SIZE, OFFSET, TLB_ENTRIES
from .exceptions import ISS_DEBUG, WATCH_MARK, watchpoint_hit
from ..jit import exits
from ..jit.native import i64_ptr, u8_ptr
from ..jit.symbols import export

PAGE = 4096
PA_BITS = 44                    # Cortex-A57: ID_AA64MMFR0_EL1.PARange = 0b0100
PA_MASK = (1 << 48) - 1

# memory-context slots
MC_RAM_HOST, MC_RAM_BASE, MC_RAM_SIZE, MC_CODE_BITS, MC_MMIO_FN = 0, 1, 2, 3, 4
MC_ENVS, MC_NENVS = 5, 6        # the env addresses of every vCPU (broadcast TLBI)
# dirty-page logging for live migration (QEMU's TLB_NOTDIRTY): one byte per RAM page, set by
# the first store after a sync; while logging, a page gets a write TLB entry only once its
# byte is set, so the fast path never has to mark anything
MC_DIRTY, MC_DIRTY_LOG = 7, 8
MC_SIZE = 9

# access kinds
ACC_READ, ACC_WRITE, ACC_EXEC = 0, 1, 2
PROT_R, PROT_W, PROT_X = 1, 2, 4

# fault status codes (DFSC/IFSC); the level is added to the first four
FSC_ADDR_SIZE = 0x00
FSC_TRANSLATION = 0x04
FSC_ACCESS_FLAG = 0x08
FSC_PERMISSION = 0x0C
FSC_EXTERNAL = 0x10
FSC_EXTERNAL_WALK = 0x14
FSC_ALIGNMENT = 0x21
NO_FAULT = -1

# the size argument of the slow paths: nbytes | MMU index << 8 | ALIGN_FLAG (SCTLR_EL1.A)
SIZE_MASK = 0xFF
MMU_SHIFT = 8
MMU_MASK = 0xF
ALIGN_FLAG = 1 << 12
DEBUG_FLAG = 1 << 13            # check the watchpoints first

_SCTLR = OFFSET["SCTLR_EL1"]
_TCR = OFFSET["TCR_EL1"]
_TTBR0 = OFFSET["TTBR0_EL1"]
_TTBR1 = OFFSET["TTBR1_EL1"]
_MAIR = OFFSET["MAIR_EL1"]
_MEM_CTX = OFFSET["MEM_CTX"]
_PENDING = OFFSET["PENDING"]
_EXIT_INFO = OFFSET["EXIT_INFO"]
_EXIT_INFO2 = OFFSET["EXIT_INFO2"]
_CW_LO = OFFSET["CODE_WRITE_LO"]
_CW_HI = OFFSET["CODE_WRITE_HI"]
_MMIO_STATUS = OFFSET["MMIO_STATUS"]
_TLB = np.array([[OFFSET[f"TLB{m}_{w}"] for w in ("READ", "WRITE", "EXEC", "ADDEND")]
                 for m in range(2)], dtype=np.int64)
_LARGE = np.array([[OFFSET[f"TLB{m}_LARGE_LO"], OFFSET[f"TLB{m}_LARGE_HI"]] for m in range(2)],
                  dtype=np.int64)


@intrinsic
def call_mmio(typingctx, fn, env, pa, size, value, is_write):
    """Call the machine's MMIO callback at address fn."""
    sig = types.int64(types.int64, types.int64, types.int64, types.int64, types.int64,
                      types.int64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(i64, [i64] * 5)
        f = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(f, list(args[1:]))

    return sig, codegen


@njit(cache=True, inline="always")
def _read_phys_u64(mc, pa):
    """(in RAM, the little-endian descriptor at pa)."""
    off = pa - mc[MC_RAM_BASE]
    if off < 0 or off + 8 > mc[MC_RAM_SIZE]:
        return False, 0
    return True, carray(i64_ptr(mc[MC_RAM_HOST] + off), (1,))[0]


@njit(cache=True)
def walk(env, mc, va, el, acc):
    """Translate va for an access of kind acc at exception level el.

    Returns (fsc, pa, prot, device, large_log2): fsc is NO_FAULT or the fault status code;
    prot the PROT_* bits the page allows at el; device whether it is Device memory;
    large_log2 the log2 size of the block or page that mapped it."""
    sctlr = env[_SCTLR]
    if (sctlr & 1) == 0:
        # MMU off: flat, data accesses are Device-nGnRnE, instruction fetches Normal
        if (va >> PA_BITS) != 0:
            return FSC_ADDR_SIZE, 0, 0, False, 12
        return NO_FAULT, va, PROT_R | PROT_W | PROT_X, acc != ACC_EXEC, 12
    tcr = env[_TCR]
    top = (va >> 55) & 1
    if top == 0:
        tsz = tcr & 0x3F
        epd = (tcr >> 7) & 1
        tg = (tcr >> 14) & 3
        granule = 16 if tg == 1 else (14 if tg == 2 else 12)
        ttbr = env[_TTBR0]
        tbi = (tcr >> 37) & 1
    else:
        tsz = (tcr >> 16) & 0x3F
        epd = (tcr >> 23) & 1
        tg = (tcr >> 30) & 3
        granule = 14 if tg == 1 else (16 if tg == 3 else 12)
        ttbr = env[_TTBR1]
        tbi = (tcr >> 38) & 1
    # ARMv8.0: TxSZ outside 16..39 behaves as the nearest limit
    tsz = min(max(tsz, 16), 39)
    insize = 64 - tsz
    hi_bits = (56 if tbi else 64) - insize
    upper = (va >> insize) & ((1 << hi_bits) - 1)
    if epd or upper != (((1 << hi_bits) - 1) if top else 0):
        return FSC_TRANSLATION, 0, 0, False, 12
    stride = granule - 3
    level = 4 - (insize - granule + stride - 1) // stride
    # the start table holds 2^(insize - shift of its level) entries, aligned to its size
    width = insize - ((3 - level) * stride + granule)
    table = ttbr & PA_MASK & ~((1 << max(width + 3, 3)) - 1)
    ap_table = 0
    xn_table = 0
    pxn_table = 0
    if (table >> PA_BITS) != 0:
        return FSC_ADDR_SIZE + level, 0, 0, False, 12
    while True:
        shift = (3 - level) * stride + granule
        idx = (va >> shift) & ((1 << width) - 1)
        width = stride
        ok, desc = _read_phys_u64(mc, table + idx * 8)
        if not ok:
            return FSC_EXTERNAL_WALK + level, 0, 0, False, 12
        if (desc & 1) == 0:
            return FSC_TRANSLATION + level, 0, 0, False, 12
        if level < 3 and (desc & 2):
            table = desc & PA_MASK & ~((1 << granule) - 1)
            if (table >> PA_BITS) != 0:
                return FSC_ADDR_SIZE + level, 0, 0, False, 12
            pxn_table |= (desc >> 59) & 1
            xn_table |= (desc >> 60) & 1
            ap_table |= (desc >> 61) & 3
            level += 1
            continue
        if level == 3 and (desc & 2) == 0:
            return FSC_TRANSLATION + level, 0, 0, False, 12
        if level < 3:
            # blocks: 4K granule at levels 1 and 2; 16K and 64K at level 2 only
            if level == 0 or (level == 1 and granule != 12):
                return FSC_TRANSLATION + level, 0, 0, False, 12
        break
    size_log2 = (3 - level) * stride + granule
    oa = desc & PA_MASK & ~((1 << size_log2) - 1)
    if (oa >> PA_BITS) != 0:
        return FSC_ADDR_SIZE + level, 0, 0, False, 12
    if ((desc >> 10) & 1) == 0:
        return FSC_ACCESS_FLAG + level, 0, 0, False, 12
    ap = (desc >> 6) & 3
    # APTable[0] forbids EL0 access (clears AP[1]); APTable[1] forbids writes (sets AP[2])
    if ap_table & 1:
        ap &= 2
    if ap_table & 2:
        ap |= 2
    uxn = ((desc >> 54) & 1) | xn_table
    pxn = ((desc >> 53) & 1) | pxn_table
    el0_access = (ap & 1) != 0
    writable_el0 = ap == 1
    if el == 0:
        prot = (PROT_R | (PROT_W if ap == 1 else 0)) if el0_access else 0
        xn = uxn
    else:
        prot = PROT_R | (PROT_W if (ap & 2) == 0 else 0)
        # a page writable at EL0 is never executable at EL1
        xn = pxn | (1 if writable_el0 else 0)
    if (sctlr >> 19) & 1 and (prot & PROT_W):       # WXN
        xn = 1
    if not xn:
        prot |= PROT_X
    attr = (env[_MAIR] >> (8 * ((desc >> 2) & 7))) & 0xFF
    device = (attr & 0xF0) == 0
    if acc == ACC_EXEC and device:
        prot &= ~PROT_X
    need = PROT_R if acc == ACC_READ else (PROT_W if acc == ACC_WRITE else PROT_X)
    if (prot & need) == 0:
        return FSC_PERMISSION + level, 0, prot, device, size_log2
    return NO_FAULT, oa | (va & ((1 << size_log2) - 1)), prot, device, size_log2


@njit(cache=True, inline="always")
def _ram_host(mc, pa):
    """Host address of RAM at pa, or 0 when pa is not RAM."""
    off = pa - mc[MC_RAM_BASE]
    if off < 0 or off >= mc[MC_RAM_SIZE]:
        return 0
    return mc[MC_RAM_HOST] + off


@njit(cache=True, inline="always")
def _page_has_code(mc, pa):
    off = pa - mc[MC_RAM_BASE]
    # 1024 instruction words a page: 16 bitmap words of 64 bits
    words = carray(i64_ptr(mc[MC_CODE_BITS] + (off >> 12) * 128), (16,))
    for i in range(16):
        if words[i] != 0:
            return True
    return False


@njit(cache=True, inline="always")
def _is_code(mc, pa):
    slot = (pa - mc[MC_RAM_BASE]) >> 2
    bits = carray(i64_ptr(mc[MC_CODE_BITS] + (slot >> 6) * 8), (1,))
    return (bits[0] >> (slot & 63)) & 1


@njit(cache=True, inline="always")
def _dirty_byte(mc, pa):
    return carray(u8_ptr(mc[MC_DIRTY] + ((pa - mc[MC_RAM_BASE]) >> 12)), (1,))


@njit(cache=True)
def fill(env, mc, va, pa, prot, device, size_log2, mmu):
    """Enter the 4K page of va -> pa into TLB `mmu` with what it allows."""
    host = _ram_host(mc, pa)
    if host == 0:
        return
    page = va & ~(PAGE - 1)
    idx = (va >> 12) & (TLB_ENTRIES - 1)
    env[_TLB[mmu, 3] + idx] = host - va
    env[_TLB[mmu, 0] + idx] = page if (prot & PROT_R) and not device else -1
    writable = (prot & PROT_W) and not device and not _page_has_code(mc, pa)
    if writable and mc[MC_DIRTY_LOG] != 0 and _dirty_byte(mc, pa)[0] == 0:
        writable = False            # the first store after a sync must be seen
    env[_TLB[mmu, 1] + idx] = page if writable else -1
    env[_TLB[mmu, 2] + idx] = page if prot & PROT_X else -1
    if size_log2 > 12:
        lo = va & ~((1 << size_log2) - 1)
        hi = lo + (1 << size_log2)
        if env[_LARGE[mmu, 0]] == -1 or lo < env[_LARGE[mmu, 0]]:
            env[_LARGE[mmu, 0]] = lo
        if hi > env[_LARGE[mmu, 1]]:
            env[_LARGE[mmu, 1]] = hi


@njit(cache=True)
def flush_all(env):
    for m in range(2):
        for w in range(3):
            o = _TLB[m, w]
            for i in range(TLB_ENTRIES):
                env[o + i] = -1
        env[_LARGE[m, 0]] = -1
        env[_LARGE[m, 1]] = 0


@njit(cache=True)
def flush_va(env, va):
    """TLBI by VA: drop the entry for va's page in both TLBs, or everything when va lies in
    a block mapping (whose 4K pieces may sit in many entries)."""
    untag = (1 << 56) - 1
    page = va & ~(PAGE - 1) & untag
    for m in range(2):
        lo, hi = env[_LARGE[m, 0]], env[_LARGE[m, 1]]
        if lo != -1 and (lo & untag) <= page < (hi & untag):
            flush_all(env)
            return
    idx = (va >> 12) & (TLB_ENTRIES - 1)
    for m in range(2):
        for w in range(3):
            tag = env[_TLB[m, w] + idx]
            # compare without the top byte: with TBI any tag maps the same page
            if tag != -1 and (tag & untag) == page:
                env[_TLB[m, w] + idx] = -1


@njit(cache=True, inline="always")
def _fault(env, va, fsc, wnr):
    env[_PENDING] |= exits.PENDING_FAULT
    env[_EXIT_INFO] = va
    env[_EXIT_INFO2] = fsc | (wnr << 6)


@njit(cache=True, inline="always")
def note_code_write(env, addr, nbytes):
    """Widen the pending code-write range (a wide store arrives in 8-byte pieces); user mode
    shares it with guest addresses, system mode uses physical ones."""
    if env[_PENDING] & exits.PENDING_CODE_WRITE:
        env[_CW_LO] = min(env[_CW_LO], addr)
        env[_CW_HI] = max(env[_CW_HI], addr + nbytes)
    else:
        env[_CW_LO] = addr
        env[_CW_HI] = addr + nbytes
        env[_PENDING] |= exits.PENDING_CODE_WRITE


@njit(cache=True)
def _translate_data(env, mc, va, nbytes, mmu, acc, align):
    """(ok, pa, device) for a data access; on a fault the fault is recorded in env."""
    wnr = 1 if acc == ACC_WRITE else 0
    if align and (va & (nbytes - 1)) != 0:
        _fault(env, va, FSC_ALIGNMENT, wnr)
        return False, 0, False
    fsc, pa, prot, device, size_log2 = walk(env, mc, va, mmu, acc)
    if fsc != NO_FAULT:
        _fault(env, va, fsc, wnr)
        return False, 0, False
    if device and (va & (nbytes - 1)) != 0:
        _fault(env, va, FSC_ALIGNMENT, wnr)
        return False, 0, False
    fill(env, mc, va, pa, prot, device, size_log2, mmu)
    return True, pa, device


@njit(cache=True)
def access(env, envaddr, mc, va, nbytes, mmu, acc, value, align, debug):
    """One data access of nbytes (1..8) at va: the loaded value, or 0 with a fault recorded;
    stores note writes over translated code."""
    if debug and watchpoint_hit(env, va, nbytes, mmu, acc == ACC_WRITE):
        # taken before the access: memory is left as it was
        env[_PENDING] |= exits.PENDING_FAULT
        env[_EXIT_INFO] = va
        env[_EXIT_INFO2] = WATCH_MARK | ISS_DEBUG | ((1 << 6) if acc == ACC_WRITE else 0)
        return 0
    first = PAGE - (va & (PAGE - 1))
    if nbytes > first:
        # crosses a page: both pages must translate before any byte is stored
        ok1, pa1, dev1 = _translate_data(env, mc, va, nbytes, mmu, acc, align)
        if not ok1:
            return 0
        ok2, pa2, dev2 = _translate_data(env, mc, va + first, nbytes, mmu, acc, align)
        if not ok2:
            return 0
        lo = _phys(env, envaddr, mc, pa1, first, acc, value, va)
        if env[_PENDING] & exits.PENDING_FAULT:
            return 0
        hi = _phys(env, envaddr, mc, pa2, nbytes - first, acc, value >> (8 * first), va + first)
        return lo | (hi << (8 * first))
    ok, pa, dev = _translate_data(env, mc, va, nbytes, mmu, acc, align)
    if not ok:
        return 0
    return _phys(env, envaddr, mc, pa, nbytes, acc, value, va)


@njit(cache=True)
def _phys(env, envaddr, mc, pa, nbytes, acc, value, va):
    host = _ram_host(mc, pa)
    if host != 0 and pa - mc[MC_RAM_BASE] + nbytes <= mc[MC_RAM_SIZE]:
        p = carray(u8_ptr(host), (nbytes,))
        if acc == ACC_WRITE:
            code = False
            for i in range(nbytes):
                p[i] = np.uint8((value >> (8 * i)) & 0xFF)
                if _is_code(mc, pa + i):
                    code = True
            if code:
                note_code_write(env, pa, nbytes)
            if mc[MC_DIRTY_LOG] != 0:
                _dirty_byte(mc, pa)[0] = 1      # access() never crosses a page here
            return 0
        v = 0
        for i in range(nbytes):
            v |= np.int64(p[i]) << (8 * i)
        return v
    env[_MMIO_STATUS] = 0
    r = call_mmio(mc[MC_MMIO_FN], envaddr, pa, nbytes,
                  value if acc == ACC_WRITE else 0, 1 if acc == ACC_WRITE else 0)
    if env[_MMIO_STATUS] != 0:
        # nothing answers at pa: synchronous external abort
        _fault(env, va, FSC_EXTERNAL, 1 if acc == ACC_WRITE else 0)
        return 0
    return r


@intrinsic
def _address(typingctx, ptr):
    sig = types.int64(ptr)

    def codegen(context, builder, signature, args):
        return builder.ptrtoint(args[0], ir.IntType(64))

    return sig, codegen


@export
@cfunc(types.int64(types.CPointer(types.int64), types.int64, types.int64), cache=True)
def sys_load(envp, va, size):
    """Soft-TLB miss on a load: size is nbytes | MMU index << 8."""
    env = carray(envp, (ENV_SIZE,))
    mc = carray(i64_ptr(env[_MEM_CTX]), (MC_SIZE,))
    return access(env, _address(envp), mc, va, size & SIZE_MASK, (size >> MMU_SHIFT) & MMU_MASK,
                  ACC_READ, 0, (size & ALIGN_FLAG) != 0, (size & DEBUG_FLAG) != 0)


@export
@cfunc(types.int64(types.CPointer(types.int64), types.int64, types.int64, types.int64), cache=True)
def sys_store(envp, va, size, value):
    """Soft-TLB miss on a store: 0 done, 1 faulted, 2 done over translated code."""
    env = carray(envp, (ENV_SIZE,))
    mc = carray(i64_ptr(env[_MEM_CTX]), (MC_SIZE,))
    pending = env[_PENDING] & exits.PENDING_CODE_WRITE
    access(env, _address(envp), mc, va, size & SIZE_MASK, (size >> MMU_SHIFT) & MMU_MASK,
           ACC_WRITE, value, (size & ALIGN_FLAG) != 0, (size & DEBUG_FLAG) != 0)
    if env[_PENDING] & exits.PENDING_FAULT:
        return 1
    if (env[_PENDING] & exits.PENDING_CODE_WRITE) and not pending:
        return 2
    return 0


@njit(cache=True)
def fill_exec(env, mc, pc, mmu):
    """Translate an instruction fetch at pc: (fsc, host address of pc or 0).  A fetch from
    outside RAM is a synchronous external abort."""
    fsc, pa, prot, device, size_log2 = walk(env, mc, pc, mmu, ACC_EXEC)
    if fsc != NO_FAULT:
        return fsc, 0
    host = _ram_host(mc, pa)
    if host == 0:
        return FSC_EXTERNAL, 0
    fill(env, mc, pc, pa, prot, device, size_log2, mmu)
    return NO_FAULT, host


@njit(cache=True)
def _tlbi_one(env, by_va, page):
    if by_va:
        # the operand holds VA[55:12]: drop both sign extensions of the page
        flush_va(env, page)
        flush_va(env, page | -(1 << 52))
    else:
        flush_all(env)


@export
@cfunc(types.void(types.CPointer(types.int64), types.int64, types.int64), cache=True)
def tlbi(envp, op, value):
    """TLBI from translated code; op is CRm << 3 | op2.  The Inner Shareable forms (CRm 3)
    reach every vCPU's TLB.  By-VA forms: VAE1, VAAE1, VALE1, VAALE1 (op2 1, 3, 5, 7)."""
    env = carray(envp, (ENV_SIZE,))
    crm = op >> 3
    op2 = op & 7
    by_va = op2 == 1 or op2 == 3 or op2 == 5 or op2 == 7
    page = (value & ((1 << 44) - 1)) << 12
    if crm == 3:
        mc = carray(i64_ptr(env[_MEM_CTX]), (MC_SIZE,))
        envs = carray(i64_ptr(mc[MC_ENVS]), (mc[MC_NENVS],))
        for i in range(mc[MC_NENVS]):
            _tlbi_one(carray(i64_ptr(envs[i]), (ENV_SIZE,)), by_va, page)
    else:
        _tlbi_one(env, by_va, page)
