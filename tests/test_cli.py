"""`dbt-vm` command-line errors: each is one line on stderr and exit code 2, before any
guest runs; and the happy path of a tiny ELF guest powering off with exit code 0."""
import subprocess
import sys

import pytest

from support import CC, needs_cc


def dbt_vm(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "dbt.cli", *map(str, args)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout)


def one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dbt-vm: "), r.stderr
    for w in words:
        assert w in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def build_asm(tmp_path, name, text):
    """An assembly guest linked at 0x40080000 (RAM base + 0x80000), as an ELF."""
    src = tmp_path / f"{name}.S"
    src.write_text(text)
    exe = tmp_path / f"{name}.elf"
    subprocess.run([CC, "-nostdlib", "-static", "-Wl,--build-id=none", "-Wl,-Ttext=0x40080000",
                    "-o", str(exe), str(src)], check=True)
    return exe


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    if CC is None:
        pytest.skip("no cross compiler")
    return build_asm(tmp_path_factory.mktemp("hello"), "hello", """
    .global _start
_start:
    ldr x1, =0x09000000
    adr x2, msg
1:  ldrb w3, [x2], #1
    cbz w3, 2f
    str w3, [x1]
    b 1b
2:  ldr x0, =0x84000008      // PSCI SYSTEM_OFF
    hvc #0
    b .
msg: .asciz "hello from the virt board\\n"
""")


def test_missing_kernel_file():
    one_line_error(dbt_vm("boot", "--kernel", "/nonexistent/Image"), "cannot read kernel",
                   "/nonexistent/Image")


def test_unreadable_kernel(tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    one_line_error(dbt_vm("boot", "--kernel", d), "cannot read kernel")


def test_unknown_option():
    one_line_error(dbt_vm("boot", "--frobnicate"), "--frobnicate")


def test_unknown_command():
    one_line_error(dbt_vm("launch"), "launch")


def test_smp_above_maxcpus(hello):
    one_line_error(dbt_vm("boot", "--kernel", hello, "--smp", "4", "--maxcpus", "2"),
                   "--smp 4", "--maxcpus 2")
    one_line_error(dbt_vm("boot", "--kernel", hello, "--smp", "cpus=3,maxcpus=2"), "--maxcpus 2")


@pytest.mark.parametrize("size", ["lots", "12Q", "-5M", ""])
def test_memory_size_that_does_not_parse(hello, size):
    one_line_error(dbt_vm("boot", "--kernel", hello, "--memory", size), "--memory")


def test_kernel_too_big_for_memory(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (40 << 20))
    one_line_error(dbt_vm("boot", "--kernel", big, "--memory", "32M"), "does not fit")


def test_bad_log_item(hello):
    one_line_error(dbt_vm("boot", "--kernel", hello, "-d", "everything"), "everything")


@needs_cc
def test_elf_guest_powers_off_with_exit_code_0(hello):
    r = dbt_vm("boot", "--kernel", hello)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from the virt board\n"


@needs_cc
def test_serial_to_file(hello, tmp_path):
    out = tmp_path / "console.txt"
    r = dbt_vm("boot", "--kernel", hello, "--serial", f"file:{out}")
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "hello from the virt board\n"


RESET_GUEST = """
    .global _start
_start:
    ldr x1, =0x09000000
    ldr x4, =0x41000000          // RAM outside the image: kept across a reset
    ldr x5, [x4]
    ldr x6, =0x5e7
    cmp x5, x6
    b.eq 2f
    str x6, [x4]
    mov w3, #'1'
    str w3, [x1]
    mov w3, #10
    str w3, [x1]
    ldr x0, =0x84000009          // PSCI SYSTEM_RESET
    hvc #0
    b .
2:  mov w3, #'2'
    str w3, [x1]
    mov w3, #10
    str w3, [x1]
    ldr x0, =0x84000008          // PSCI SYSTEM_OFF
    hvc #0
    b .
"""


@needs_cc
def test_system_reset_restarts_the_machine(tmp_path):
    """SYSTEM_RESET starts the boot CPU again at the kernel entry with RAM outside the
    loaded images kept: the guest sees its own mark and powers off (QEMU does the same when
    allowed to reboot)."""
    exe = build_asm(tmp_path, "reset", RESET_GUEST)
    r = dbt_vm("boot", "--kernel", exe)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1\n2\n"
    import shutil
    qemu = shutil.which("qemu-system-aarch64")
    if qemu:
        q = subprocess.run([qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-m", "256M",
                            "-nographic", "-nic", "none", "-kernel", str(exe)],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert q.stdout == r.stdout


@needs_cc
def test_guest_looping_on_faults_stays_interruptible(tmp_path):
    """Vectors at an address with nothing behind them: every exception raises another one at
    the vector.  The exceptions are taken natively, yet each counts against the quantum, so
    dbt-vm keeps returning to Python and Ctrl-C ends it (exit code 130)."""
    import signal
    import time
    exe = build_asm(tmp_path, "loop", "    .global _start\n_start:\n    msr vbar_el1, xzr\n    .inst 0x00000000\n")
    p = subprocess.Popen([sys.executable, "-m", "dbt.cli", "boot", "--kernel", str(exe)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(5)
    assert p.poll() is None
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=30) == 130


DTB_GUEST = """
    .global _start
_start:                           // print the magic and totalsize of the blob at x0
    mov x19, x0
    ldr x1, =0x09000000
    ldr w2, [x19]
    rev w2, w2
    bl hex
    ldr w2, [x19, #4]
    rev w2, w2
    bl hex
    ldr x0, =0x84000008
    hvc #0
hex: mov x5, #28
1:  lsr w3, w2, w5
    and w3, w3, #15
    cmp w3, #10
    add w4, w3, #'0'
    add w6, w3, #('a' - 10)
    csel w4, w4, w6, lt
    str w4, [x1]
    subs x5, x5, #4
    b.ge 1b
    mov w4, #10
    str w4, [x1]
    ret
"""


@needs_cc
def test_dtb_option_hands_that_blob_to_the_guest(tmp_path):
    """x0 points at the device tree: the generated one by default, the --dtb file when given
    (compiled here by dtc)."""
    import shutil
    exe = build_asm(tmp_path, "dtb", DTB_GUEST)
    r = dbt_vm("boot", "--kernel", exe)
    magic, size = r.stdout.split()
    assert r.returncode == 0 and magic == "d00dfeed" and int(size, 16) > 0x200
    if shutil.which("dtc") is None:
        pytest.skip("dtc is not installed")
    (tmp_path / "t.dts").write_text('/dts-v1/;\n/ { model = "dbt-vm test"; };\n')
    blob = tmp_path / "t.dtb"
    subprocess.run(["dtc", "-O", "dtb", "-o", str(blob), str(tmp_path / "t.dts")], check=True)
    r = dbt_vm("boot", "--kernel", exe, "--dtb", blob)
    assert r.returncode == 0
    assert r.stdout.split() == ["d00dfeed", f"{blob.stat().st_size:08x}"]
