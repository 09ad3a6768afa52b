"""Real compiled code: C programs built during the test with `aarch64-linux-gnu-gcc -O2 -static`
and Debian's arm64 busybox, each run under dbt-run and under qemu-aarch64; stdout and the exit
status must be identical."""
from __future__ import annotations

import sys

import pytest

from support import (BUSYBOX, ROOT, dbt_run, needs_busybox, needs_cc, needs_qemu, qemu_run,
                     same_as_qemu)

pytestmark = [needs_cc, needs_qemu]

FLOATING = r"""
#include <stdio.h>
#include <math.h>
#include <fenv.h>
#include <float.h>
#include <stdlib.h>

static volatile double vd[] = {0.1, -2.5, 1e300, 1e-310, 3.0, -0.0, 123456.789};
static volatile float vf[] = {0.1f, -2.5f, 3.4e38f, 1e-40f, 7.0f, 1.5f};

int main(void) {
    double s = 0;
    for (int i = 0; i < 7; i++) {
        double x = vd[i];
        s += x * 1.000001;
        printf("%d %.17g %.17g %.17g %.9g %ld %a\n", i, x / 3, sqrt(fabs(x)), fma(x, 1.5, -x),
               (float)x, (long)(x / 1e290), x * x);
    }
    for (int i = 0; i < 6; i++) {
        float f = vf[i];
        printf("f %.9g %.9g %.9g %d %u\n", f * f, f / 7.0f, sqrtf(fabsf(f)), (int)f,
               (unsigned)(f > 0 ? f : 0));
    }
    printf("libm %.17g %.17g %.17g %.17g %.17g\n", sin(1.0), cos(2.0), exp(1.5), log(10.0),
           atan2(1.0, -3.0));
    printf("pow %.17g %.17g cbrt %.17g\n", pow(2.0, 0.5), pow(10.0, -3.2), cbrt(-27.5));
    const int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    for (int m = 0; m < 4; m++) {
        fesetround(modes[m]);
        volatile double a = 1.0, b = 3.0;
        printf("round %d: %.17g %.17g %ld %.17g\n", m, a / b, -a / b, lrint(2.5), nearbyint(-1.5));
    }
    fesetround(FE_TONEAREST);
    feclearexcept(FE_ALL_EXCEPT);
    volatile double z = 0.0, one = 1.0, big = DBL_MAX;
    volatile double r1 = one / z, r2 = big * 2, r3 = z / z, r4 = one / 3, r5 = DBL_MIN / 1e10;
    printf("flags %d %d %d %d %d %g %g %g\n", !!fetestexcept(FE_DIVBYZERO),
           !!fetestexcept(FE_OVERFLOW), !!fetestexcept(FE_INVALID), !!fetestexcept(FE_INEXACT),
           !!fetestexcept(FE_UNDERFLOW), r1, r2, r3 + r4 + r5);
    printf("strtod %.17g %.17g\n", strtod("2.2250738585072014e-308", 0), strtod("0x1.8p+3", 0));
    printf("sum %.17g\n", s);
    return 0;
}
"""

STRINGS = r"""
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <stdint.h>

/* glibc's string and memory routines use AdvSIMD: every size and alignment up to 300 */
int main(void) {
    static unsigned char a[1024], b[1024];
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 1024; i++) a[i] = (i * 131 + 7) & 0xff ? (i * 131 + 7) & 0xff : 1;
    for (int off = 0; off < 16; off++) {
        for (int n = 0; n < 300; n += 1 + n / 16) {
            memcpy(b + off, a + (off * 3) % 16, n);
            memmove(b + off + 1, b + off, n);
            memset(b + 600 + off, off, n / 2);
            b[off + n + 1] = 0;
            h = (h ^ strlen((char *)b + off)) * 1099511628211ull;
            h = (h ^ (uintptr_t)(memchr(b + off, b[off + n / 2], n + 1) ? 1 : 0)) * 1099511628211ull;
            h = (h ^ (unsigned)memcmp(a, b + off, n)) * 1099511628211ull;
            h = (h ^ (unsigned)strcmp((char *)a + 900, (char *)b + off)) * 1099511628211ull;
            char *c = strchr((char *)b + off, 'q');
            h = (h ^ (c ? (unsigned)(c - (char *)b) : 7u)) * 1099511628211ull;
            for (int k = 0; k < 1024; k++) h = (h ^ b[k]) * 1099511628211ull;
        }
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s|%.*s|%-8s|", "abc", 3, "defghi", "x");
    printf("%s %zu %016llx\n", buf, strlen(buf), (unsigned long long)h);
    char *dup = strdup("The quick brown fox");
    printf("%s %s %zu\n", strstr(dup, "brown"), strrchr(dup, 'o'), strspn(dup, "ThE qu"));
    free(dup);
    return 0;
}
"""

