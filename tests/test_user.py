"""dbt-run, the user-mode runner, end to end: small C programs are cross-compiled during the test
and run under dbt-run; where QEMU's user mode is installed, stdout and the exit status are
compared with `qemu-aarch64` running the same binary.

Two kinds of programs:
- freestanding ones (-nostdlib, raw system calls, integer instructions only): they prove the
  loader, the system-call plumbing and the signal exits whatever the state of the FP/SIMD
  semantics;
- glibc ones (printf, stdio, malloc, dirent) and busybox, whose start-up and string routines
  use FP and AdvSIMD instructions.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support import (BUSYBOX, CC, dbt_run, needs_busybox, needs_cc, needs_qemu,
                     no_traceback, one_line_error, qemu_run, same_as_qemu)

pytestmark = needs_cc


# -- programs -------------------------------------------------------------------------------
MINI_H = r"""
/* freestanding helpers: raw arm64 Linux system calls, integer-only code */
typedef unsigned long size_t;
static long sc6(long n, long a, long b, long c, long d, long e, long f) {
    register long x8 asm("x8") = n, x0 asm("x0") = a, x1 asm("x1") = b, x2 asm("x2") = c,
        x3 asm("x3") = d, x4 asm("x4") = e, x5 asm("x5") = f;
    asm volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                 : "memory");
    return x0;
}
#define sc(n, a, b, c) sc6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
void *memset(void *d, int c, size_t n) { char *p = d; while (n--) *p++ = c; return d; }
void *memcpy(void *d, const void *s, size_t n) {
    char *p = d; const char *q = s; while (n--) *p++ = *q++; return d; }
static size_t slen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
static void puts_(const char *s) { sc(64, 1, s, slen(s)); }
static void putnum(long v) {
    char b[24]; int i = 23; int neg = v < 0; unsigned long u = neg ? -v : v;
    b[i] = 0; do { b[--i] = '0' + u % 10; u /= 10; } while (u);
    if (neg) b[--i] = '-';
    puts_(b + i);
}
static void kv(const char *k, long v) { puts_(k); puts_("="); putnum(v); puts_("\n"); }
int main(int argc, char **argv, char **envp);
void _start_c(long *sp) {
    int argc = sp[0];
    char **argv = (char **)(sp + 1);
    sc(93, main(argc, argv, argv + argc + 1), 0, 0);
}
asm(".globl _start\n_start:\n mov x0, sp\n b _start_c\n");
"""

RAW = r"""
#include "mini.h"
int main(int argc, char **argv, char **envp) {
    for (int i = 1; i < argc; i++) { puts_(argv[i]); puts_("\n"); }
    static const char bin[] = {'b', 0, (char)0xff, '\n'};
    sc(64, 1, bin, 4);                       /* stdout is passed through byte for byte */
    puts_("hello raw\n");
    return 42;
}
"""

# every system call family the runner implements, checked against qemu's output
SYSPROBE = r"""
#include "mini.h"
struct kstat { unsigned long dev, ino; unsigned mode, nlink, uid, gid; unsigned long rdev, pad;
               long size; int blksize, pad2; long blocks, at, atn, mt, mtn, ct, ctn;
               unsigned u4, u5; };
