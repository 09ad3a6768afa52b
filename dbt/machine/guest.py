"""The acceptance guest: Debian's arm64 Linux 6.12 (trixie) and a busybox initramfs.

`fetch_default_guest()` downloads, once, the kernel package and Debian's `busybox-static` for
arm64 through a private apt configuration in a temporary folder -- the Debian mirror the host's
own apt sources name, suite trixie, APT::Architecture arm64, its own lists, source list, cache and
(empty) dpkg status -- so the host's apt state is neither read for packages nor changed.  The
kernel Image and the initramfs built around busybox (dbt/machine/initramfs.py) are cached under
$XDG_CACHE_HOME/dbt-vm/guest (default ~/.cache/dbt-vm/guest).  Every file is written to a
temporary name and renamed into place, and the manifest naming them is written last, so an
interrupted run leaves nothing that a later run would trust; a lock file serialises concurrent
runs; a second call reads the manifest and returns at once, without the network.

The module also drives the guest's console (`Console`, `boot_and_poweroff`) for the tools and
tests that boot it, under QEMU (`qemu_command`) or, later, under dbt-vm itself.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dbt.machine.initramfs import (MARKER, layout_key, write_atomically,
                                   write_busybox_initramfs)

SUITE = "trixie"
ARCH = "arm64"
COMPONENT = "main"
KERNEL_META = "linux-image-arm64"                   # depends on the current 6.12 image package
KERNEL_RE = re.compile(r"^linux-image-(6\.12\.[^-\s]+)-arm64$")   # no -rt/-cloud/-16k flavours
BUSYBOX_PACKAGE = "busybox-static"
MIRROR_ENV = "DBT_VM_DEBIAN_MIRROR"     # overrides the mirror found in the host's apt sources
APT_SOURCES = Path("/etc/apt")
DEBIAN_SUITES = {"buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
                 "oldoldstable", "oldstable", "stable", "testing", "unstable", "experimental"}
MANIFEST = "guest.json"

# the kernel command line the tools and tests boot with.  cryptomgr.notests skips the crypto
# self-tests: over half of the boot's instructions by reference/LINUX_GUEST.md's count; under
# QEMU 7.2 here it saves 0.4-0.8 s of a 2.5-4 s boot to /init (tools/boot-linux-qemu).
DEFAULT_APPEND = "console=ttyAMA0 cryptomgr.notests"
PROMPT_RE = r"dbt-vm:[^\r\n]*# "
INIT_LINE = r"Run /init as init process"    # the kernel's last line before /init


class GuestFetchError(RuntimeError):
    """The default guest could not be fetched; str() is a one-line explanation."""


# ---------------------------------------------------------------------------------------------
# the cache


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "dbt-vm" / "guest"


def cached_guest(cache: Path | None = None) -> tuple[Path, Path] | None:
    """(kernel, initrd) if a complete guest is cached and its initramfs matches the current
    /init, else None.  Never touches the network."""
    cache = cache or cache_dir()
    try:
        m = json.loads((cache / MANIFEST).read_text())
        kernel, initrd = cache / m["kernel"], cache / m["initrd"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if m.get("layout") != layout_key() or not (kernel.is_file() and initrd.is_file()):
        return None
    return kernel, initrd


def guest_manifest(cache: Path | None = None) -> dict:
    """The cached guest's manifest (package names and versions), or {}."""
    try:
        return json.loads(((cache or cache_dir()) / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


class _CacheLock:
    def __init__(self, cache: Path):
        self.path = cache / ".lock"

    def __enter__(self):
        self.f = open(self.path, "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def fetch_default_guest(progress: bool = True, refresh: bool = False,
                        cache: Path | None = None) -> tuple[Path, Path]:
    """(kernel Image, initramfs) of the acceptance guest, fetched and built on first use.

    Raises GuestFetchError with a one-line message when apt, the host's Debian sources or the
    network are not available."""
    cache = cache or cache_dir()
    if not refresh and (hit := cached_guest(cache)):
        return hit
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GuestFetchError(f"cannot create the guest cache {cache}: {e.strerror}") from None
    with _CacheLock(cache):
        if not refresh and (hit := cached_guest(cache)):      # another process finished it
            return hit
        for stale in cache.glob(".tmp-*"):                    # left by an interrupted run
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        m = {} if refresh else guest_manifest(cache)
        have_kernel = m.get("kernel") and (cache / m["kernel"]).is_file()
        have_busybox = m.get("busybox") and (cache / m["busybox"]).is_file()
        if not (have_kernel and have_busybox):
            m = _download(cache, progress)
        initrd = f"initramfs-busybox-{m['busybox_version']}-{layout_key()}.cpio.gz"
        if not (cache / initrd).is_file():
            write_busybox_initramfs(cache / m["busybox"], cache / initrd)
        m.update(initrd=initrd, layout=layout_key())
        write_atomically(cache / MANIFEST, (json.dumps(m, indent=2) + "\n").encode())
        keep = {m["kernel"], m["busybox"], initrd, f"config-{m['kernel_release']}"}
        for pattern in ("vmlinuz-*", "config-*", "busybox-*", "initramfs-*.cpio.gz"):
            for old in cache.glob(pattern):       # superseded by --refresh or a new /init
                if old.name not in keep:
                    old.unlink(missing_ok=True)
        if progress:
            _say(f"guest cached in {cache}")
    return cache / m["kernel"], cache / initrd


def _download(cache: Path, progress: bool) -> dict:
    """Fetch the kernel and busybox packages and unpack what the guest needs into `cache`;
    returns the manifest entries for them."""
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise GuestFetchError(f"{tool} not found: fetching the default guest needs a "
                                  f"Debian-based host with apt (or pass --kernel/--initrd)")
    mirrors = debian_mirrors()
    with PrivateApt(mirrors, cache) as apt:
        if progress:
            _say(f"Debian mirror (from this machine's apt sources): "
                 f"{', '.join(m.uri for m in mirrors)}")
        apt.update(progress)
        kpkg, kver = apt.kernel_package()
        bver = apt.version(BUSYBOX_PACKAGE)
        debs = apt.download([kpkg, BUSYBOX_PACKAGE], progress)
        kernel_deb = next(d for d in debs if d.name.startswith(kpkg + "_"))
        busybox_deb = next(d for d in debs if d.name.startswith(BUSYBOX_PACKAGE + "_"))
        release = kpkg[len("linux-image-"):]
        if progress:
            _say(f"unpacking {kpkg} {kver} and {BUSYBOX_PACKAGE} {bver}")
        got = _extract(kernel_deb, {f"boot/vmlinuz-{release}": cache / f"vmlinuz-{release}",
                                    f"boot/config-{release}": cache / f"config-{release}"})
        if f"boot/vmlinuz-{release}" not in got:
            raise GuestFetchError(f"{kernel_deb.name} holds no boot/vmlinuz-{release}")
        image = (cache / f"vmlinuz-{release}").read_bytes()[:64]
        if image[:2] != b"MZ" or image[0x38:0x3C] != b"ARMd":
            raise GuestFetchError(f"boot/vmlinuz-{release} is not an arm64 Image")
        bb = f"busybox-{bver.split(':')[-1]}"
        got = _extract(busybox_deb, {"bin/busybox": cache / bb, "usr/bin/busybox": cache / bb})
        if not got:
            raise GuestFetchError(f"{busybox_deb.name} holds no bin/busybox")
    return {"kernel": f"vmlinuz-{release}", "kernel_package": kpkg, "kernel_version": kver,
            "kernel_release": release, "busybox": bb, "busybox_version": bver.split(":")[-1],
            "suite": SUITE, "arch": ARCH}


def _extract(deb: Path, wanted: dict[str, Path]) -> set[str]:
    """Copy the members of `deb` named in `wanted` (paths without "./") to their destinations,
    each through a temporary file and a rename.  Streams `dpkg-deb --fsys-tarfile` and stops as
    soon as everything wanted has been seen, so the kernel's modules are never unpacked."""
    errf = tempfile.TemporaryFile()
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                            stderr=errf)
    got: set[str] = set()
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name in wanted and member.isfile():
                    dest = wanted[name]
                    with tar.extractfile(member) as src:
                        write_atomically(dest, src.read(), 0o755 if member.mode & 0o111 else 0o644)
                    got.add(name)
                    if len(got) == len({str(p) for p in wanted.values()}):
                        break
    except tarfile.TarError as e:
        raise GuestFetchError(f"cannot unpack {deb.name}: {e}") from None
    finally:
        proc.stdout.close()
        proc.kill()
        rc = proc.wait()
        errf.seek(0)
        err = errf.read().decode(errors="replace")
        errf.close()
    if not got and rc != 0:
        raise GuestFetchError(f"dpkg-deb cannot read {deb.name}: {_first_error(err)}")
    return got


# ---------------------------------------------------------------------------------------------
# the host's Debian mirror


@dataclass
class Mirror:
    uri: str
    signed_by: str | None = None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _deb822_stanzas(text: str):
    stanza: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, None
        elif line[0] in " \t" and key:
            stanza[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            stanza[key] = value.strip()
    if stanza:
        yield stanza


def _is_debian_suite(suite: str) -> bool:
    base, _, pocket = suite.partition("-")
    base = base.split("/")[0]
    return base in DEBIAN_SUITES and pocket not in ("security",)


def parse_apt_sources(etc: Path = APT_SOURCES) -> list[Mirror]:
    """The Debian archive mirrors named by the apt sources under `etc` (sources.list, and
    sources.list.d/*.list one-line and *.sources deb822 files), in order, without duplicates:
    `deb` entries whose suite is a Debian release (not its -security pocket)."""
    entries: list[tuple[str, str, list[str]]] = []    # (uri, signed-by, suites)
    files = [etc / "sources.list"] + sorted((etc / "sources.list.d").glob("*"))
    for path in files:
        if path.name.endswith(".list"):
            for line in _read(path).splitlines():
                line = line.split("#", 1)[0].strip()
                m = re.match(r"^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
                if not m:
                    continue
                opts = dict(o.split("=", 1) for o in (m.group(1) or "").split() if "=" in o)
                if ARCH not in opts.get("arch", ARCH).split(","):
                    continue
                entries.append((m.group(2), opts.get("signed-by"), [m.group(3)]))
        elif path.name.endswith(".sources"):
            for st in _deb822_stanzas(_read(path)):
                if "deb" not in st.get("types", "").split():
                    continue
                if st.get("enabled", "yes").lower() == "no":
                    continue
                if ARCH not in st.get("architectures", ARCH).split():
                    continue
                signed = st.get("signed-by")
                if signed and "\n" in signed:     # an embedded key block, not a path
                    signed = None
                for uri in st.get("uris", "").split():
                    entries.append((uri, signed, st.get("suites", "").split()))
    mirrors: list[Mirror] = []
    for uri, signed, suites in entries:
        if uri.startswith(("cdrom:", "file:", "copy:")):
            continue
        if any(_is_debian_suite(s) for s in suites) and all(m.uri != uri for m in mirrors):
            mirrors.append(Mirror(uri.rstrip("/"), signed))
    return mirrors


def debian_mirrors() -> list[Mirror]:
    if env := os.environ.get(MIRROR_ENV):
        return [Mirror(u.rstrip("/")) for u in env.split()]
    mirrors = parse_apt_sources()
    if not mirrors:
        raise GuestFetchError(f"no Debian mirror in the host's apt sources ({APT_SOURCES}/"
                              f"sources.list, sources.list.d/): set {MIRROR_ENV} to a Debian "
                              f"archive URI")
    return mirrors


# ---------------------------------------------------------------------------------------------
# a private apt


_CARRIED = re.compile(r"^Acquire::(?:[\w-]+::)?(?:Proxy|Proxy::\S+|Check-Valid-Until|Check-Date"
                      r"|Retries|ForceIPv4|ForceIPv6|http::Timeout|https::Timeout"
                      r"|https::CaInfo|https::Verify-Peer)\s")


class PrivateApt:
    """apt-get and apt-cache over a configuration of their own in a temporary folder: the
    given Debian mirrors, suite trixie, architecture arm64, private lists, cache, source list
    and an empty dpkg status.  The host's apt.conf.d is not read (its hooks would run, and its
    index targets be fetched); only its proxy and validity settings are carried over."""

    def __init__(self, mirrors: list[Mirror], parent: Path | None = None):
        self.mirrors = mirrors
        self.parent = parent

    def __enter__(self):
        # in the cache folder when given, so a run killed outright leaves its temporary folder
        # where the next run's clean-up finds it
        self.root = Path(tempfile.mkdtemp(prefix=".tmp-apt-", dir=self.parent))
        r = self.root
        for d in ("lists/partial", "cache/archives/partial", "etc/apt.conf.d",
                  "etc/sources.list.d", "etc/preferences.d", "download"):
            (r / d).mkdir(parents=True)
        (r / "status").write_text("")
        lines = []
        for m in self.mirrors:
            opts = f" [signed-by={m.signed_by}]" if m.signed_by else ""
            lines.append(f"deb{opts} {m.uri} {SUITE} {COMPONENT}")
        (r / "etc/sources.list").write_text("\n".join(lines) + "\n")
        conf = [
            f'Dir::Etc::Parts "{r}/etc/apt.conf.d";',
            f'Dir::Etc::Main "{r}/etc/apt.conf";',
            f'Dir::Etc::SourceList "{r}/etc/sources.list";',
            f'Dir::Etc::SourceParts "{r}/etc/sources.list.d";',
            f'Dir::Etc::Preferences "{r}/etc/preferences";',
            f'Dir::Etc::PreferencesParts "{r}/etc/preferences.d";',
            f'Dir::State "{r}";',
            f'Dir::State::Lists "{r}/lists";',
            f'Dir::State::status "{r}/status";',
            f'Dir::Cache "{r}/cache";',
            f'Dir::Log "{r}";',
            f'APT::Architecture "{ARCH}";',
            f'APT::Architectures {{ "{ARCH}"; }};',
            'Acquire::Languages "none";',
            'Acquire::GzipIndexes "true";',      # keep the lists compressed
            'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";',
        ]
        conf += self._carried_host_settings()
        if os.geteuid() == 0:
            # as root, apt drops to the _apt user for downloads, who cannot reach this private
            # 0700 folder; download as root here, as `apt-get download` into a root-only
            # folder does anyway (with a warning)
            conf.append('APT::Sandbox::User "root";')
        (r / "etc/apt.conf").write_text("\n".join(conf) + "\n")
        self.env = {**os.environ, "APT_CONFIG": str(r / "etc/apt.conf"), "LC_ALL": "C",
                    "DEBIAN_FRONTEND": "noninteractive"}
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _carried_host_settings() -> list[str]:
        try:
            dump = subprocess.run(["apt-config", "dump"], capture_output=True, text=True,
                                  timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        return [line for line in dump.splitlines() if _CARRIED.match(line)]

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(list(args), capture_output=True, text=True, env=self.env,
                                  cwd=cwd or self.root, timeout=3600)
        except subprocess.TimeoutExpired:
            raise GuestFetchError(f"{args[0]} {args[1]} timed out") from None

    def _run_watched(self, args: list[str], measure, total: int | None, label: str,
                     progress: bool, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run apt quietly while a progress bar follows `measure()`, the bytes arrived."""
        bar = _ProgressBar(label, total) if progress else None
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, cwd=cwd or self.root)
        out: dict[str, str] = {}
        reader = threading.Thread(target=lambda: out.update(
            zip(("stdout", "stderr"), proc.communicate())), daemon=True)
        reader.start()
        try:
            while reader.is_alive():
                reader.join(0.2)
                if bar:
                    bar.update(measure())
        except BaseException:
            proc.kill()
            raise
        finally:
            if bar:
                bar.close(measure() if proc.returncode == 0 else None)
        return subprocess.CompletedProcess(args, proc.returncode, out.get("stdout", ""),
                                           out.get("stderr", ""))

    def update(self, progress: bool):
        # the compressed indexes as they arrive in lists/partial (apt moves each out when it
        # is complete, so keep the largest sum seen)
        partial, seen = self.root / "lists" / "partial", [0]

        def arrived() -> int:
            seen[0] = max(seen[0], _tree_size(partial, _COMPRESSED))
            return seen[0]
        r = self._run_watched(["apt-get", "-q", "update"], arrived, None,
                              f"{SUITE}/{ARCH} package lists", progress)
        problems = _first_error(r.stdout + "\n" + r.stderr,
                                prefixes=("W: Failed to fetch", "W: GPG error", "E:", "Err:",
                                          "W:"))
        if r.returncode != 0 or not any((self.root / "lists").glob("*Packages*")):
            uris = ", ".join(m.uri for m in self.mirrors)
            hint = (" (the host's debian-archive-keyring may predate trixie's keys)"
                    if "NO_PUBKEY" in problems or "GPG error" in problems else "")
            raise GuestFetchError(f"apt-get update of Debian {SUITE} ({ARCH}) from {uris} failed"
                                  f": {problems or 'no package list arrived'}{hint}")

    def version(self, package: str) -> str:
        r = self.run("apt-cache", "show", "--no-all-versions", package)
        m = re.search(r"^Version: (\S+)", r.stdout, re.M)
        if r.returncode != 0 or not m:
            raise GuestFetchError(f"Debian {SUITE} ({ARCH}) has no package {package}")
        return m.group(1)

    def kernel_package(self) -> tuple[str, str]:
        """The current linux-image-6.12.*-arm64 package (the one linux-image-arm64 depends
        on, else the newest such name) and its version."""
        r = self.run("apt-cache", "depends", "--important", KERNEL_META)
        names = [n for n in re.findall(r"Depends:\s*(\S+)", r.stdout) if KERNEL_RE.match(n)]
        if not names:
            r = self.run("apt-cache", "pkgnames", "linux-image-6.12.")
            names = sorted((n for n in r.stdout.split() if KERNEL_RE.match(n)),
                           key=lambda n: [int(x) for x in
                                          re.findall(r"\d+", KERNEL_RE.match(n).group(1))])[-1:]
        if not names:
            raise GuestFetchError(f"Debian {SUITE} ({ARCH}) lists no linux-image-6.12.*-arm64")
        return names[0], self.version(names[0])

    def download(self, packages: list[str], progress: bool) -> list[Path]:
        """`apt-get download` the packages (hashes checked by apt against the signed index)
        into the private folder, with a progress bar; returns the .deb files."""
        dest = self.root / "download"
        r = self.run("apt-get", "download", "--print-uris", *packages, cwd=dest)
        sizes = [int(s) for s in re.findall(r"^'\S+' \S+ (\d+) ", r.stdout, re.M)]
        if r.returncode != 0 or len(sizes) != len(packages):
            raise GuestFetchError(f"apt-get download {' '.join(packages)}: "
                                  f"{_first_error(r.stdout + r.stderr) or 'no URIs'}")
        total = sum(sizes)
        r = self._run_watched(["apt-get", "-q", "download", *packages],
                              lambda: _tree_size(dest), total,
                              " + ".join(packages), progress, cwd=dest)
        debs = sorted(dest.glob("*.deb"))
        if r.returncode != 0 or len(debs) != len(packages):
            raise GuestFetchError(f"apt-get download {' '.join(packages)} failed: "
                                  f"{_first_error(r.stdout + r.stderr) or 'no files'}")
        return debs


def _first_error(text: str, prefixes=("E:", "W:", "Err:", "dpkg-deb:")) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for p in prefixes:
        for ln in lines:
            if ln.startswith(p):
                return " ".join(ln.split())
    return lines[-1] if lines else ""


_COMPRESSED = (".xz", ".gz", ".bz2", ".lz4", ".zst", ".lzma", "InRelease", "Release")


def _tree_size(path: Path, suffixes: tuple[str, ...] = ("",)) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            if not f.endswith(suffixes):
                continue
            try:
                total += os.stat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


# ---------------------------------------------------------------------------------------------
# progress on stderr


def _say(msg: str):
    print(f"dbt-vm: {msg}", file=sys.stderr, flush=True)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class _ProgressBar:
    """A one-line bar on stderr (redrawn with \\r on a terminal; on anything else a line when
    the step starts and one when it ends).  `total` None: bytes so far, no bar."""
    WIDTH = 30

    def __init__(self, label: str, total: int | None):
        self.label, self.total = label, total
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.last = 0.0
        if not self.tty:
            _say(f"downloading {label}" + (f" ({_mb(total)})" if total else ""))

    def _line(self, done: int) -> str:
        dt = max(time.monotonic() - self.t0, 1e-3)
        rate = f"{done / dt / 1e6:5.1f} MB/s"
        if self.total:
            frac = min(done / self.total, 1.0)
            fill = int(frac * self.WIDTH)
            return (f"dbt-vm: {self.label} [{'#' * fill}{'.' * (self.WIDTH - fill)}] "
                    f"{frac * 100:3.0f}% {_mb(done)}/{_mb(self.total)} {rate}")
        return f"dbt-vm: {self.label} {_mb(done)} ({dt:.1f} s)"

    def update(self, done: int):
        now = time.monotonic()
        if self.tty and now - self.last >= 0.1:
            self.last = now
            sys.stderr.write("\r\x1b[K" + self._line(done))
            sys.stderr.flush()

    def close(self, done: int | None):
        if self.tty:
            if done is not None:
                sys.stderr.write("\r\x1b[K" + self._line(done) + "\n")
            else:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif done is not None:
            _say(f"{self.label}: {_mb(done)} in {time.monotonic() - self.t0:.1f} s")


# ---------------------------------------------------------------------------------------------
# driving the guest's console


def qemu_command(kernel: Path, initrd: Path, smp: int = 4, memory: str = "512M",
                 append: str = DEFAULT_APPEND, qemu: str = "qemu-system-aarch64",
                 extra: tuple[str, ...] = ()) -> list[str]:
    """The QEMU 7.2 command line of the reference run: virt with GICv3, Cortex-A57, DT boot.
    `-nic none`: the board's default virtio-net NIC wants an option ROM (efi-virtio.rom) that
    Debian's qemu-system-arm does not depend on, and the guest has no virtio drivers anyway."""
    return [qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", str(smp),
            "-m", memory, "-nographic", "-nic", "none", "-no-reboot", "-kernel", str(kernel),
            "-initrd", str(initrd), "-append", append, *extra]


class ConsoleError(RuntimeError):
    pass


class Console:
    """A guest's serial console on a child process's stdin/stdout, pexpect-style: `expect`
    a regular expression in what the guest printed since the last match, `send` text.  Every
    byte read is kept in `text` (and written to `log` if given)."""

    PANIC = "Kernel panic - not syncing"

    def __init__(self, argv: list[str], log=None, echo=None):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, bufsize=0)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = bytearray()
        self.arrivals: list[tuple[int, float]] = []     # (end offset in buf, seconds) per read
        self.pos = 0
        self.log, self.echo = log, echo
        self.eof = False

    @property
    def text(self) -> str:
        return self.buf.decode(errors="replace")

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def _read(self, timeout: float):
        if self.eof:
            time.sleep(min(timeout, 0.05))
            return
        for _key, _ in self.sel.select(timeout):
            data = os.read(self.proc.stdout.fileno(), 65536)
            if not data:
                self.eof = True
                return
            self.buf += data
            self.arrivals.append((len(self.buf), self.elapsed()))
            for sink in (self.log, self.echo):
                if sink is not None:
                    sink.write(data.decode(errors="replace"))
                    sink.flush()

    def time_of(self, pattern: str) -> float | None:
        """Seconds from the start to the arrival of the first match of `pattern`, if any."""
        m = re.search(pattern.encode(), self.buf, re.M)
        if m is None:
            return None
        return next(t for end, t in self.arrivals if end >= m.end())

    def expect(self, pattern: str, timeout: float) -> re.Match:
        rx = re.compile(pattern.encode(), re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m
            if self.PANIC.encode() in self.buf[self.pos:]:
                raise ConsoleError(f"kernel panic while waiting for {pattern!r}")
            if self.eof and self.proc.poll() is not None:
                raise ConsoleError(f"guest exited ({self.proc.returncode}) while waiting for "
                                   f"{pattern!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConsoleError(f"timed out after {timeout:.0f} s waiting for {pattern!r}")
            self._read(min(left, 0.5))

    def send(self, text: str):
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise ConsoleError(f"guest exited before {text.strip()!r} could be sent") from None

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None or not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConsoleError(f"guest still running {timeout:.0f} s after poweroff")
            self._read(min(left, 0.2))
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.sel.close()


@dataclass
class GuestRun:
    returncode: int
    output: str
    t_marker: float             # seconds from start to the /init marker line
    t_total: float              # seconds from start to the process's exit
    answers: list[str] = field(default_factory=list)    # what each command printed
    report: dict = field(default_factory=dict)          # parse_cpu_report(output)
    t_init: float | None = None     # seconds to the kernel's "Run /init" (None if not printed)


def boot_and_poweroff(argv: list[str], commands: tuple[str, ...] = (), timeout: float = 300,
                      log=None, echo=None) -> GuestRun:
    """Boot the guest with `argv` (QEMU's or dbt-vm's command line), wait for the /init marker
    and the shell prompt, run each command in the shell (its output, without the echoed
    command line, goes to `answers`), then `poweroff -f` and wait for the process to exit.
    Raises ConsoleError, with the end of the console output, on a kernel panic, a timeout or
    an early exit."""
    con = Console(argv, log=log, echo=echo)
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(deadline - time.monotonic(), 1.0)
    try:
        con.expect(re.escape(MARKER), left())
        t_marker = con.elapsed()
        con.expect(PROMPT_RE, left())
        answers = []
        for cmd in commands:
            con.send(cmd + "\n")
            start = con.pos
            m = con.expect(PROMPT_RE, left())
            lines = con.buf[start:m.start()].decode(errors="replace").replace("\r", "")
            answers.append(lines.split("\n", 1)[1].strip() if "\n" in lines else "")
        con.send("poweroff -f\n")
        rc = con.wait(60)
        return GuestRun(rc, con.text, t_marker, con.elapsed(), answers,
                        parse_cpu_report(con.text), con.time_of(INIT_LINE))
    except ConsoleError as e:
        raise ConsoleError(f"{e}\n--- console (last 3000 characters) ---\n"
                           f"{con.text[-3000:]}") from None
    finally:
        con.close()


_REPORT = {
    "possible": r"^possible: (\S+)",
    "present": r"^present: (\S+)",
    "online": r"^online: (\S+)",
    "enabled": r"^enabled: (\S+)",
    "after_offline": r"^online after cpu3 offline: (\S+)",
    "after_online": r"^online after cpu3 online: (\S+)",
}


def parse_cpu_report(text: str) -> dict[str, str]:
    """The sysfs CPU lines /init prints: possible, present, online, enabled (6.11+), and the
    online mask after CPU 3 went offline and after it came back."""
    text = text.replace("\r", "")
    out = {}
    for key, rx in _REPORT.items():
        m = re.search(rx, text, re.M)
        if m:
            out[key] = m.group(1)
    return out