CONTROL = r"""
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>

static jmp_buf env;
static int depth;

static void dive(int n) {
    volatile double keep = n * 1.5;
    if (n == 0) longjmp(env, 42);
    dive(n - 1);
    printf("unreachable %g\n", keep);
}

static double mix(const char *fmt, ...) {
    va_list ap;
    double total = 0;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        switch (*p) {
        case 'i': total += va_arg(ap, int); break;
        case 'l': total += (double)va_arg(ap, long); break;
        case 'd': total += va_arg(ap, double); break;
        case 's': total += (double)va_arg(ap, char *)[0]; break;
        }
    }
    va_end(ap);
    return total;
}

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

int main(void) {
    int r = setjmp(env);
    if (r == 0) {
        depth = 1;
        dive(100);
    }
    printf("longjmp returned %d after depth %d\n", r, depth);
    printf("mix %.17g\n", mix("ildsdi", 1, 2L << 40, 0.25, "A", -1e10, -7));
    printf("mix %.17g\n", mix("dddddddddd", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.5));
    say("%d %s %c %5.2f %x %lld\n", 12, "twelve", 'z', 3.14159, 0xbeef, -123456789012345LL);
    return r == 42 ? 0 : 1;
}
"""

INTEGER = (ROOT / "tools" / "workloads")


@pytest.mark.parametrize("name,source", [("floating", FLOATING), ("strings", STRINGS),
                                         ("control", CONTROL)], ids=["floating", "strings",
                                                                     "setjmp-varargs"])
def test_c_program_matches_qemu(build, name, source):
    exe = build(name, source, libs=("-lm",))
    r = dbt_run(exe)
    same_as_qemu(r, qemu_run(exe))
    assert r.stdout


@pytest.mark.parametrize("name,args", [("crc32", ["2"]), ("sieve", ["1"]), ("sort", ["1"])])
def test_integer_workload_matches_qemu(build, name, args):
    exe = build(name, (INTEGER / f"{name}.c").read_text())
    r = dbt_run(exe, *args)
    same_as_qemu(r, qemu_run(exe, *args))
    assert r.stdout


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bb")
    x = 7
    rows = []
    for i in range(3000):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        rows.append(f"{x % 997} name{x % 89} {x % 13}.{x % 100:02d} {'abcdefgh'[x % 8] * (1 + x % 5)}")
    (d / "data.txt").write_text("\n".join(rows) + "\n")
    (d / "blob.bin").write_bytes(bytes((i * i + 17 * (i >> 8)) & 0xFF for i in range(300000)))
    return d


BUSYBOX_SCRIPTS = {
    "sha256sum": "sha256sum {d}/data.txt {d}/blob.bin",
    "md5sum": "md5sum {d}/data.txt {d}/blob.bin",
    "gzip": "gzip -c -9 {d}/blob.bin > {t}/b.gz && gunzip -c {t}/b.gz | md5sum && "
            "gzip -c {d}/data.txt | gunzip -c | cmp - {d}/data.txt && echo round-trip-ok",
    "sort": "sort -k3,3n -k1,1nr {d}/data.txt | md5sum; sort -u -t' ' -k2,2 {d}/data.txt | head",
    "awk": "awk '{{s[$2] += $3; n++}} END {{for (k in s) t += s[k]; printf \"%d %.2f\\n\", n, t}}' "
           "{d}/data.txt",
    "sed": "sed -e 's/name\\([0-9]*\\)/N<\\1>/g' -e '/^9/d' {d}/data.txt | md5sum",
}


@needs_busybox
@pytest.mark.parametrize("applet", sorted(BUSYBOX_SCRIPTS))
def test_busybox_applet_matches_qemu(applet, inputs, tmp_path):
    script = BUSYBOX_SCRIPTS[applet].format(d=inputs, t=tmp_path)
    # the busybox shell runs one applet per command: no fork needed for pipelines of builtins,
    # so each stage runs in its own dbt-run / qemu-aarch64 process through `sh -c` of the host
    ours = _pipeline(script, [sys.executable, "-m", "dbt.user.run"])
    theirs = _pipeline(script, ["qemu-aarch64"])
    assert ours.returncode == theirs.returncode, ours.stderr
    assert ours.stdout == theirs.stdout
    assert ours.stdout


def _pipeline(script, runner):
    """Run a shell pipeline whose every command is a busybox applet under `runner`."""
    import os
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as bindir:
        for applet in ("sha256sum", "md5sum", "gzip", "gunzip", "sort", "awk", "sed", "head",
                       "cmp"):
            path = os.path.join(bindir, applet)
            with open(path, "w") as f:
                f.write(f"#!/bin/sh\nexec {' '.join(runner)} {BUSYBOX} {applet} \"$@\"\n")
            os.chmod(path, 0o755)
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"])
        return subprocess.run(["/bin/sh", "-c", "set -e; " + script], capture_output=True,
                              env=env, timeout=1200)
