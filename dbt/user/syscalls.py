"""The Linux arm64 system-call ABI: number in x8, arguments in x0-x5, result in x0 (a negative
errno on failure).

One small function per system call, in a table keyed by the arm64 number (asm-generic/unistd.h).
Each receives the Process and the raw 64-bit argument registers it declares.  A host OSError
becomes -errno (errno values are the same on x86-64 and arm64 hosts); a guest pointer that is
not mapped becomes -EFAULT.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl as _fcntl
import os
import platform
import re
import resource
import select
import struct
import time

from .addrspace import PAGE, PROT_READ, PROT_WRITE, GuestFault
from .mm import TASK_SIZE, page_up
from .process import SIG_DFL, FileDesc, ProcessExit

E = errno
TABLE: dict = {}

# arm64 system-call names (for messages), from include/uapi/asm-generic/unistd.h
_NAMES = """io_setup io_destroy io_submit io_cancel io_getevents setxattr lsetxattr fsetxattr
getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr
getcwd lookup_dcookie eventfd2 epoll_create1 epoll_ctl epoll_pwait dup dup3 fcntl inotify_init1
inotify_add_watch inotify_rm_watch ioctl ioprio_set ioprio_get flock mknodat mkdirat unlinkat
symlinkat linkat renameat umount2 mount pivot_root nfsservctl statfs fstatfs truncate ftruncate
fallocate faccessat chdir fchdir chroot fchmod fchmodat fchownat fchown openat close vhangup pipe2
quotactl getdents64 lseek read write readv writev pread64 pwrite64 preadv pwritev sendfile pselect6
ppoll signalfd4 vmsplice splice tee readlinkat newfstatat fstat sync fsync fdatasync
sync_file_range timerfd_create timerfd_settime timerfd_gettime utimensat acct capget capset
personality exit exit_group waitid set_tid_address unshare futex set_robust_list get_robust_list
nanosleep getitimer setitimer kexec_load init_module delete_module timer_create timer_gettime
timer_getoverrun timer_settime timer_delete clock_settime clock_gettime clock_getres
clock_nanosleep syslog ptrace sched_setparam sched_setscheduler sched_getscheduler sched_getparam
sched_setaffinity sched_getaffinity sched_yield sched_get_priority_max sched_get_priority_min
sched_rr_get_interval restart_syscall kill tkill tgkill sigaltstack rt_sigsuspend rt_sigaction
rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigreturn setpriority getpriority
reboot setregid setgid setreuid setuid setresuid getresuid setresgid getresgid setfsuid setfsgid
times setpgid getpgid getsid setsid getgroups setgroups uname sethostname setdomainname getrlimit
setrlimit getrusage umask prctl getcpu gettimeofday settimeofday adjtimex getpid getppid getuid
geteuid getgid getegid gettid sysinfo mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify
mq_getsetattr msgget msgctl msgrcv msgsnd semget semctl semtimedop semop shmget shmctl shmat shmdt
socket socketpair bind listen accept connect getsockname getpeername sendto recvfrom setsockopt
getsockopt shutdown sendmsg recvmsg readahead brk munmap mremap add_key request_key keyctl clone
execve mmap fadvise64 swapon swapoff mprotect msync mlock munlock mlockall munlockall mincore
madvise remap_file_pages mbind get_mempolicy set_mempolicy migrate_pages move_pages
rt_tgsigqueueinfo perf_event_open accept4 recvmmsg""".split()
NAMES = dict(enumerate(_NAMES))
NAMES.update({260: "wait4", 261: "prlimit64", 262: "fanotify_init", 263: "fanotify_mark",
              266: "clock_adjtime", 267: "syncfs", 268: "setns", 269: "sendmmsg",
              270: "process_vm_readv", 271: "process_vm_writev", 272: "kcmp",
              273: "finit_module", 274: "sched_setattr", 275: "sched_getattr", 276: "renameat2",
              277: "seccomp", 278: "getrandom", 279: "memfd_create", 280: "bpf",
              281: "execveat", 282: "userfaultfd", 283: "membarrier", 284: "mlock2",
              285: "copy_file_range", 286: "preadv2", 287: "pwritev2", 288: "pkey_mprotect",
              289: "pkey_alloc", 290: "pkey_free", 291: "statx", 292: "io_pgetevents",
              293: "rseq", 294: "kexec_file_load", 424: "pidfd_send_signal",
              425: "io_uring_setup", 426: "io_uring_enter", 427: "io_uring_register",
              434: "pidfd_open", 435: "clone3", 436: "close_range", 437: "openat2",
              438: "pidfd_getfd", 439: "faccessat2", 440: "process_madvise",
              441: "epoll_pwait2", 447: "memfd_secret", 449: "futex_waitv"})
assert NAMES[64] == "write" and NAMES[222] == "mmap" and NAMES[243] == "recvmmsg"
NR = {name: nr for nr, name in NAMES.items()}


def syscall(name):
    def deco(fn):
        TABLE[NR[name]] = fn
        return fn
    return deco


def dispatch(p, nr: int, args) -> int:
    """Run system call `nr`; returns the value for x0 (raises ProcessExit to end the guest)."""
    fn = TABLE.get(nr)
    if fn is None:
        p.warn_once(("syscall", nr), f"unsupported syscall {nr} ({NAMES.get(nr, '?')})")
        return -E.ENOSYS
    try:
        return fn(p, *args[:fn.__code__.co_argcount - 1])
    except GuestFault:
        return -E.EFAULT
    except OSError as e:
        if e.errno == E.EPIPE and p.handler(13) == SIG_DFL:
            p.raise_signal(13)
        return -(e.errno or E.EIO)
    except MemoryError:
        return -E.ENOMEM
    except (OverflowError, ValueError):     # an argument out of the host's range
        return -E.EINVAL


# -- argument helpers ---------------------------------------------------------------------
def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def s64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


MAX_IO = 16 << 20          # largest single host read/write (a short count is allowed)
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_EMPTY_PATH = 0x100, 0x200, 0x1000


def _fd(p, fd) -> int:
    h = p.host_fd(s32(fd))
    if h is None:
        raise OSError(E.EBADF, "bad fd")
    return h


def _dirfd(p, fd):
    fd = s32(fd)
    return None if fd == AT_FDCWD else _fd(p, fd)


def _path(p, addr) -> bytes:
    if addr == 0:
        raise GuestFault(0, PROT_READ)
    s = p.space.read_cstr(addr, 4097)
    if len(s) > 4096:
        raise OSError(E.ENAMETOOLONG, "path")
    if s == b"/proc/self/exe":
        return os.fsencode(p.exe)
    m = _PROC_FD.match(s)
    if m:                                   # guest descriptor numbers are not the host's
        h = p.host_fd(int(m.group(2)))
        if h is not None:
            return b"/proc/self/fd/%d%s" % (h, m.group(3) or b"")
    return s


_PROC_FD = re.compile(rb"^/proc/(self|thread-self)/fd/(\d+)(/.*)?$", re.S)


def _writable_prefix(p, va: int, n: int) -> int:
    """How many bytes from va (up to n) the guest may write."""
    ok = 0
    while ok < n:
        ent = p.space.entry(va + ok)
        if not ent or not (ent & PROT_WRITE):
            break
        ok += PAGE - ((va + ok) & (PAGE - 1))
    return min(ok, n)


def _out(p, va: int, data: bytes):
    p.space.write(va, data)


# -- process --------------------------------------------------------------------------------
@syscall("exit")
def sys_exit(p, status):
    raise ProcessExit(status & 0xFF)


TABLE[NR["exit_group"]] = sys_exit


@syscall("set_tid_address")
def sys_set_tid_address(p, tidptr):
    p.clear_child_tid = tidptr
    return p.pid


@syscall("set_robust_list")
def sys_set_robust_list(p, head, size):
    return 0 if size == 24 else -E.EINVAL


@syscall("rseq")
def sys_rseq(p):
    return -E.ENOSYS


@syscall("statx")
def sys_statx(p):
    return -E.ENOSYS        # glibc falls back to newfstatat


for _name in ("getpid", "gettid"):
    TABLE[NR[_name]] = lambda p: p.pid
TABLE[NR["getppid"]] = lambda p: os.getppid()
TABLE[NR["getuid"]] = lambda p: os.getuid()
TABLE[NR["geteuid"]] = lambda p: os.geteuid()
TABLE[NR["getgid"]] = lambda p: os.getgid()
TABLE[NR["getegid"]] = lambda p: os.getegid()
TABLE[NR["sched_yield"]] = lambda p: 0
TABLE[NR["getpgid"]] = lambda p, pid: os.getpgid(s32(pid))
TABLE[NR["getsid"]] = lambda p, pid: os.getsid(s32(pid))
TABLE[NR["setpgid"]] = lambda p, pid, pgid: 0
TABLE[NR["setsid"]] = lambda p: p.pid


@syscall("getresuid")
def sys_getresuid(p, r, e, s):
    for addr, v in zip((r, e, s), os.getresuid()):
        _out(p, addr, struct.pack("<I", v))
    return 0


@syscall("getresgid")
def sys_getresgid(p, r, e, s):
    for addr, v in zip((r, e, s), os.getresgid()):
        _out(p, addr, struct.pack("<I", v))
    return 0


@syscall("getgroups")
def sys_getgroups(p, size, lst):
    groups = os.getgroups()
    size = s32(size)
    if size == 0:
        return len(groups)
    if size < len(groups):
        return -E.EINVAL
    _out(p, lst, struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


@syscall("uname")
def sys_uname(p, buf):
    node = platform.node().encode()[:64]
    fields = [b"Linux", node, b"6.12.0", b"#1 SMP PREEMPT dbt-vm", b"aarch64", b"(none)"]
    _out(p, buf, b"".join(f.ljust(65, b"\0") for f in fields))
    return 0


@syscall("umask")
def sys_umask(p, mask):
    return os.umask(mask & 0o777)


@syscall("prctl")
def sys_prctl(p, option, arg2):
    if option == 15:        # PR_SET_NAME
        p.comm = p.space.read_cstr(arg2, 16)[:15]
        return 0
    if option == 16:        # PR_GET_NAME
        name = getattr(p, "comm", os.path.basename(os.fsencode(p.exe))[:15])
        _out(p, arg2, name + b"\0")
        return 0
    return -E.EINVAL


@syscall("getrandom")
def sys_getrandom(p, buf, n, flags):
    n = min(n, MAX_IO)
    _out(p, buf, os.urandom(n))
    return n


# -- time ----------------------------------------------------------------------------------
def _timespec(p, addr):
    sec, nsec = struct.unpack("<qq", p.space.read(addr, 16))
    if not 0 <= nsec < 1_000_000_000 or sec < 0:
        raise OSError(E.EINVAL, "timespec")
    return sec * 1_000_000_000 + nsec


@syscall("clock_gettime")
def sys_clock_gettime(p, clk, tp):
    ns = time.clock_gettime_ns(s32(clk))
    _out(p, tp, struct.pack("<qq", ns // 1_000_000_000, ns % 1_000_000_000))
    return 0


@syscall("clock_getres")
def sys_clock_getres(p, clk, tp):
    res = time.clock_getres(s32(clk))
    if tp:
        ns = round(res * 1e9)
        _out(p, tp, struct.pack("<qq", ns // 1_000_000_000, ns % 1_000_000_000))
    return 0


@syscall("gettimeofday")
def sys_gettimeofday(p, tv, tz):
    if tv:
        ns = time.time_ns()
        _out(p, tv, struct.pack("<qq", ns // 1_000_000_000, (ns // 1000) % 1_000_000))
    if tz:
        _out(p, tz, bytes(8))
    return 0


@syscall("nanosleep")
def sys_nanosleep(p, req, rem):
    time.sleep(_timespec(p, req) / 1e9)
    return 0


@syscall("clock_nanosleep")
def sys_clock_nanosleep(p, clk, flags, req, rem):
    ns = _timespec(p, req)
    if flags & 1:           # TIMER_ABSTIME
        ns -= time.clock_gettime_ns(s32(clk))
    if ns > 0:
        time.sleep(ns / 1e9)
    return 0


@syscall("times")
def sys_times(p, buf):
    t = os.times()
    if buf:
        _out(p, buf, struct.pack("<4q", int(t.user * 100), int(t.system * 100),
                                 int(t.children_user * 100), int(t.children_system * 100)))
    return int(t.elapsed * 100)


@syscall("getrusage")
def sys_getrusage(p, who, buf):
    r = resource.getrusage(resource.RUSAGE_CHILDREN if s32(who) == -1 else resource.RUSAGE_SELF)

    def tv(x):
        return [int(x), int((x % 1) * 1e6)]
    fields = tv(r.ru_utime) + tv(r.ru_stime) + [
        r.ru_maxrss, r.ru_ixrss, r.ru_idrss, r.ru_isrss, r.ru_minflt, r.ru_majflt, r.ru_nswap,
        r.ru_inblock, r.ru_oublock, r.ru_msgsnd, r.ru_msgrcv, r.ru_nsignals, r.ru_nvcsw,
        r.ru_nivcsw]
    _out(p, buf, struct.pack("<18q", *fields))
    return 0


# -- signals ---------------------------------------------------------------------------------
@syscall("rt_sigaction")
def sys_rt_sigaction(p, sig, act, oact, size):
    sig = s32(sig)
    if not 1 <= sig <= 64 or (act and sig in (9, 19)):
        return -E.EINVAL
    old = p.sigactions.get(sig, bytes(32))
    if act:
        p.sigactions[sig] = p.space.read(act, 32)
    if oact:
        _out(p, oact, old)
    return 0


@syscall("rt_sigprocmask")
def sys_rt_sigprocmask(p, how, nset, oset, size):
    old = p.sigmask
    if nset:
        v = struct.unpack("<Q", p.space.read(nset, 8))[0]
        if how == 0:
            p.sigmask |= v
        elif how == 1:
            p.sigmask &= ~v
        elif how == 2:
            p.sigmask = v
        else:
            return -E.EINVAL
        p.sigmask &= ~((1 << 8) | (1 << 18))     # SIGKILL, SIGSTOP cannot be blocked
    if oset:
        _out(p, oset, struct.pack("<Q", old))
    return 0


@syscall("sigaltstack")
def sys_sigaltstack(p, ss, old):
    if old:
        _out(p, old, p.altstack or struct.pack("<QiiQ", 0, 2, 0, 0))   # SS_DISABLE
    if ss:
        p.altstack = p.space.read(ss, 24)
    return 0


def _kill_self(p, sig):
    sig = s32(sig)
    if not 0 <= sig <= 64:
        return -E.EINVAL
    if sig:
        p.raise_signal(sig)
    return 0


@syscall("kill")
def sys_kill(p, pid, sig):
    pid = s32(pid)
    if pid in (p.pid, 0, -1):
        return _kill_self(p, sig)
    return -E.ESRCH


@syscall("tkill")
def sys_tkill(p, tid, sig):
    return _kill_self(p, sig) if s32(tid) == p.pid else -E.ESRCH


@syscall("tgkill")
def sys_tgkill(p, tgid, tid, sig):
    return _kill_self(p, sig) if s32(tid) == p.pid else -E.ESRCH


# -- memory ----------------------------------------------------------------------------------
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x1, 0x2, 0x10, 0x20
MAP_FIXED_NOREPLACE = 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2


@syscall("brk")
def sys_brk(p, addr):
    return p.mm.brk(addr)


@syscall("mmap")
def sys_mmap(p, addr, length, prot, flags, fd, off):
    mm = p.mm
    if length == 0 or off & (PAGE - 1) or length > (1 << 46):
        return -E.EINVAL
    if not flags & (MAP_SHARED | MAP_PRIVATE):
        return -E.EINVAL
    length = page_up(length)
    host = None
    if not flags & MAP_ANONYMOUS:
        host = _fd(p, fd)
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        if addr & (PAGE - 1):
            return -E.EINVAL
        if addr + length > TASK_SIZE:
            return -E.ENOMEM
        if (flags & MAP_FIXED_NOREPLACE and not flags & MAP_FIXED
                and not mm.is_free(addr, addr + length)):
            return -E.EEXIST
        target = addr
    else:
        target = mm.find_free(length, addr)
        if target is None:
            return -E.ENOMEM
    if host is None:
        mm.map(target, length, prot)
        return target
    data = os.pread(host, length, off)       # may be shorter: the rest of the pages is zero
    mm.map(target, length, PROT_READ | PROT_WRITE)
    if data:
        p.space.write(target, data)
    if flags & MAP_SHARED and prot & PROT_WRITE:
        p.warn_once("mmap-shared", "MAP_SHARED writable file mappings are private copies")
    mm.protect(target, length, prot)
    return target


@syscall("munmap")
def sys_munmap(p, addr, length):
    if addr & (PAGE - 1) or length == 0 or addr + length > TASK_SIZE:
        return -E.EINVAL
    p.mm.unmap(addr, length)
    return 0


@syscall("mprotect")
def sys_mprotect(p, addr, length, prot):
    if addr & (PAGE - 1):
        return -E.EINVAL
    if length == 0:
        return 0
    return 0 if p.mm.protect(addr, length, prot) else -E.ENOMEM


@syscall("mremap")
def sys_mremap(p, old, old_size, new_size, flags, new_addr):
    mm = p.mm
    if old & (PAGE - 1) or new_size == 0 or old_size == 0 or flags & ~3 or (
            flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE):
        return -E.EINVAL
    old_size, new_size = page_up(old_size), page_up(new_size)
    if not mm.is_mapped(old, old + old_size):
        return -E.EFAULT
    prot = p.space.entry(old) & (PROT_READ | PROT_WRITE | 4)
    if flags & MREMAP_FIXED:
        if new_addr & (PAGE - 1):
            return -E.EINVAL
        if new_addr + new_size > TASK_SIZE:
            return -E.ENOMEM
        if new_addr < old + old_size and old < new_addr + new_size:
            return -E.EINVAL
        target = new_addr
        mm.unmap(target, new_size)
    else:
        if new_size <= old_size:
            if new_size < old_size:
                mm.unmap(old + new_size, old_size - new_size)
            return old
        if mm.is_free(old + old_size, old + new_size):
            mm.map(old + old_size, new_size - old_size, prot)
            return old
        if not flags & MREMAP_MAYMOVE:
            return -E.ENOMEM
        target = mm.find_free(new_size)
        if target is None:
            return -E.ENOMEM
    keep = min(old_size, new_size)
    if old_size > keep:
        mm.unmap(old + keep, old_size - keep)
    mm.move(old, keep, target)
    if new_size > keep:
        mm.map(target + keep, new_size - keep, prot)
    return target


for _name in ("madvise", "msync", "mlock", "munlock", "mlockall", "munlockall", "fadvise64"):
    TABLE[NR[_name]] = lambda p: 0


@syscall("futex")
def sys_futex(p, uaddr, op, val, timeout):
    cmd = op & 0x7F
    if cmd in (0, 9):                   # FUTEX_WAIT, FUTEX_WAIT_BITSET
        cur = struct.unpack("<I", p.space.read(uaddr, 4))[0]
        if cur != val & 0xFFFFFFFF:
            return -E.EAGAIN
        if timeout:
            return -E.ETIMEDOUT
        p.warn_once("futex", "futex wait with no other thread to wake it")
        return -E.EINTR
    if cmd in (1, 10):                  # FUTEX_WAKE, FUTEX_WAKE_BITSET
        return 0
    return -E.ENOSYS


# -- resources -------------------------------------------------------------------------------
RLIM_INFINITY = (1 << 64) - 1
RLIMIT_STACK = 3


def _rlimit(res: int):
    if res == RLIMIT_STACK:
        return 8 << 20, RLIM_INFINITY
    try:
        cur, mx = resource.getrlimit(res)
    except (ValueError, OSError):
        raise OSError(E.EINVAL, "rlimit")
    inf = resource.RLIM_INFINITY
    return (RLIM_INFINITY if cur == inf else cur), (RLIM_INFINITY if mx == inf else mx)


@syscall("prlimit64")
def sys_prlimit64(p, pid, res, new, old):
    if s32(pid) not in (0, p.pid):
        return -E.ESRCH
    if old:
        _out(p, old, struct.pack("<QQ", *_rlimit(res)))
    return 0


@syscall("getrlimit")
def sys_getrlimit(p, res, old):
    _out(p, old, struct.pack("<QQ", *_rlimit(res)))
    return 0


TABLE[NR["setrlimit"]] = lambda p: 0


@syscall("sched_getaffinity")
def sys_sched_getaffinity(p, pid, size, mask):
    if size < 8:
        return -E.EINVAL
    _out(p, mask, struct.pack("<Q", 1))
    return 8


@syscall("getcpu")
def sys_getcpu(p, cpu, node):
    if cpu:
        _out(p, cpu, bytes(4))
    if node:
        _out(p, node, bytes(4))
    return 0


# -- files: open flags differ between arm64 and x86-64 ------------------------------------
_COMMON_FLAGS = 0o3 | 0o100 | 0o200 | 0o400 | 0o1000 | 0o2000 | 0o4000 | 0o10000 | 0o20000 \
    | 0o1000000 | 0o2000000 | 0o4000000 | 0o10000000
_ARM64_ONLY = {0o40000: "O_DIRECTORY", 0o100000: "O_NOFOLLOW", 0o200000: "O_DIRECT",
               0o400000: "O_LARGEFILE", 0o20000000: "__O_TMPFILE"}


def _host_flag(name: str) -> int:
    if name == "__O_TMPFILE":
        return getattr(os, "O_TMPFILE", 0) & ~os.O_DIRECTORY
    if name == "O_LARGEFILE":
        return 0         # always on for a 64-bit host
    return getattr(os, name, 0)


def open_flags_to_host(flags: int) -> int:
    out = flags & _COMMON_FLAGS
    for bit, name in _ARM64_ONLY.items():
        if flags & bit:
            out |= _host_flag(name)
    return out


def open_flags_to_guest(flags: int) -> int:
    out = flags & _COMMON_FLAGS
    for bit, name in _ARM64_ONLY.items():
        hb = _host_flag(name)
        if hb and flags & hb == hb:
            out |= bit
    return out | 0o400000        # O_LARGEFILE: the arm64 kernel reports it


def _proc_file(p, name: bytes):
    """Files of /proc/self that must describe the guest, not the host: an in-memory copy."""
    for prefix in (b"/proc/self/", b"/proc/%d/" % p.pid, b"/proc/thread-self/"):
        if name.startswith(prefix):
            rest = name[len(prefix):]
            break
    else:
        return None
    if rest == b"maps":
        text = p.mm.maps_text(p.exe, p.image_ranges).encode()
    elif rest == b"auxv":
        text = p.auxv
    elif rest == b"cmdline":
        text = p.cmdline
    else:
        return None
    fd = os.memfd_create("dbt-proc", os.MFD_CLOEXEC)
    os.write(fd, text)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@syscall("openat")
def sys_openat(p, dirfd, path, flags, mode):
    name = _path(p, path)
    host = _proc_file(p, name)
    if host is not None:
        return p.install(host, bool(flags & 0o2000000))
    host = os.open(name, open_flags_to_host(flags) | os.O_CLOEXEC, mode & 0o7777,
                   dir_fd=_dirfd(p, dirfd))
    return p.install(host, bool(flags & 0o2000000))


@syscall("close")
def sys_close(p, fd):
    d = p.fds.pop(s32(fd), None)
    if d is None:
        return -E.EBADF
    try:
        os.close(d.host)
    except OSError as e:
        return -e.errno if e.errno != E.EBADF else 0
    return 0


@syscall("close_range")
def sys_close_range(p, first, last, flags):
    for fd in [fd for fd in p.fds if first <= fd <= last]:
        if flags & 4:                   # CLOSE_RANGE_CLOEXEC
            p.fds[fd].cloexec = True
        else:
            sys_close(p, fd)
    return 0


@syscall("dup")
def sys_dup(p, fd):
    return p.install(os.dup(_fd(p, fd)))


@syscall("dup3")
def sys_dup3(p, old, new, flags):
    old, new = s32(old), s32(new)
    if old == new or flags & ~0o2000000 or new < 0:
        return -E.EINVAL
    h = os.dup(_fd(p, old))
    if new in p.fds:
        sys_close(p, new)
    p.fds[new] = FileDesc(h, bool(flags))
    return new


@syscall("fcntl")
def sys_fcntl(p, fd, cmd, arg):
    h = _fd(p, fd)
    d = p.fds[s32(fd)]
    if cmd in (0, 1030):                 # F_DUPFD, F_DUPFD_CLOEXEC
        return p.install(os.dup(h), cmd == 1030, at_least=s32(arg))
    if cmd == 1:                         # F_GETFD
        return int(d.cloexec)
    if cmd == 2:                         # F_SETFD
        d.cloexec = bool(arg & 1)
        return 0
    if cmd == 3:                         # F_GETFL
        return open_flags_to_guest(_fcntl.fcntl(h, _fcntl.F_GETFL))
    if cmd == 4:                         # F_SETFL
        _fcntl.fcntl(h, _fcntl.F_SETFL, open_flags_to_host(arg))
        return 0
    if cmd in (5, 6, 7, 36, 37, 38):     # record locks: one process, always granted
        if cmd in (5, 36):               # F_GETLK: report "unlocked" (l_type = F_UNLCK)
            _out(p, arg, struct.pack("<h", 2))
        return 0
    p.warn_once(("fcntl", cmd), f"unsupported fcntl command {cmd}")
    return -E.EINVAL


@syscall("flock")
def sys_flock(p, fd, op):
    _fd(p, fd)
    return 0


@syscall("pipe2")
def sys_pipe2(p, fds, flags):
    if flags & ~(0o2000000 | 0o4000 | 0o40000):
        return -E.EINVAL
    hflags = os.O_CLOEXEC | (os.O_NONBLOCK if flags & 0o4000 else 0) \
        | (getattr(os, "O_DIRECT", 0) if flags & 0o40000 else 0)
    r, w = os.pipe2(hflags)
    cloexec = bool(flags & 0o2000000)
    a = p.install(r, cloexec)
    b = p.install(w, cloexec)
    try:
        _out(p, fds, struct.pack("<ii", a, b))
    except GuestFault:
        sys_close(p, a)
        sys_close(p, b)
        raise
    return 0


# -- reading and writing -------------------------------------------------------------------
@syscall("read")
def sys_read(p, fd, buf, count):
    h = _fd(p, fd)
    n = _writable_prefix(p, buf, min(count, MAX_IO))
    if n == 0 and count:
        return -E.EFAULT
    data = os.read(h, n)
    _out(p, buf, data)
    return len(data)


@syscall("write")
def sys_write(p, fd, buf, count):
    h = _fd(p, fd)
    data = p.space.read(buf, min(count, MAX_IO))
    return os.write(h, data)


@syscall("pread64")
def sys_pread64(p, fd, buf, count, off):
    h = _fd(p, fd)
    n = _writable_prefix(p, buf, min(count, MAX_IO))
    if n == 0 and count:
        return -E.EFAULT
    data = os.pread(h, n, s64(off))
    _out(p, buf, data)
    return len(data)


@syscall("pwrite64")
def sys_pwrite64(p, fd, buf, count, off):
    return os.pwrite(_fd(p, fd), p.space.read(buf, min(count, MAX_IO)), s64(off))


def _iovecs(p, iov, cnt):
    if cnt > 1024:
        raise OSError(E.EINVAL, "iovcnt")
    raw = p.space.read(iov, 16 * cnt) if cnt else b""
    return [struct.unpack_from("<QQ", raw, 16 * i) for i in range(cnt)]


@syscall("readv")
def sys_readv(p, fd, iov, cnt):
    h = _fd(p, fd)
    total = 0
    for base, length in _iovecs(p, iov, cnt):
        if length == 0:
            continue
        n = _writable_prefix(p, base, min(length, MAX_IO))
        if n == 0:
            return total or -E.EFAULT
        data = os.read(h, n)
        _out(p, base, data)
        total += len(data)
        if len(data) < length:
            break
    return total


@syscall("writev")
def sys_writev(p, fd, iov, cnt):
    h = _fd(p, fd)
    parts, room = [], MAX_IO
    for base, length in _iovecs(p, iov, cnt):
        n = min(length, room)
        if n:
            parts.append(p.space.read(base, n))
            room -= n
    data = b"".join(parts)
    return os.write(h, data) if data else 0


@syscall("lseek")
def sys_lseek(p, fd, off, whence):
    return os.lseek(_fd(p, fd), s64(off), whence)


@syscall("sendfile")
def sys_sendfile(p, out_fd, in_fd, offp, count):
    ho, hi = _fd(p, out_fd), _fd(p, in_fd)
    count = min(count, MAX_IO)
    if offp:
        off = struct.unpack("<q", p.space.read(offp, 8))[0]
        n = os.sendfile(ho, hi, off, count)
        _out(p, offp, struct.pack("<q", off + n))
        return n
    return os.sendfile(ho, hi, None, count)


@syscall("ftruncate")
def sys_ftruncate(p, fd, length):
    os.ftruncate(_fd(p, fd), s64(length))
    return 0


@syscall("truncate")
def sys_truncate(p, path, length):
    os.truncate(_path(p, path), s64(length))
    return 0


@syscall("fsync")
def sys_fsync(p, fd):
    os.fsync(_fd(p, fd))
    return 0


@syscall("fdatasync")
def sys_fdatasync(p, fd):
    os.fdatasync(_fd(p, fd))
    return 0


TABLE[NR["sync"]] = lambda p: os.sync() or 0


# ioctl requests whose argument is a buffer of a fixed size: (size, direction)
_IOCTLS = {0x5401: (36, "out"),   # TCGETS
           0x5402: (36, "in"), 0x5403: (36, "in"), 0x5404: (36, "in"),   # TCSETS[WF]
           0x5413: (8, "out"), 0x5414: (8, "in"),                         # TIOC[GS]WINSZ
           0x540F: (4, "out"), 0x5410: (4, "in"),                         # TIOC[GS]PGRP
           0x541B: (4, "out"), 0x5421: (4, "in")}                         # FIONREAD, FIONBIO


@syscall("ioctl")
def sys_ioctl(p, fd, req, arg):
    h = _fd(p, fd)
    req &= 0xFFFFFFFF
    spec = _IOCTLS.get(req)
    if spec is None:
        p.warn_once(("ioctl", req), f"unsupported ioctl {req:#x}")
        return -E.ENOTTY
    size, direction = spec
    buf = p.space.read(arg, size) if direction == "in" else bytes(size)
    res = _fcntl.ioctl(h, req, buf)
    if direction == "out":
        _out(p, arg, res)
    return 0


@syscall("ppoll")
def sys_ppoll(p, fds, nfds, tsp, sigmask):
    if nfds > 4096:
        return -E.EINVAL
    raw = p.space.read(fds, 8 * nfds) if nfds else b""
    entries = [struct.unpack_from("<ihh", raw, 8 * i) for i in range(nfds)]
    poller = select.poll()
    revents = {}
    for fd, events, _ in entries:
        if fd < 0:
            continue
        h = p.host_fd(fd)
        if h is None:
            revents[fd] = 0x20              # POLLNVAL
        else:
            poller.register(h, events & 0xFFFF)
    timeout = None if not tsp else _timespec(p, tsp) / 1e6
    back = {p.host_fd(fd): fd for fd, _, _ in entries if fd >= 0 and p.host_fd(fd) is not None}
    if not revents:
        for h, ev in poller.poll(timeout):
            revents[back[h]] = ev
    out = b"".join(struct.pack("<ihh", fd, ev, revents.get(fd, 0) if fd >= 0 else 0)
                   for fd, ev, _ in entries)
    if out:
        _out(p, fds, out)
    return sum(1 for fd, _, _ in entries if fd >= 0 and revents.get(fd))


@syscall("pselect6")
def sys_pselect6(p, nfds, rfds, wfds, efds, tsp, sigmask):
    nfds = s32(nfds)
    if not 0 <= nfds <= 1024:
        return -E.EINVAL
    nbytes = (nfds + 63) // 64 * 8
    sets = []
    for addr in (rfds, wfds, efds):
        bits = int.from_bytes(p.space.read(addr, nbytes), "little") if addr and nbytes else 0
        fds = [fd for fd in range(nfds) if bits >> fd & 1]
        for fd in fds:
            _fd(p, fd)                      # EBADF for a descriptor that is not open
        sets.append(fds)
    timeout = None if not tsp else _timespec(p, tsp) / 1e9
    hosts = [[p.host_fd(fd) for fd in fds] for fds in sets]
    back = {p.host_fd(fd): fd for fds in sets for fd in fds}
    ready = select.select(*hosts, timeout)
    total = 0
    for addr, hs in zip((rfds, wfds, efds), ready):
        if addr and nbytes:
            bits = sum(1 << back[h] for h in hs)
            _out(p, addr, bits.to_bytes(nbytes, "little"))
            total += len(hs)
    return total


# -- file metadata --------------------------------------------------------------------------
def pack_stat(st: os.stat_result) -> bytes:
    """struct stat of asm-generic (arm64): 128 bytes."""
    def ts(ns):
        return ns // 1_000_000_000, ns % 1_000_000_000
    return struct.pack("<QQIIIIQQqiiq" + "qQ" * 3 + "II",
                       st.st_dev, st.st_ino, st.st_mode, st.st_nlink & 0xFFFFFFFF, st.st_uid,
                       st.st_gid, st.st_rdev, 0, st.st_size, st.st_blksize, 0, st.st_blocks,
                       *ts(st.st_atime_ns), *ts(st.st_mtime_ns), *ts(st.st_ctime_ns), 0, 0)


assert len(pack_stat(os.stat("/"))) == 128


@syscall("fstat")
def sys_fstat(p, fd, buf):
    _out(p, buf, pack_stat(os.fstat(_fd(p, fd))))
    return 0


@syscall("newfstatat")
def sys_newfstatat(p, dirfd, path, buf, flags):
    name = _path(p, path)
    if not name:
        if not flags & AT_EMPTY_PATH:
            return -E.ENOENT
        st = os.fstat(_fd(p, dirfd)) if s32(dirfd) != AT_FDCWD else os.stat(".")
    else:
        st = os.stat(name, dir_fd=_dirfd(p, dirfd),
                     follow_symlinks=not flags & AT_SYMLINK_NOFOLLOW)
    _out(p, buf, pack_stat(st))
    return 0


def _faccess(p, dirfd, path, mode, flags=0):
    name = _path(p, path)
    d = _dirfd(p, dirfd)
    os.stat(name, dir_fd=d, follow_symlinks=not flags & AT_SYMLINK_NOFOLLOW)  # ENOENT etc.
    if mode & 7 and not os.access(name, mode & 7, dir_fd=d, effective_ids=bool(flags & 0x200)):
        return -E.EACCES
    return 0


@syscall("faccessat")
def sys_faccessat(p, dirfd, path, mode):
    return _faccess(p, dirfd, path, mode)


@syscall("faccessat2")
def sys_faccessat2(p, dirfd, path, mode, flags):
    return _faccess(p, dirfd, path, mode, flags)


@syscall("readlinkat")
def sys_readlinkat(p, dirfd, path, buf, size):
    name = p.space.read_cstr(path, 4097)
    if name == b"/proc/self/exe":
        target = os.fsencode(p.exe)
    else:
        target = os.readlink(_path(p, path), dir_fd=_dirfd(p, dirfd))
    if s32(size) <= 0:
        return -E.EINVAL
    target = target[:size]
    _out(p, buf, target)
    return len(target)


@syscall("getcwd")
def sys_getcwd(p, buf, size):
    cwd = os.getcwdb() + b"\0"
    if len(cwd) > size:
        return -E.ERANGE
    _out(p, buf, cwd)
    return len(cwd)


@syscall("chdir")
def sys_chdir(p, path):
    os.chdir(_path(p, path))
    return 0


@syscall("fchdir")
def sys_fchdir(p, fd):
    os.fchdir(_fd(p, fd))
    return 0


_HOST_GETDENTS64 = {"x86_64": 217, "aarch64": 61}.get(platform.machine())
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@syscall("getdents64")
def sys_getdents64(p, fd, buf, count):
    """struct linux_dirent64 is the same on every architecture: ask the host kernel."""
    h = _fd(p, fd)
    if _HOST_GETDENTS64 is None:
        return -E.ENOSYS
    count = min(count, 1 << 20)
    cbuf = ctypes.create_string_buffer(count)
    n = _libc.syscall(_HOST_GETDENTS64, ctypes.c_int(h), cbuf, ctypes.c_uint(count))
    if n < 0:
        return -ctypes.get_errno()
    _out(p, buf, cbuf.raw[:n])
    return n


def _host_struct(fn, arg, size: int) -> bytes:
    """Call a host libc function that fills a struct whose layout is the same on x86-64 and
    arm64 (all-long fields): statfs, fstatfs, sysinfo."""
    cbuf = ctypes.create_string_buffer(size)
    if fn(arg, cbuf) if arg is not None else fn(cbuf):
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return cbuf.raw


@syscall("statfs")
def sys_statfs(p, path, buf):
    _out(p, buf, _host_struct(_libc.statfs, ctypes.c_char_p(_path(p, path)), 120))
    return 0


@syscall("fstatfs")
def sys_fstatfs(p, fd, buf):
    _out(p, buf, _host_struct(_libc.fstatfs, ctypes.c_int(_fd(p, fd)), 120))
    return 0


@syscall("sysinfo")
def sys_sysinfo(p, buf):
    _out(p, buf, _host_struct(_libc.sysinfo, None, 112))
    return 0


@syscall("unlinkat")
def sys_unlinkat(p, dirfd, path, flags):
    name, d = _path(p, path), _dirfd(p, dirfd)
    if flags & AT_REMOVEDIR:
        os.rmdir(name, dir_fd=d)
    else:
        os.unlink(name, dir_fd=d)
    return 0


@syscall("mkdirat")
def sys_mkdirat(p, dirfd, path, mode):
    os.mkdir(_path(p, path), mode & 0o7777, dir_fd=_dirfd(p, dirfd))
    return 0


@syscall("renameat")
def sys_renameat(p, olddir, old, newdir, new):
    os.rename(_path(p, old), _path(p, new), src_dir_fd=_dirfd(p, olddir),
              dst_dir_fd=_dirfd(p, newdir))
    return 0


@syscall("renameat2")
def sys_renameat2(p, olddir, old, newdir, new, flags):
    if flags:
        return -E.EINVAL
    return sys_renameat(p, olddir, old, newdir, new)


@syscall("symlinkat")
def sys_symlinkat(p, target, dirfd, path):
    os.symlink(_path(p, target), _path(p, path), dir_fd=_dirfd(p, dirfd))
    return 0


@syscall("linkat")
def sys_linkat(p, olddir, old, newdir, new, flags):
    os.link(_path(p, old), _path(p, new), src_dir_fd=_dirfd(p, olddir),
            dst_dir_fd=_dirfd(p, newdir), follow_symlinks=bool(flags & 0x400))
    return 0


@syscall("fchmodat")
def sys_fchmodat(p, dirfd, path, mode):
    os.chmod(_path(p, path), mode & 0o7777, dir_fd=_dirfd(p, dirfd))
    return 0


@syscall("fchmod")
def sys_fchmod(p, fd, mode):
    os.fchmod(_fd(p, fd), mode & 0o7777)
    return 0


@syscall("fchownat")
def sys_fchownat(p, dirfd, path, uid, gid, flags):
    os.chown(_path(p, path), s32(uid), s32(gid), dir_fd=_dirfd(p, dirfd),
             follow_symlinks=not flags & AT_SYMLINK_NOFOLLOW)
    return 0


@syscall("fchown")
def sys_fchown(p, fd, uid, gid):
    os.fchown(_fd(p, fd), s32(uid), s32(gid))
    return 0


UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2


@syscall("utimensat")
def sys_utimensat(p, dirfd, path, times, flags):
    target = _path(p, path) if path else _fd(p, dirfd)
    kw = {} if not path else {"dir_fd": _dirfd(p, dirfd),
                              "follow_symlinks": not flags & AT_SYMLINK_NOFOLLOW}
    if not times:
        os.utime(target, **kw)
        return 0
    a_s, a_ns, m_s, m_ns = struct.unpack("<qqqq", p.space.read(times, 32))
    now = time.time_ns()
    st = None
    out = []
    for sec, nsec, field in ((a_s, a_ns, "st_atime_ns"), (m_s, m_ns, "st_mtime_ns")):
        if nsec == UTIME_NOW:
            out.append(now)
        elif nsec == UTIME_OMIT:
            if st is None:
                st = os.stat(target, **kw) if path else os.fstat(target)
            out.append(getattr(st, field))
        elif 0 <= nsec < 1_000_000_000:
            out.append(sec * 1_000_000_000 + nsec)
        else:
            return -E.EINVAL
    os.utime(target, ns=tuple(out), **kw)
    return 0


# -- processes we cannot create -------------------------------------------------------------
@syscall("wait4")
def sys_wait4(p):
    return -E.ECHILD
