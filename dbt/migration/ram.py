"""Guest RAM in the stream: runs of consecutive 4 KiB pages, one RAM record per run.

    payload = msgpack [first_page, count, encoding, data]

encoding ZERO: every page of the run is zero, data is empty (QEMU's "duplicate" pages);
RAW: data is count pages as they are; LZ4: data is the lz4 block of those pages, used only
when it is smaller.  A run of data pages is at most CHUNK_PAGES long.  A later record for a
page replaces an earlier one: pre-copy sends a page again each time the guest dirtied it.
"""
from __future__ import annotations

from dataclasses import dataclass

import lz4.block
import numpy as np

from .stream import RAM, MigrationError, pack, unpack

PAGE = 4096
CHUNK_PAGES = 256                 # 1 MiB of data pages per record
ZERO, RAW, LZ4 = 0, 1, 2


@dataclass
class RamStats:
    normal: int = 0               # data pages sent
    duplicate: int = 0            # zero pages sent as a marker
    normal_bytes: int = 0         # bytes of data pages before compression
    wire_bytes: int = 0           # RAM record payloads as sent


class RamSender:
    """Sends the pages of a round: `queue(mask)` sets which pages go, `send(writer, budget)`
    writes records until about `budget` bytes went or the round is done."""

    def __init__(self, ram: np.ndarray, stats: RamStats | None = None):
        self.ram = ram
        self.pages = ram.size // PAGE
        self.words = ram.view(np.uint64).reshape(self.pages, PAGE // 8)
        self.stats = stats if stats is not None else RamStats()
        self._queue = np.zeros(0, dtype=np.int64)
        self._next = 0

    def queue(self, mask: np.ndarray) -> None:
        """Pages (a bool array, one per page) to send in this round."""
        self._queue = np.flatnonzero(mask)
        self._next = 0

    @property
    def remaining_pages(self) -> int:
        return len(self._queue) - self._next

    def send(self, writer, budget: int | None = None) -> bool:
        """Send queued pages until about `budget` bytes have gone (None: all).  True when
        the round is complete."""
        start = writer.bytes
        q = self._queue
        while self._next < len(q):
            if budget is not None and writer.bytes - start >= budget:
                return False
            # a small budget sends a small batch: pacing stays close to the limit
            n = CHUNK_PAGES if budget is None else max(1, min(CHUNK_PAGES, budget // PAGE))
            batch = q[self._next:self._next + n]
            # split the batch into runs of consecutive pages
            breaks = np.flatnonzero(np.diff(batch) != 1) + 1
            for run in np.split(batch, breaks):
                self._send_run(writer, int(run[0]), len(run))
            self._next += len(batch)
        return True

    def _send_run(self, writer, first: int, count: int):
        nonzero = self.words[first:first + count].any(axis=1)
        # split again where pages change between zero and data
        edges = np.flatnonzero(np.diff(nonzero.view(np.int8))) + 1
        for lo, hi in zip(np.concatenate(([0], edges)), np.concatenate((edges, [count]))):
            lo, hi = int(lo), int(hi)
            n = hi - lo
            if not nonzero[lo]:
                payload = pack([first + lo, n, ZERO, b""])
                self.stats.duplicate += n
            else:
                data = self.ram[(first + lo) * PAGE:(first + hi) * PAGE].tobytes()
                packed = lz4.block.compress(data, store_size=False)
                enc, body = (LZ4, packed) if len(packed) < len(data) else (RAW, data)
                payload = pack([first + lo, n, enc, body])
                self.stats.normal += n
                self.stats.normal_bytes += len(data)
            self.stats.wire_bytes += len(payload)
            writer.record(RAM, payload)


def load_ram_record(ram: np.ndarray, payload: bytes, written: np.ndarray | None = None) -> int:
    """Check one RAM record against a RAM of ram.size bytes and write its pages; returns
    the number of pages.  Nothing is written if the record is bad.  written (one bool per
    page, kept by the caller): the pages data went to; a zero run clears only those, since
    the rest of a new machine's RAM is zero already (and untouched, so it costs no memory)."""
    rec = unpack(payload, "RAM record")
    pages = ram.size // PAGE
    if not (isinstance(rec, list) and len(rec) == 4):
        raise MigrationError("RAM record: expected [first page, count, encoding, data]")
    first, count, enc, data = rec
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (first, count, enc)) \
            or not isinstance(data, bytes):
        raise MigrationError("RAM record: bad field types")
    if count < 1 or first < 0 or first + count > pages:
        raise MigrationError(f"RAM record: pages {first}+{count} outside the "
                             f"{pages}-page RAM")
    size = count * PAGE
    if enc == ZERO:
        if data:
            raise MigrationError("RAM record: a zero run carries data")
        if written is None:
            ram[first * PAGE:first * PAGE + size] = 0
        else:
            for page in np.flatnonzero(written[first:first + count]) + first:
                ram[page * PAGE:(page + 1) * PAGE] = 0
            written[first:first + count] = False
        return count
    if count > CHUNK_PAGES:
        raise MigrationError(f"RAM record: a data run of {count} pages is over "
                             f"{CHUNK_PAGES}")
    if enc == RAW:
        body = data
    elif enc == LZ4:
        try:
            body = lz4.block.decompress(data, uncompressed_size=size)
        except Exception as exc:            # noqa: BLE001 -- lz4 reports corrupt input so
            raise MigrationError(f"RAM record: bad lz4 data ({exc})") from None
    else:
        raise MigrationError(f"RAM record: unknown encoding {enc}")
    if len(body) != size:
        raise MigrationError(f"RAM record: {len(body)} bytes of data for {count} pages")
    ram[first * PAGE:first * PAGE + size] = np.frombuffer(body, dtype=np.uint8)
    if written is not None:
        written[first:first + count] = True
    return count
