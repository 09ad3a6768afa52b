"""The acceptance guest's initramfs: a gzip'd cpio "newc" archive written in Python.

The newc format (the kernel's Documentation/driver-api/early-userspace/buffer-format.rst) is a
sequence of entries, each a 110-byte ASCII header (magic "070701" and thirteen 8-digit hex
fields), the NUL-terminated name padded to a multiple of four bytes, then the data padded to a
multiple of four; a "TRAILER!!!" entry ends the archive.  No external cpio tool is needed, and
the output is byte-for-byte reproducible (mtime 0, fixed inode numbers, gzip mtime 0).

The archive holds Debian's static busybox at /bin/busybox, the applet links /init needs,
/dev/console (char 5,1) and /dev/null (char 1,3) -- devtmpfs is not auto-mounted by Debian's
kernel, and the kernel opens /dev/console for init before /init can mount anything -- and /init,
the busybox shell script below.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

NEWC_MAGIC = b"070701"
NEWC_HEADER_SIZE = 110
TRAILER = "TRAILER!!!"

# the line /init prints once the sysfs report and the CPU 3 offline/online are done
MARKER = "dbt-vm: init ready"
# the shell prompt /init sets (busybox ash expands \w to the working directory)
PS1 = r"dbt-vm:\w# "

INIT_SCRIPT = r"""#!/bin/sh
# /init of dbt-vm's acceptance guest (written by dbt/machine/initramfs.py)
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || echo "dbt-vm: no devtmpfs; using the archive's /dev"
/bin/busybox --install -s 2>/dev/null
echo "dbt-vm: Linux $(uname -r) $(uname -m)"

cpu=/sys/devices/system/cpu
for f in possible present online; do
    echo "$f: $(cat $cpu/$f)"
done
[ -e $cpu/enabled ] && echo "enabled: $(cat $cpu/enabled)"

if [ -e $cpu/cpu3/online ]; then
    if echo 0 > $cpu/cpu3/online; then
        echo "online after cpu3 offline: $(cat $cpu/online)"
    else
        echo "dbt-vm: taking cpu3 offline failed"
    fi
    if echo 1 > $cpu/cpu3/online; then
        echo "online after cpu3 online: $(cat $cpu/online)"
    else
        echo "dbt-vm: bringing cpu3 online failed"
    fi
else
    echo "dbt-vm: no cpu3 (fewer than 4 CPUs); skipping the cpu3 offline/online test"
fi

echo "__MARKER__"
export PS1='__PS1__'
export HOME=/root
cd /
# a login-like shell on the console's real tty (ttyAMA0), so job control and ^C work
setsid cttyhack sh
echo "dbt-vm: shell exited; powering off"
poweroff -f
echo "dbt-vm: poweroff failed"
exec sh
""".replace("__MARKER__", MARKER).replace("__PS1__", PS1)

# Applets linked in the archive: everything /init runs before `busybox --install -s` has put
# in the rest, and the basics of the interactive shell should --install be unavailable.
INIT_APPLETS = ("sh", "mount", "umount", "cat", "echo", "uname", "setsid", "cttyhack",
                "poweroff", "reboot", "ls", "mkdir", "dmesg", "ps", "grep", "sleep", "true")

DIRS = ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root",
        "etc", "run")
# (path, major, minor): the nodes the kernel and /init need before devtmpfs is mounted
DEVICE_NODES = (("dev/console", 5, 1), ("dev/null", 1, 3))

# bumped whenever the layout below changes in a way INIT_SCRIPT's text does not show
LAYOUT_VERSION = 1


@dataclass
class NewcEntry:
    """One member of a newc archive.  `name` has no leading '/'; `mode` includes the file type
    bits (stat.S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, ...); a symlink's data is its target."""
    name: str
    mode: int
    data: bytes = b""
    uid: int = 0
    gid: int = 0
    nlink: int = 1
    mtime: int = 0
    ino: int = 0
    devmajor: int = 0
    devminor: int = 0
    rdevmajor: int = 0
    rdevminor: int = 0

    @property
    def kind(self) -> str:
        return {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
                stat.S_IFCHR: "chardev", stat.S_IFBLK: "blockdev", stat.S_IFIFO: "fifo",
                stat.S_IFSOCK: "socket"}.get(stat.S_IFMT(self.mode), "unknown")


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def _header(e: NewcEntry, namesize: int) -> bytes:
    fields = (e.ino, e.mode, e.uid, e.gid, e.nlink, e.mtime, len(e.data), e.devmajor,
              e.devminor, e.rdevmajor, e.rdevminor, namesize, 0)
    for v in fields:
        if not 0 <= v <= 0xFFFF_FFFF:
            raise ValueError(f"cpio newc field out of range in {e.name!r}: {v}")
    return NEWC_MAGIC + b"".join(b"%08X" % v for v in fields)