int main(int argc, char **argv, char **envp) {
    kv("argc", argc);
    for (char **e = envp; *e; e++)
        /* only DBT_TEST_*: qemu-user passes the environment in reverse order */
        if ((*e)[0] == 'D' && (*e)[1] == 'B' && (*e)[2] == 'T' && (*e)[3] == '_' &&
            (*e)[4] == 'T' && (*e)[5] == 'E' && (*e)[6] == 'S' && (*e)[7] == 'T') {
            puts_("env: "); puts_(*e); puts_("\n"); }
    char **e = envp; while (*e) e++;
    for (unsigned long *av = (unsigned long *)(e + 1); av[0]; av += 2) {
        if (av[0] == 6) kv("AT_PAGESZ", av[1]);
        if (av[0] == 15) { puts_("AT_PLATFORM="); puts_((char *)av[1]); puts_("\n"); }
        if (av[0] == 25) kv("AT_RANDOM_present", av[1] != 0);
        if (av[0] == 31) { puts_("AT_EXECFN="); puts_((char *)av[1]); puts_("\n"); }
    }
    kv("sp_aligned", ((unsigned long)argv - 8) % 16 == 0);
    /* files */
    const char *path = argv[1];
    long fd = sc6(56, -100, (long)path, 01 | 0100 | 01000, 0644, 0, 0);  /* WRONLY|CREAT|TRUNC */
    kv("open_ok", fd >= 3);
    kv("write", sc(64, fd, "0123456789abcdef", 16));
    kv("close", sc(57, fd, 0, 0));
    struct kstat st;
    kv("fstatat", sc6(79, -100, (long)path, (long)&st, 0, 0, 0));
    kv("st_size", st.size);
    kv("st_isreg", (st.mode & 0170000) == 0100000);
    kv("st_perm", st.mode & 0777);
    fd = sc6(56, -100, (long)path, 0, 0, 0, 0);
    char buf[64];
    kv("lseek", sc(62, fd, 10, 0));
    long n = sc(63, fd, buf, sizeof buf);
    kv("read", n); buf[n] = 0; puts_("data="); puts_(buf); puts_("\n");
    kv("fstat", sc(80, fd, &st, 0)); kv("fstat_size", st.size);
    kv("dup3", sc(24, fd, 9, 0));
    kv("pread", sc6(67, 9, (long)buf, 4, 2, 0, 0)); buf[4] = 0; puts_(buf); puts_("\n");
    sc(57, fd, 0, 0); sc(57, 9, 0, 0);
    kv("read_badfd", sc(63, 9, buf, 1));
    kv("open_missing", sc6(56, -100, (long)"/nonexistent/x", 0, 0, 0, 0));
    kv("open_dir_flag_on_file", sc6(56, -100, (long)path, 040000, 0, 0, 0));   /* ENOTDIR */
    fd = sc6(56, -100, (long)path, 0, 0, 0, 0);
    char *fm = (char *)sc6(222, 0, 8192, 1, 2, fd, 0);          /* file-backed, private */
    kv("filemap_ok", (unsigned long)fm < (unsigned long)-4096);
    puts_("filemap="); sc(64, 1, fm, 16); puts_("\n");
    kv("filemap_tail_zero", fm[16] == 0 && fm[4095] == 0);
    sc(215, fm, 8192, 0); sc(57, fd, 0, 0);
    kv("unlink", sc(35, -100, path, 0));
    kv("stat_after_unlink", sc6(79, -100, (long)path, (long)&st, 0, 0, 0));
    /* pipe */
    int p[2];
    kv("pipe2", sc(59, p, 0, 0));
    sc(64, p[1], "pipe!", 5);
    n = sc(63, p[0], buf, 64); buf[n] = 0; puts_(buf); puts_("\n");
    /* memory */
    long brk0 = sc(214, 0, 0, 0);
    kv("brk_grow", sc(214, brk0 + 100000, 0, 0) == brk0 + 100000);
    ((char *)brk0)[99999] = 7;
    long big = 64 << 20;
    char *m = (char *)sc6(222, 0, big, 3, 0x22, -1, 0);
    kv("mmap_ok", (unsigned long)m < (unsigned long)-4096);
    long sum = 0;
    for (long i = 0; i < big; i += 4096 * 61) m[i] = (char)(i >> 12);
    for (long i = 0; i < big; i += 4096 * 61) sum += m[i];
    kv("sum", sum);
    char *m2 = (char *)sc6(216, (long)m, big, 2 * big, 1, 0, 0);     /* mremap MAYMOVE */
    kv("mremap_keeps", m2[4096 * 61] == 61);
    m2[2 * big - 1] = 1;
    kv("munmap", sc(215, m2, 2 * big, 0));
    char *q = (char *)sc6(222, 0, 4096, 3, 0x22, -1, 0);
    q[0] = 1;
    kv("mprotect", sc(226, q, 4096, 1));
    kv("mprotect_unmapped", sc(226, 0x10000, 4096, 1));
    /* generated code: translated, then replaced by a new mapping at the same address */
    unsigned *code = (unsigned *)sc6(222, 0, 4096, 3, 0x22, -1, 0);
    code[0] = 0x52800020; code[1] = 0xd65f03c0;                  /* mov w0, #1; ret */
    sc(226, code, 4096, 5);
    kv("jit1", ((int (*)(void))code)());
    sc6(222, (long)code, 4096, 7, 0x32, -1, 0);                   /* MAP_FIXED, rwx */
    code[0] = 0x52800040; code[1] = 0xd65f03c0;                  /* mov w0, #2; ret */
    kv("jit2", ((int (*)(void))code)());
    code[0] = 0x52800060;                                        /* patched: mov w0, #3 */
    asm volatile("dc cvau, %0; dsb ish; ic ivau, %0; dsb ish; isb" :: "r"(code) : "memory");
    kv("jit3", ((int (*)(void))code)());
    char cwd[256];
    kv("getcwd_ok", sc(17, cwd, sizeof cwd, 0) > 1 && cwd[0] == '/');
    char uts[390]; sc(160, uts, 0, 0);
    puts_(uts); puts_(" "); puts_(uts + 65 * 4); puts_("\n");
    long ts[2]; kv("clock_gettime", sc(113, 1, ts, 0));
    kv("getrandom", sc(278, buf, 16, 0));
    kv("readlink_exe_ok", sc6(78, -100, (long)"/proc/self/exe", (long)buf, 64, 0, 0) > 0);
    kv("rt_sigaction", sc6(134, 10, 0, (long)buf, 8, 0, 0));
    return 0;
}
"""

SIGILL = r"""
#include "mini.h"
int main(int argc, char **argv, char **envp) {
    puts_("before\n");
    asm volatile(".globl bad_insn\nbad_insn: .inst 0xffffffff");
    puts_("after\n");
    return 0;
}
"""

SEGV = r"""
#include "mini.h"
int main(int argc, char **argv, char **envp) {
    puts_("before\n");
    *(volatile long *)0xdead0000 = 1;
    puts_("after\n");
    return 0;
}
"""

TRAP = r"""
#include "mini.h"
int main(int argc, char **argv, char **envp) { __builtin_trap(); }
"""

ABORT = r"""
#include "mini.h"
int main(int argc, char **argv, char **envp) { sc(129, sc(172, 0, 0, 0), 6, 0); return 0; }
"""

COUNTER = r"""
#include "mini.h"
int main(int argc, char **argv, char **envp) {
    unsigned long a, b, f;
    asm volatile("mrs %0, cntvct_el0" : "=r"(a));
    for (volatile int i = 0; i < 100000; i++);
    asm volatile("mrs %0, cntvct_el0" : "=r"(b));
    asm volatile("mrs %0, cntfrq_el0" : "=r"(f));
    kv("freq", f);
    kv("monotonic", b > a);
    return 0;
}
"""

HELLO = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    printf("hello, world %d %d %ld %u %x\n", argc, -12345, 1234567890123L, 4000000000u, 0xbeef);
    for (int i = 0; i < 5; i++) printf("i=%d sq=%d\n", i, i * i);
    return 3;
}
"""

