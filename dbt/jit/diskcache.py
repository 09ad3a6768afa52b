"""The on-disk code cache: compiled blocks kept as relocatable objects, so a second run of the
same program (or boot of the same kernel) skips most compilation.

An entry is keyed by a digest of the translator's fingerprint (a hash of the dbt sources: any
change to decoding, semantics or the state layout makes new keys), the block's pc and context,
and the guest instruction words it was translated from.  A lookup by (pc, ctx) returns the
candidates; the caller re-reads the guest words and takes the entry whose digest matches, so
stale code is never loaded.  Objects reference helpers by symbol (symbols.py), never by address.

Location: $DBT_CACHE_DIR, else $XDG_CACHE_HOME/dbt-vm, else ~/.cache/dbt-vm.  DBT_CODE_CACHE=0
turns it off.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import sqlite3
import struct

_fingerprint = None


def fingerprint() -> bytes:
    """A hash of the dbt sources translated code depends on."""
    global _fingerprint
    if _fingerprint is None:
        import llvmlite
        import llvmlite.binding as llvm
        h = hashlib.sha256()
        h.update(f"{llvmlite.__version__} {llvm.get_process_triple()} {llvm.get_host_cpu_name()} "
                 f"{llvm.get_host_cpu_features().flatten()}".encode())
        root = pathlib.Path(__file__).resolve().parent.parent
        # what translated code depends on: the decoder and semantics, the translator, and the
        # CPU's state layout and helpers (not the board, its devices or the command line)
        for path in sorted(p for d in ("frontend", "jit", "cpu", "user")
                           for p in (root / d).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
        _fingerprint = h.digest()
    return _fingerprint


def digest(pc: int, ctx: int, words: bytes) -> str:
    h = hashlib.sha256(fingerprint())
    h.update(struct.pack("<QQ", pc & (2**64 - 1), ctx & (2**64 - 1)))
    h.update(words)
    return h.hexdigest()[:32]


def default_dir() -> pathlib.Path:
    d = os.environ.get("DBT_CACHE_DIR")
    if d:
        return pathlib.Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "dbt-vm"


class DiskCache:
    COMMIT_EVERY = 256
    MAX_BYTES = 256 << 20       # past this, entries of older translator versions are dropped

    def __init__(self, directory: pathlib.Path | None = None):
        self.db = None
        self.pending = []           # rows written in one short transaction by flush()
        self.pending_regions = []
        self.stores = 0
        try:
            self._open(directory or default_dir())
        except (OSError, sqlite3.Error) as e:
            self._give_up(e)

    def _give_up(self, error):
        """The cache is an optimisation: any trouble with it (a locked or corrupt database,
        a read-only disk) turns it off for this process, with one line on stderr."""
        import sys
        if self.db is not None:
            print(f"dbt: code cache disabled: {error}", file=sys.stderr)
            try:
                self.db.close()
            except sqlite3.Error:
                pass
        self.db = None
        self.pending = []

    def _open(self, directory):
        directory.mkdir(parents=True, exist_ok=True)
        # several dbt processes may share the cache (two VMs, a migration's two ends): a
        # writer holds the lock for one short transaction, so waiting for it is cheap
        self.db = sqlite3.connect(str(directory / "code.sqlite"), timeout=30.0,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")
        self.version = fingerprint().hex()[:16]
        self.db.execute("CREATE TABLE IF NOT EXISTS code (digest TEXT PRIMARY KEY, version TEXT, "
                        "pc INTEGER, ctx INTEGER, nbytes INTEGER, ninsns INTEGER, name TEXT, "
                        "slots TEXT, obj BLOB)")
        self.db.execute("CREATE INDEX IF NOT EXISTS by_pc ON code (version, pc, ctx)")
        # regions: several blocks compiled together; members is JSON
        # [[pc, nbytes, ninsns, name, [[slot, target], ...]], ...], the head first
        self.db.execute("CREATE TABLE IF NOT EXISTS region (digest TEXT PRIMARY KEY, "
                        "version TEXT, pc INTEGER, ctx INTEGER, members TEXT, obj BLOB)")
        self.db.execute("CREATE INDEX IF NOT EXISTS region_by_pc ON region (version, pc, ctx)")
        self.db.execute("DROP TABLE IF EXISTS blocks")        # the layout before versions
        db_file = directory / "code.sqlite"
        if db_file.stat().st_size > self.MAX_BYTES:
            # entries of other translator versions can never be used again; compact only
            # when some went (a cache of this version alone may well be larger)
            with self.db:
                gone = self.db.execute("DELETE FROM code WHERE version != ?",
                                       (self.version,)).rowcount
                gone += self.db.execute("DELETE FROM region WHERE version != ?",
                                        (self.version,)).rowcount
            if gone:
                self.db.execute("VACUUM")

    _shared = None

    @classmethod
    def shared(cls) -> "DiskCache":
        """One cache per process, flushed at exit."""
        if cls._shared is None:
            import atexit
            cls._shared = cls()
            atexit.register(cls._shared.close)
        return cls._shared

    @staticmethod
    def enabled() -> bool:
        return os.environ.get("DBT_CODE_CACHE", "1") != "0"

    def candidates(self, pc: int, ctx: int):
        """[(digest, nbytes)] stored by this translator version for this pc and context."""
        if self.db is None:
            return []
        try:
            return self.db.execute("SELECT digest, nbytes FROM code WHERE version = ? AND "
                                   "pc = ? AND ctx = ?",
                                   (self.version, _s64(pc), _s64(ctx))).fetchall()
        except sqlite3.Error as e:
            self._give_up(e)
            return []

    def entry(self, key: str):
        """(ninsns, name, slots, obj) of one entry, or None."""
        if self.db is None:
            return None
        try:
            row = self.db.execute("SELECT ninsns, name, slots, obj FROM code WHERE digest = ?",
                                  (key,)).fetchone()
        except sqlite3.Error as e:
            self._give_up(e)
            return None
        if row is None:
            return None
        ninsns, name, slots, obj = row
        return ninsns, name, {s: t for s, t in json.loads(slots)}, obj

    def put(self, key: str, pc: int, ctx: int, nbytes: int, ninsns: int, name: str,
            slots: dict, obj: bytes):
        if self.db is None:
            return
        self.pending.append((key, self.version, _s64(pc), _s64(ctx), nbytes, ninsns, name,
                             json.dumps(list(slots.items())), obj))
        self.stores += 1
        if len(self.pending) >= self.COMMIT_EVERY:
            self.flush()

    def region_candidates(self, pc: int, ctx: int):
        """[(digest, members)] of the regions headed by this pc and context."""
        if self.db is None:
            return []
        try:
            rows = self.db.execute("SELECT digest, members FROM region WHERE version = ? AND "
                                   "pc = ? AND ctx = ?",
                                   (self.version, _s64(pc), _s64(ctx))).fetchall()
        except sqlite3.Error as e:
            self._give_up(e)
            return []
        return [(key, json.loads(members)) for key, members in rows]

    def region_object(self, key: str):
        if self.db is None:
            return None
        try:
            row = self.db.execute("SELECT obj FROM region WHERE digest = ?", (key,)).fetchone()
        except sqlite3.Error as e:
            self._give_up(e)
            return None
        return None if row is None else row[0]

    def put_region(self, key: str, pc: int, ctx: int, members: list, obj: bytes):
        if self.db is None:
            return
        self.pending_regions.append((key, self.version, _s64(pc), _s64(ctx),
                                     json.dumps(members), obj))
        self.stores += 1
        if len(self.pending_regions) >= self.COMMIT_EVERY // 8:
            self.flush()

    def flush(self):
        if self.pending_regions and self.db is not None:
            try:
                with self.db:
                    self.db.executemany("INSERT OR REPLACE INTO region VALUES (?, ?, ?, ?, ?, ?)",
                                        self.pending_regions)
            except sqlite3.OperationalError as e:
                if "locked" not in str(e):
                    self._give_up(e)
            except sqlite3.Error as e:
                self._give_up(e)
        self.pending_regions = []
        if self.pending and self.db is not None:
            try:
                with self.db:
                    self.db.executemany("INSERT OR REPLACE INTO code VALUES "
                                        "(?, ?, ?, ?, ?, ?, ?, ?, ?)", self.pending)
            except sqlite3.OperationalError as e:
                if "locked" not in str(e):
                    self._give_up(e)
                # another process is writing: these entries are simply not kept
            except sqlite3.Error as e:
                self._give_up(e)
        self.pending = []

    def close(self):
        self.flush()
        if self.db is not None:
            try:
                # fold the write-ahead log back into the database, so it does not grow
                # without bound while other processes keep reading
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self.db.close()
            self.db = None


def _s64(v: int) -> int:
    v &= 2**64 - 1
    return v - 2**64 if v >> 63 else v


# taken when the translator is imported, not at its first use: a long-running process must
# not file code it translates with its loaded modules under the name of sources edited since
fingerprint()
