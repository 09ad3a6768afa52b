"""Guest-physical memory of the virt board: RAM (one numpy array), the MMIO bus, and the
bookkeeping that keeps translated code coherent with RAM.

Translated code reaches RAM through the vCPUs' soft TLBs; everything else — Device memory,
MMIO, addresses nothing answers — goes through the MMU slow paths (dbt/cpu/mmu.py), which call
`mmio_callback` here through a ctypes function pointer.
"""
from __future__ import annotations

import ctypes

import numpy as np

from ..cpu import mmu
from ..cpu.state import OFFSET, TLB_ENTRIES

PAGE = 4096
_BIT = [np.int64(1 << b) if b < 63 else np.int64(-(1 << 63)) for b in range(64)]
_MMIO_FN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                            ctypes.c_int64, ctypes.c_int64)
_MMIO_STATUS = OFFSET["MMIO_STATUS"]


class BusError(Exception):
    def __init__(self, addr):
        super().__init__(f"no memory or device at physical address {addr:#x}")
        self.addr = addr


class PhysicalMemory:
    def __init__(self, ram_base: int, ram_size: int):
        if ram_size % PAGE:
            raise ValueError("RAM size must be a multiple of 4 KiB")
        self.ram_base = ram_base
        self.ram_size = ram_size
        self.ram = np.zeros(ram_size, dtype=np.uint8)
        # one bit per instruction word: which words lie inside translated blocks
        self.code_bits = np.zeros(ram_size // 4 // 64, dtype=np.int64)
        self.regions: list[tuple[int, int, object]] = []    # (base, end, device), sorted
        self.mc = np.zeros(mmu.MC_SIZE, dtype=np.int64)
        self.mc[mmu.MC_RAM_HOST] = self.ram.ctypes.data
        self.mc[mmu.MC_RAM_BASE] = ram_base
        self.mc[mmu.MC_RAM_SIZE] = ram_size
        self.mc[mmu.MC_CODE_BITS] = self.code_bits.ctypes.data
        self.dirty = np.zeros(ram_size // PAGE, dtype=np.uint8)    # see start_dirty_log
        self.mc[mmu.MC_DIRTY] = self.dirty.ctypes.data
        self._callback = _MMIO_FN(self._mmio)
        self.mc[mmu.MC_MMIO_FN] = ctypes.cast(self._callback, ctypes.c_void_p).value
        self.load_fn = mmu.sys_load
        self.store_fn = mmu.sys_store
        self.envs: list[np.ndarray] = []
        self.code_written: list[tuple[int, int]] = []
        self.envs_by_addr: dict[int, object] = {}
        self.error: BaseException | None = None    # an emulator error raised inside a callback
        self.images: list[tuple[int, bytes]] = []   # what the loader placed, restored on reset
        self.unassigned_log = None                 # callable(str) for -d unimp

    # -- wiring ---------------------------------------------------------------------------
    def map_device(self, base: int, size: int, device):
        self.regions.append((base, base + size, device))
        self.regions.sort(key=lambda r: r[0])

    def attach(self, env: np.ndarray, cpu=None):
        """A vCPU's env: its slow paths use this memory; its TLB hears of code pages and of
        broadcast TLB invalidations."""
        env[OFFSET["MEM_CTX"]] = self.mc.ctypes.data
        self.envs.append(env)
        self.envs_by_addr[env.ctypes.data] = cpu
        self._publish_envs()

    def detach(self, env: np.ndarray):
        """The vCPU owning env is gone (unplugged): forget it."""
        addr = env.ctypes.data              # env may be another view of the same array
        self.envs = [e for e in self.envs if e.ctypes.data != addr]
        self.envs_by_addr.pop(addr, None)
        self._publish_envs()

    def _publish_envs(self):
        self.env_addrs = np.array([e.ctypes.data for e in self.envs] or [0], dtype=np.int64)
        self.mc[mmu.MC_ENVS] = self.env_addrs.ctypes.data
        self.mc[mmu.MC_NENVS] = len(self.envs)

    def device_at(self, pa: int):
        for base, end, dev in self.regions:
            if base <= pa < end:
                return base, dev
        return None, None

    # -- MMIO from translated code --------------------------------------------------------
    def _mmio(self, env_addr, pa, size, value, is_write):
        try:
            base, dev = self.device_at(pa)
            if dev is None:
                env = np.ctypeslib.as_array(ctypes.cast(env_addr, ctypes.POINTER(ctypes.c_int64)),
                                            shape=(_MMIO_STATUS + 1,))
                env[_MMIO_STATUS] = 1
                if self.unassigned_log:
                    self.unassigned_log(f"unassigned {'write' if is_write else 'read'} "
                                        f"at {pa:#x} size {size}")
                return 0
            if is_write:
                dev.write(pa - base, size, value & ((1 << (8 * size)) - 1))
                return 0
            return dev.read(pa - base, size) & ((1 << (8 * size)) - 1)
        except BaseException as exc:     # noqa: BLE001 -- must not unwind through native code
            if self.error is None:
                self.error = exc
            cpu = self.envs_by_addr.get(env_addr)
            if cpu is not None:
                cpu.request_exit()
            return 0

    # -- Python-side access (loaders, DMA-free devices, tests) -----------------------------
    def _ram_slice(self, pa: int, length: int):
        off = pa - self.ram_base
        if off < 0 or off + length > self.ram_size:
            raise BusError(pa)
        return off

    def read(self, pa: int, length: int) -> bytes:
        off = self._ram_slice(pa, length)
        return self.ram[off:off + length].tobytes()

    def write(self, pa: int, data: bytes):
        off = self._ram_slice(pa, len(data))
        self.ram[off:off + len(data)] = np.frombuffer(data, dtype=np.uint8)
        if self.mc[mmu.MC_DIRTY_LOG] and data:
            self.dirty[off // PAGE:(off + len(data) - 1) // PAGE + 1] = 1
        if self.code_bits[off // 256:(off + len(data) + 255) // 256].any():
            self.code_written.append((pa, len(data)))

    def read_u64(self, pa: int) -> int:
        return int.from_bytes(self.read(pa, 8), "little")

    def fetch(self, pa: int):
        """The instruction word at physical pa (RAM only), or None."""
        off = pa - self.ram_base
        if off < 0 or off + 4 > self.ram_size:
            return None
        return int(self.ram[off:off + 4].view(np.uint32)[0])

    # -- dirty-page logging (live migration) ----------------------------------------------
    @property
    def dirty_logging(self) -> bool:
        return bool(self.mc[mmu.MC_DIRTY_LOG])

    def start_dirty_log(self) -> None:
        """From now on every page stored to is marked: the first store to a page after a
        sync goes through the slow path (no write TLB entry), which marks it and installs
        the entry.  Call between quanta, when no vCPU runs."""
        self.dirty[:] = 0
        self.mc[mmu.MC_DIRTY_LOG] = 1
        self._drop_write_entries()

    def sync_dirty(self) -> np.ndarray:
        """The pages written since the last sync (or the start), as a bool array with one
        entry per RAM page; the log starts again empty.  Call between quanta."""
        written = self.dirty.astype(bool)
        self.dirty[:] = 0
        self._drop_write_entries()
        return written

    def stop_dirty_log(self) -> None:
        self.mc[mmu.MC_DIRTY_LOG] = 0

    def _drop_write_entries(self):
        for env in self.envs:
            for m in range(2):
                o = OFFSET[f"TLB{m}_WRITE"]
                env[o:o + TLB_ENTRIES] = -1

    # -- translated-code tracking ---------------------------------------------------------
    def mark_code(self, ranges):
        """Translated code covers the physical [start, end) ranges: stores there must be
        seen, so no TLB may keep a write entry for those pages."""
        pages = set()
        for start, end in ranges:
            first = (start - self.ram_base) >> 2
            last = (end - 1 - self.ram_base) >> 2
            for slot in range(first, last + 1):
                self.code_bits[slot >> 6] |= _BIT[slot & 63]
            pages.update(range(start // PAGE, (end - 1) // PAGE + 1))
        for page in pages:
            host = self.ram.ctypes.data + page * PAGE - self.ram_base
            for env in self.envs:
                for m in range(2):
                    tags = env[OFFSET[f"TLB{m}_WRITE"]:OFFSET[f"TLB{m}_WRITE"] + TLB_ENTRIES]
                    add = env[OFFSET[f"TLB{m}_ADDEND"]:OFFSET[f"TLB{m}_ADDEND"] + TLB_ENTRIES]
                    hit = (tags != -1) & ((add + tags) == host)
                    tags[hit] = -1

    def clear_code(self, page_pa: int):
        off = page_pa - self.ram_base
        self.code_bits[off // 256:(off + PAGE) // 256] = 0

    def clear_all_code(self):
        self.code_bits[:] = 0