ARGS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
extern char **environ;
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    for (char **e = environ; *e; e++) if (!strncmp(*e, "DBT_TEST_", 9)) printf("env %s\n", *e);
    const char *v = getenv("DBT_TEST_VAR");
    printf("getenv=%s\n", v ? v : "(null)");
    return argc;
}
"""

FILEIO = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <errno.h>
int main(int argc, char **argv) {
    char path[4096], dir[4096], moved[4096];
    snprintf(path, sizeof path, "%s/data.txt", argv[1]);
    snprintf(dir, sizeof dir, "%s/sub", argv[1]);
    snprintf(moved, sizeof moved, "%s/sub/moved.txt", argv[1]);
    FILE *f = fopen(path, "w");
    if (!f) { perror("fopen"); return 1; }
    for (int i = 0; i < 1000; i++) fprintf(f, "line %d %x\n", i, i * 7919);
    fclose(f);
    struct stat st;
    if (stat(path, &st)) { perror("stat"); return 1; }
    printf("size=%lld regular=%d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    f = fopen(path, "r");
    char line[128]; long sum = 0; int n = 0;
    while (fgets(line, sizeof line, f)) { sum += strlen(line); n++; }
    fclose(f);
    printf("lines=%d bytes=%ld last=%s", n, sum, line);
    int fd = open(path, O_RDWR | O_APPEND);
    write(fd, "tail\n", 5);
    printf("lseek_end=%ld\n", (long)lseek(fd, 0, SEEK_END));
    close(fd);
    printf("mkdir=%d\n", mkdir(dir, 0755));
    printf("mkdir_again=%d errno=%s\n", mkdir(dir, 0755), strerror(errno));
    printf("rename=%d access=%d\n", rename(path, moved), access(moved, R_OK));
    DIR *d = opendir(dir); struct dirent *de;
    while ((de = readdir(d))) if (de->d_name[0] != '.') printf("entry %s\n", de->d_name);
    closedir(d);
    printf("unlink=%d rmdir=%d\n", unlink(moved), rmdir(dir));
    printf("open_missing=%d errno=%s\n", open("/nonexistent", O_RDONLY), strerror(errno));
    return 0;
}
"""

