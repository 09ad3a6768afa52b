"""The acceptance guest (issue 3, item 9): Debian's arm64 Linux 6.12 with a busybox initramfs.

Fast tests check the cpio newc writer, the initramfs layout, the apt-sources parser, the cache
and the console driver.  The slow tests (--runslow) fetch the real guest through the host's apt
configuration and boot it under QEMU with -smp 4: the oracle dbt-vm's own boot is held to.
"""
import gzip
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from dbt.machine import guest as G
from dbt.machine.initramfs import (INIT_SCRIPT, MARKER, InitramfsBuilder, NewcEntry,
                                   busybox_initramfs, layout_key, newc_archive, read_newc)

QEMU_SYSTEM = shutil.which("qemu-system-aarch64")
# an aarch64 ELF header (e_machine 183) standing in for busybox where only the layout matters
FAKE_AARCH64_ELF = b"\x7fELF\x02\x01\x01" + bytes(11) + (183).to_bytes(2, "little") + bytes(44)


# ---- the cpio newc writer -------------------------------------------------------------------

def test_newc_header_bytes():
    """One regular file, checked byte for byte against the format: 110-byte header, name
    padded so the data starts on a 4-byte boundary, data padded to 4, then the trailer."""
    data = newc_archive([NewcEntry("a", stat.S_IFREG | 0o644, b"hi", ino=7)], block=0)
    hdr = (b"070701" + b"00000007" + b"000081A4" + b"00000000" * 2 + b"00000001"
           + b"00000000" + b"00000002" + b"00000000" * 4 + b"00000002" + b"00000000")
    assert data[:110] == hdr
    assert data[110:112] == b"a\0"                      # 110 + 2 = 112: already aligned
    assert data[112:116] == b"hi\0\0"
    assert data[116:122] == b"070701"
    trailer_name = data[116 + 110:116 + 110 + 11]
    assert trailer_name == b"TRAILER!!!\0"
    assert len(data) % 4 == 0


def test_newc_round_trip_and_padding():
    b = InitramfsBuilder()
    b.file("usr/share/x/three", b"abc", 0o600)          # parents created implicitly
    b.symlink("bin/sh", "busybox")
    b.chardev("dev/console", 5, 1)
    b.file("odd-name-length", b"x" * 1001, 0o755)
    raw = b.cpio()
    assert len(raw) % 512 == 0
    entries = read_newc(raw)
    names = [e.name for e in entries]
    assert names == ["usr", "usr/share", "usr/share/x", "usr/share/x/three", "bin", "bin/sh",
                     "dev", "dev/console", "odd-name-length"]
    byname = {e.name: e for e in entries}
    assert byname["usr/share/x/three"].data == b"abc"
    assert stat.S_IMODE(byname["usr/share/x/three"].mode) == 0o600
    assert byname["bin/sh"].kind == "symlink" and byname["bin/sh"].data == b"busybox"
    con = byname["dev/console"]
    assert con.kind == "chardev" and (con.rdevmajor, con.rdevminor) == (5, 1)
    assert byname["odd-name-length"].data == b"x" * 1001
    assert len({e.ino for e in entries}) == len(entries)        # no accidental hard links
    assert gzip.decompress(b.cpio_gz()) == raw
    assert b.cpio_gz() == b.cpio_gz()                           # reproducible