def newc_archive(entries, block: int = 512) -> bytes:
    """The newc archive of `entries` (an iterable of NewcEntry), with the trailer, padded to a
    multiple of `block` bytes as cpio(1) does.  Entries with ino 0 are numbered from 1."""
    out = bytearray()
    next_ino = 1
    for e in list(entries) + [NewcEntry(TRAILER, 0, nlink=1)]:
        if e.ino == 0 and e.name != TRAILER:
            e = NewcEntry(**{**e.__dict__, "ino": next_ino})
            next_ino += 1
        name = e.name.lstrip("/").encode() + b"\0"
        if len(name) == 1:
            raise ValueError("empty cpio member name")
        out += _header(e, len(name)) + name
        out += b"\0" * _pad4(NEWC_HEADER_SIZE + len(name))
        out += e.data + b"\0" * _pad4(len(e.data))
    if block:
        out += b"\0" * ((block - len(out) % block) % block)
    return bytes(out)


def read_newc(data: bytes) -> list[NewcEntry]:
    """Parse a newc archive (uncompressed) back into entries, stopping at the trailer."""
    entries = []
    pos = 0
    while True:
        if pos + NEWC_HEADER_SIZE > len(data):
            raise ValueError(f"truncated cpio archive at offset {pos}")
        hdr = data[pos:pos + NEWC_HEADER_SIZE]
        if hdr[:6] != NEWC_MAGIC:
            raise ValueError(f"bad cpio newc magic at offset {pos}: {hdr[:6]!r}")
        f = [int(hdr[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = f[11], f[6]
        pos += NEWC_HEADER_SIZE
        name = data[pos:pos + namesize - 1].decode()
        pos += namesize + _pad4(NEWC_HEADER_SIZE + namesize)
        body = data[pos:pos + filesize]
        if len(body) != filesize:
            raise ValueError(f"truncated cpio member {name!r}")
        pos += filesize + _pad4(filesize)
        if name == TRAILER:
            return entries
        entries.append(NewcEntry(name, f[1], body, uid=f[2], gid=f[3], nlink=f[4], mtime=f[5],
                                 ino=f[0], devmajor=f[7], devminor=f[8], rdevmajor=f[9],
                                 rdevminor=f[10]))


class InitramfsBuilder:
    """Collects directories, files, symlinks and device nodes (parents created implicitly,
    in order) and writes them as a newc archive, gzip'd or not."""

    def __init__(self):
        self._entries: dict[str, NewcEntry] = {}

    def _parents(self, path: str):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self._entries:
                self.dir(d)

    def _add(self, entry: NewcEntry) -> NewcEntry:
        entry.name = entry.name.strip("/")
        self._parents(entry.name)
        self._entries[entry.name] = entry
        return entry

    def dir(self, path: str, mode: int = 0o755):
        return self._add(NewcEntry(path, stat.S_IFDIR | mode, nlink=2))

    def file(self, path: str, data: bytes, mode: int = 0o644):
        return self._add(NewcEntry(path, stat.S_IFREG | mode, bytes(data)))

    def symlink(self, path: str, target: str):
        return self._add(NewcEntry(path, stat.S_IFLNK | 0o777, target.encode()))

    def chardev(self, path: str, major: int, minor: int, mode: int = 0o600):
        return self._add(NewcEntry(path, stat.S_IFCHR | mode, rdevmajor=major, rdevminor=minor))

    def entries(self) -> list[NewcEntry]:
        return list(self._entries.values())

    def cpio(self) -> bytes:
        return newc_archive(self.entries())

    def cpio_gz(self) -> bytes:
        return gzip.compress(self.cpio(), compresslevel=9, mtime=0)


def busybox_initramfs(busybox: bytes, init_script: str = INIT_SCRIPT) -> InitramfsBuilder:
    """The acceptance guest's root file system around a static busybox binary."""
    if busybox[:4] != b"\x7fELF" or int.from_bytes(busybox[18:20], "little") != 183:
        raise ValueError("busybox is not an aarch64 ELF executable")
    b = InitramfsBuilder()
    for d in DIRS:
        b.dir(d)
    b.dir("tmp", 0o1777)
    b.dir("root", 0o700)
    for path, major, minor in DEVICE_NODES:
        b.chardev(path, major, minor, 0o600 if path == "dev/console" else 0o666)
    b.file("bin/busybox", busybox, 0o755)
    for applet in INIT_APPLETS:
        b.symlink(f"bin/{applet}", "busybox")
    b.file("etc/hostname", b"dbt-vm\n")
    b.file("init", init_script.encode(), 0o755)
    return b


def layout_key(init_script: str = INIT_SCRIPT) -> str:
    """A short hash of everything in the archive except busybox itself: caches name the built
    initramfs after it, so a change to /init or the layout rebuilds it."""
    h = hashlib.sha256(f"{LAYOUT_VERSION}\n{INIT_APPLETS}\n{DIRS}\n{DEVICE_NODES}\n".encode())
    h.update(init_script.encode())
    return h.hexdigest()[:12]


def write_atomically(path: Path, data: bytes, mode: int = 0o644):
    """Write `data` to a temporary file beside `path`, then rename it into place, so readers
    see either nothing or the whole file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_busybox_initramfs(busybox_path: Path, out_path: Path,
                            init_script: str = INIT_SCRIPT) -> Path:
    """Build the gzip'd initramfs around the busybox at `busybox_path` into `out_path`."""
    data = busybox_initramfs(Path(busybox_path).read_bytes(), init_script).cpio_gz()
    write_atomically(Path(out_path), data)
    return Path(out_path)