MALLOC = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    unsigned long total = 0;
    char *big[8];
    for (int i = 0; i < 8; i++) {              /* large blocks: glibc uses mmap */
        size_t n = (size_t)(i + 1) << 20;
        big[i] = malloc(n);
        for (size_t j = 0; j < n; j += 4096) big[i][j] = (char)i;
        big[i][n - 1] = (char)i;
        total += n;
    }
    for (int i = 0; i < 8; i++) {              /* grow: mremap */
        big[i] = realloc(big[i], (size_t)(i + 2) << 21);
        total += big[i][8192] + big[i][((size_t)(i + 1) << 20) - 1];
    }
    for (int i = 0; i < 8; i++) free(big[i]);
    static void *small[20000];
    for (int i = 0; i < 20000; i++) { small[i] = malloc(16 + i % 300); memset(small[i], 1, 16); }
    for (int i = 0; i < 20000; i += 2) free(small[i]);
    for (int i = 0; i < 20000; i += 2) small[i] = calloc(1, 64);
    unsigned long s = 0;
    for (int i = 0; i < 20000; i++) s += ((unsigned char *)small[i])[0];
    printf("total=%lu s=%lu\n", total, s);
    return 0;
}
"""


# -- freestanding programs: the plumbing ----------------------------------------------------
def test_raw_syscalls_write_and_exit(build):
    exe = build("raw", RAW, freestanding=True, headers={"mini.h": MINI_H})
    r = dbt_run(exe, "one", "two words")
    no_traceback(r)
    assert r.stdout == b"one\ntwo words\nb\0\xff\nhello raw\n"
    assert r.returncode == 42


def test_single_step_and_stats(build):
    exe = build("raw", RAW, freestanding=True, headers={"mini.h": MINI_H})
    r = dbt_run("--single-step", "--stats", exe, "x")
    no_traceback(r)
    assert r.stdout == b"x\nb\0\xff\nhello raw\n" and r.returncode == 42
    m = re.search(rb"stats: (\d+) guest instructions, (\d+) blocks translated .*median compile "
                  rb"([\d.]+) ms/block.*wall ([\d.]+) s", r.stderr)
    assert m, r.stderr
    assert int(m.group(1)) > 50 and int(m.group(2)) > 50     # one block per instruction


def test_syscall_probe(build, tmp_path):
    exe = build("sysprobe", SYSPROBE, freestanding=True, headers={"mini.h": MINI_H})
    env = dict(os.environ, DBT_TEST_VAR="value with spaces")
    r = dbt_run(exe, tmp_path / "probe.txt", env=env)
    no_traceback(r)
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    for line in ["argc=2", "env: DBT_TEST_VAR=value with spaces", "AT_PAGESZ=4096",
                 "AT_PLATFORM=aarch64", "AT_RANDOM_present=1", f"AT_EXECFN={exe}",
                 "sp_aligned=1", "write=16", "st_size=16", "st_isreg=1", "st_perm=420",
                 "data=abcdef", "2345", "read_badfd=-9", "open_missing=-2",
                 "open_dir_flag_on_file=-20", "filemap=0123456789abcdef",
                 "filemap_tail_zero=1", "stat_after_unlink=-2", "pipe!", "brk_grow=1",
                 "mremap_keeps=1", "mprotect=0", "mprotect_unmapped=-12", "jit1=1", "jit2=2",
                 "jit3=3", "getcwd_ok=1", "Linux aarch64", "getrandom=16", "readlink_exe_ok=1"]:
        assert line + "\n" in out, (line, out)


@needs_qemu
def test_syscall_probe_matches_qemu(build, tmp_path):
    exe = build("sysprobe", SYSPROBE, freestanding=True, headers={"mini.h": MINI_H})
    env = dict(os.environ, DBT_TEST_VAR="x")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    r = dbt_run(exe, tmp_path / "a" / "probe.txt", env=env)
    q = qemu_run(exe, tmp_path / "b" / "probe.txt", env=env)
    # the same path length, so the outputs are byte-identical
    same_as_qemu(r, q)


def test_undefined_instruction_is_sigill(build):
    from elftools.elf.elffile import ELFFile
    exe = build("sigill", SIGILL, freestanding=True, headers={"mini.h": MINI_H})
    r = dbt_run(exe)
    assert r.stdout == b"before\n"
    line = one_line_error(r, 132)
    m = re.fullmatch(r"dbt-run: SIGILL: undefined instruction 0xffffffff at pc (0x[0-9a-f]+)",
                     line)
    assert m, line
    with open(exe, "rb") as f:
        sym = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name("bad_insn")[0]
    assert int(m.group(1), 16) == sym["st_value"]


def test_unmapped_access_is_sigsegv(build):
    exe = build("segv", SEGV, freestanding=True, headers={"mini.h": MINI_H})
    r = dbt_run(exe)
    assert r.stdout == b"before\n"
    line = one_line_error(r, 139)
    assert re.fullmatch(r"dbt-run: SIGSEGV: invalid write to address 0xdead0000 at pc 0x[0-9a-f]+",
                        line), line


def test_brk_is_sigtrap(build):
    r = dbt_run(build("trap", TRAP, freestanding=True, headers={"mini.h": MINI_H}))
    assert "SIGTRAP" in one_line_error(r, 133)


def test_kill_self_sigabrt(build):
    r = dbt_run(build("abort", ABORT, freestanding=True, headers={"mini.h": MINI_H}))
    assert "SIGABRT" in one_line_error(r, 134)


def test_counter_register(build):
    r = dbt_run(build("counter", COUNTER, freestanding=True, headers={"mini.h": MINI_H}))
    no_traceback(r)
    assert r.returncode == 0
    assert r.stdout == b"freq=62500000\nmonotonic=1\n"


# -- files that are not programs for us -----------------------------------------------------
def test_not_an_elf(tmp_path):
    path = tmp_path / "script.txt"
    path.write_text("#!/bin/sh\necho hi\n")
    line = one_line_error(dbt_run(path), 1)
    assert "not an ELF" in line


def test_x86_64_elf():
    host = Path(shutil.which("true") or "/bin/true").resolve()
    line = one_line_error(dbt_run(host), 1)
    assert "AArch64" in line


def test_missing_program(tmp_path):
    line = one_line_error(dbt_run(tmp_path / "nope"), 1)
    assert "No such file" in line


def test_dynamic_executable_refused(build, tmp_path):
    src = tmp_path / "dyn.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "dyn"
    subprocess.run([CC, "-O2", "-o", str(exe), str(src)], check=True)
    line = one_line_error(dbt_run(exe), 1)
    assert "dynamically linked" in line


# -- glibc programs, compared with qemu ------------------------------------------------------
def test_hello_printf(build):
    r = dbt_run(build("hello", HELLO), "a")
    no_traceback(r)
    assert r.stdout == (b"hello, world 2 -12345 1234567890123 4000000000 beef\n"
                        + b"".join(b"i=%d sq=%d\n" % (i, i * i) for i in range(5)))
    assert r.returncode == 3


def test_static_pie(build):
    r = dbt_run(build("hello-pie", HELLO, pie=True))
    no_traceback(r)
    assert r.stdout.startswith(b"hello, world 1 -12345 1234567890123 4000000000 beef\n")
    assert r.returncode == 3


@needs_qemu
def test_hello_matches_qemu(build):
    exe = build("hello", HELLO)
    r = dbt_run(exe)
    no_traceback(r)
    same_as_qemu(r, qemu_run(exe))


@needs_qemu
def test_argv_envp(build):
    exe = build("args", ARGS)
    env = dict(os.environ, DBT_TEST_VAR="xyz", DBT_TEST_EMPTY="")
    args = ["plain", "two words", "", "ünïcode", "-x"]
    r = dbt_run(exe, *args, env=env)
    no_traceback(r)
    q = qemu_run(exe, *args, env=env)
    # qemu-user hands the environment over in reverse order (the kernel, and dbt-run, keep it)
    assert sorted(r.stdout.splitlines()) == sorted(q.stdout.splitlines())
    assert r.stdout.index(b"env DBT_TEST_VAR") < r.stdout.index(b"env DBT_TEST_EMPTY")
    assert b"argv[2]=two words\n" in r.stdout and b"getenv=xyz\n" in r.stdout
    assert r.returncode == q.returncode == 6


@needs_qemu
def test_file_io(build, tmp_path):
    exe = build("fileio", FILEIO)
    (tmp_path / "dbt").mkdir()
    (tmp_path / "qemu").mkdir()
    r = dbt_run(exe, tmp_path / "dbt")
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert b"lines=1000 bytes=15745" in r.stdout and b"entry moved.txt\n" in r.stdout
    same_as_qemu(r, qemu_run(exe, tmp_path / "qemu"))
    assert list((tmp_path / "dbt").iterdir()) == []


@needs_qemu
def test_malloc_heavy(build):
    exe = build("malloc", MALLOC)
    r = dbt_run(exe)
    no_traceback(r)
    same_as_qemu(r, qemu_run(exe))
    assert r.stdout.startswith(b"total=")


# -- busybox (Debian's static arm64 build, fetched by tools/setup) ----------------------------
BUSYBOX_CASES = [
    (["echo", "hello", "busybox"], None),
    (["wc", "-l", "{dir}/lines"], None),
    (["sort", "-r", "{dir}/lines"], None),
    (["md5sum", "{dir}/lines"], None),
    (["ls", "{dir}"], None),
    (["tr", "a-z", "A-Z"], b"from stdin\n"),
    (["sh", "-c", "echo one; echo two; exit 7"], None),
    (["cat", "/nonexistent"], None),
]


@needs_qemu
@needs_busybox
@pytest.mark.parametrize("argv,stdin", BUSYBOX_CASES, ids=[c[0][0] for c in BUSYBOX_CASES])
def test_busybox(argv, stdin, tmp_path):
    (tmp_path / "lines").write_text("".join(f"line {i * 37 % 101}\n" for i in range(50)))
    argv = [a.format(dir=tmp_path) for a in argv]
    r = dbt_run(BUSYBOX, *argv, stdin=stdin)
    no_traceback(r)
    same_as_qemu(r, qemu_run(BUSYBOX, *argv, stdin=stdin))