@pytest.mark.skipif(shutil.which("cpio") is None, reason="the cpio tool is not installed")
def test_newc_listed_by_cpio(tmp_path):
    b = InitramfsBuilder()
    b.file("bin/busybox", b"\0" * 100, 0o755)
    b.symlink("bin/sh", "busybox")
    b.chardev("dev/console", 5, 1)
    r = subprocess.run(["cpio", "-t", "--quiet"], input=b.cpio(), capture_output=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["bin", "bin/busybox", "bin/sh", "dev", "dev/console"]


def test_busybox_initramfs_layout():
    entries = {e.name: e for e in read_newc(gzip.decompress(
        busybox_initramfs(FAKE_AARCH64_ELF).cpio_gz()))}
    assert entries["bin/busybox"].data == FAKE_AARCH64_ELF
    assert entries["bin/busybox"].mode & 0o111
    init = entries["init"]
    assert init.kind == "file" and init.mode & 0o111
    assert init.data.startswith(b"#!/bin/sh\n")
    assert entries["bin/sh"].data == b"busybox"
    for applet in ("mount", "cat", "setsid", "cttyhack", "poweroff", "uname"):
        assert entries[f"bin/{applet}"].kind == "symlink", applet
    assert (entries["dev/console"].rdevmajor, entries["dev/console"].rdevminor) == (5, 1)
    assert (entries["dev/null"].rdevmajor, entries["dev/null"].rdevminor) == (1, 3)
    for d in ("proc", "sys", "dev", "tmp"):
        assert entries[d].kind == "dir"
    for needed in ("mount -t proc", "mount -t sysfs", "devtmpfs",
                   "echo 0 > $cpu/cpu3/online", "echo 1 > $cpu/cpu3/online", MARKER,
                   "setsid cttyhack sh", "poweroff -f"):
        assert needed in INIT_SCRIPT, needed
    with pytest.raises(ValueError):
        busybox_initramfs(b"\x7fELF" + bytes(60))               # not aarch64


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_init_script_syntax():
    r = subprocess.run(["sh", "-n"], input=INIT_SCRIPT.encode(), capture_output=True)
    assert r.returncode == 0, r.stderr


# ---- the host's apt sources -----------------------------------------------------------------

def test_parse_apt_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(textwrap.dedent("""\
        # a comment
        deb http://one.example/debian bookworm main
        deb-src http://src.example/debian bookworm main
        deb [arch=amd64] http://amd64only.example/debian bookworm main
        deb http://one.example/debian bookworm-updates main
        deb http://other.example/ubuntu jammy main
        """))
    (tmp_path / "sources.list.d" / "debian.sources").write_text(textwrap.dedent("""\
        Types: deb
        URIs: http://two.example/debian/
        Suites: trixie trixie-updates
        Components: main
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

        Types: deb
        URIs: http://sec.example/debian-security
        Suites: trixie-security
        Components: main

        Types: deb
        URIs: http://off.example/debian
        Suites: sid
        Enabled: no
        """))
    (tmp_path / "sources.list.d" / "x.list.disabled").write_text(
        "deb http://disabled.example/debian bookworm main\n")
    mirrors = G.parse_apt_sources(tmp_path)
    assert [m.uri for m in mirrors] == ["http://one.example/debian", "http://two.example/debian"]
    assert mirrors[1].signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"


# ---- the cache ------------------------------------------------------------------------------

def _fake_cache(cache):
    cache.mkdir(parents=True)
    (cache / "vmlinuz-6.12.0-arm64").write_bytes(b"MZ")
    (cache / "busybox-1.0").write_bytes(FAKE_AARCH64_ELF)
    (cache / "config-6.12.0-arm64").write_text("")
    manifest = {"kernel": "vmlinuz-6.12.0-arm64", "kernel_release": "6.12.0-arm64",
                "busybox": "busybox-1.0", "busybox_version": "1.0"}
    (cache / G.MANIFEST).write_text(json.dumps(manifest))


def test_cache_hit_and_initramfs_rebuild(tmp_path, monkeypatch):
    """With the kernel and busybox cached, a (re)build of the initramfs needs no network, a
    second call is a manifest read, and leftovers of an interrupted run are removed."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = G.cache_dir()
    assert cache == tmp_path / "xdg" / "dbt-vm" / "guest"
    _fake_cache(cache)
    (cache / ".tmp-abandoned").write_bytes(b"half")
    monkeypatch.setattr(G, "_download", lambda *a: pytest.fail("must not download"))
    assert G.cached_guest() is None                     # no initramfs for this /init yet
    kernel, initrd = G.fetch_default_guest(progress=False)
    assert kernel == cache / "vmlinuz-6.12.0-arm64"
    assert initrd.name.endswith(f"-{layout_key()}.cpio.gz")
    assert read_newc(gzip.decompress(initrd.read_bytes()))
    assert not (cache / ".tmp-abandoned").exists()
    t = time.perf_counter()
    assert G.fetch_default_guest(progress=False) == (kernel, initrd)
    assert time.perf_counter() - t < 0.05
    assert G.cached_guest() == (kernel, initrd)


def test_missing_apt_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(G.GuestFetchError) as e:
        G.fetch_default_guest(progress=False)
    assert "apt-get not found" in str(e.value) and "\n" not in str(e.value)


# ---- the console driver, against a scripted stand-in for the guest --------------------------

FAKE_GUEST = r"""
import sys
w = sys.stdout.write
w("[    0.000000] Booting Linux\n[    2.0] Run /init as init process\n")
w("possible: 0-3\npresent: 0-3\nonline: 0-3\nonline after cpu3 offline: 0-2\n")
w("online after cpu3 online: 0-3\n%s\n\nBusyBox\n\ndbt-vm:/# " % sys.argv[1])
sys.stdout.flush()
for line in sys.stdin:
    w(line)                                   # the tty's echo
    cmd = line.strip()
    if cmd == "poweroff -f":
        w("[   20.0] reboot: Power down\n"); sys.stdout.flush(); sys.exit(0)
    if cmd == "echo hi-$((6*7))":
        w("hi-42\n")
    w("dbt-vm:/# "); sys.stdout.flush()
"""


def test_console_driver():
    run = G.boot_and_poweroff([sys.executable, "-c", FAKE_GUEST, MARKER],
                              commands=("echo hi-$((6*7))", "true"), timeout=30)
    assert run.returncode == 0
    assert run.answers == ["hi-42", ""]
    assert run.report == {"possible": "0-3", "present": "0-3", "online": "0-3",
                          "after_offline": "0-2", "after_online": "0-3"}
    assert 0 < run.t_init <= run.t_marker <= run.t_total


def test_console_driver_reports_panic():
    script = "import sys,time; print('Kernel panic - not syncing: VFS', flush=True); time.sleep(30)"
    with pytest.raises(G.ConsoleError, match="kernel panic"):
        G.boot_and_poweroff([sys.executable, "-c", script], timeout=20)


# ---- the real guest under QEMU --------------------------------------------------------------

@pytest.fixture(scope="module")
def linux_guest():
    try:
        return G.fetch_default_guest(progress=True)
    except G.GuestFetchError as e:
        pytest.skip(f"cannot fetch the guest: {e}")


@pytest.mark.slow
@pytest.mark.skipif(QEMU_SYSTEM is None, reason="qemu-system-aarch64 is not installed")
def test_linux_boots_under_qemu_smp4(linux_guest):
    kernel, initrd = linux_guest
    assert kernel.read_bytes()[0x38:0x3C] == b"ARMd"
    argv = G.qemu_command(kernel, initrd, smp=4)
    run = G.boot_and_poweroff(argv, commands=("echo hi-$((6*7))",), timeout=300)
    assert "Initramfs unpacking failed" not in run.output
    assert run.report["possible"] == "0-3"
    assert run.report["present"] == "0-3"
    assert run.report["online"] == "0-3"
    assert run.report["after_offline"] == "0-2"
    assert run.report["after_online"] == "0-3"
    assert run.answers == ["hi-42"]
    assert run.returncode == 0
    print(f"QEMU: /init at {run.t_init:.2f} s, marker at {run.t_marker:.2f} s, "
          f"total {run.t_total:.2f} s")


@pytest.mark.slow
@pytest.mark.skipif(QEMU_SYSTEM is None, reason="qemu-system-aarch64 is not installed")
def test_linux_init_with_two_cpus_skips_cpu3(linux_guest):
    kernel, initrd = linux_guest
    run = G.boot_and_poweroff(G.qemu_command(kernel, initrd, smp=2), timeout=300)
    assert run.report["online"] == "0-1"
    assert "skipping the cpu3 offline/online test" in run.output
    assert run.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("apt-get") is None, reason="apt-get is not installed")
def test_unreachable_mirror_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv(G.MIRROR_ENV, "http://127.0.0.1:9/debian")    # nothing listens there
    with pytest.raises(G.GuestFetchError) as e:
        G.fetch_default_guest(progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "127.0.0.1:9" in msg and "failed" in msg


@pytest.mark.slow
def test_tools_fetch_linux_prints_cached_paths(linux_guest):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([os.path.join(root, "tools", "fetch-linux")], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(p) for p in linux_guest]
    assert "downloading" not in r.stderr        # the second fetch is the cache
