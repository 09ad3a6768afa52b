"""Unit tests of the user-mode runner's parts that need no cross compiler: the initial stack,
the memory map, open-flag translation and struct layouts."""
import os
import struct

import pytest

from dbt.user import loader, syscalls
from dbt.user.addrspace import AddressSpace
from dbt.user.mm import MMAP_TOP, PAGE, STACK_TOP, MemoryMap


@pytest.fixture
def mm():
    return MemoryMap(AddressSpace(ram_bytes=1 << 28))


def test_initial_stack_layout(mm):
    image = loader.Image("/bin/prog", entry=0x400123, phdr=0x400040, phent=56, phnum=7,
                         brk=0x500000)
    argv, envp = ["/bin/prog", "a", "bee"], [b"K=V", b"EMPTY="]
    sp = loader.setup_stack(mm, image, argv, envp)
    assert sp % 16 == 0 and STACK_TOP - (8 << 20) < sp < STACK_TOP
    read = mm.space.read

    def word(i):
        return struct.unpack("<Q", read(sp + 8 * i, 8))[0]

    def cstr(addr):
        return mm.space.read_cstr(addr)

    assert word(0) == 3
    assert [cstr(word(1 + i)) for i in range(3)] == [b"/bin/prog", b"a", b"bee"]
    assert word(4) == 0
    assert [cstr(word(5)), cstr(word(6))] == envp and word(7) == 0
    aux, i = {}, 8
    order = []
    while True:
        k, v = word(i), word(i + 1)
        i += 2
        order.append(k)
        if k == loader.AT_NULL:
            break
        aux[k] = v
    assert aux[loader.AT_PHDR] == 0x400040 and aux[loader.AT_PHENT] == 56
    assert aux[loader.AT_PHNUM] == 7 and aux[loader.AT_ENTRY] == 0x400123
    assert aux[loader.AT_PAGESZ] == 4096 and aux[loader.AT_CLKTCK] == 100
    assert aux[loader.AT_HWCAP] == 0x83 and aux[loader.AT_HWCAP2] == 0
    assert aux[loader.AT_SECURE] == 0 and aux[loader.AT_UID] == os.getuid()
    assert cstr(aux[loader.AT_PLATFORM]) == b"aarch64"
    assert cstr(aux[loader.AT_EXECFN]) == b"/bin/prog"
    rnd = aux[loader.AT_RANDOM]
    assert sp < rnd and rnd + 16 <= STACK_TOP and len(read(rnd, 16)) == 16
    # strings live above the table, the exec file name highest (as the kernel lays them out)
    assert word(1) < word(5) < aux[loader.AT_EXECFN] < STACK_TOP
    assert image.auxv == struct.pack(f"<{2 * len(order)}Q",
                                     *[x for k in order for x in (k, aux.get(k, 0))])


def test_find_free_is_top_down_and_respects_hints(mm):
    a = mm.find_free(3 * PAGE)
    assert a == MMAP_TOP - 3 * PAGE
    mm.map(a, 3 * PAGE, 3)
    b = mm.find_free(PAGE)
    assert b == a - PAGE
    assert mm.find_free(PAGE, hint=0x1234_5000) == 0x1234_5000
    assert mm.find_free(PAGE, hint=a + PAGE) == b            # taken: fall back
    mm.unmap(a + PAGE, PAGE)                                  # a hole in the middle
    assert not mm.is_mapped(a, a + 3 * PAGE)
    assert mm.find_free(PAGE, hint=a + PAGE) == a + PAGE


def test_prot_none_reservation_costs_no_frames(mm):
    before = mm.frames_left()
    base = mm.find_free(1 << 32)            # larger than guest RAM
    mm.map(base, 1 << 32, 0)
    assert mm.frames_left() == before and mm.is_mapped(base, base + (1 << 32))
    assert mm.protect(base + PAGE, 2 * PAGE, 3)
    assert mm.frames_left() == before - 2
    mm.space.write(base + PAGE, b"hi")
    assert mm.space.read(base + PAGE, 2) == b"hi"
    mm.unmap(0, 1 << 47)                    # everything, without walking 2^35 pages
    assert mm.starts == [] and mm.frames_left() == before


def test_brk(mm):
    mm.set_brk_start(0x500123)
    start = mm.brk(0)
    assert start == 0x501000
    assert mm.brk(start + 10000) == start + 10000
    mm.space.write(start + 9999, b"x")
    assert mm.brk(start + 10) == start + 10
    assert not mm.space.entry(start + 2 * PAGE)
    assert mm.brk(start - PAGE) == start + 10                 # below the start: refused


@pytest.mark.parametrize("name,arm64", [("O_DIRECTORY", 0o40000), ("O_NOFOLLOW", 0o100000),
                                        ("O_DIRECT", 0o200000), ("O_CLOEXEC", 0o2000000),
                                        ("O_APPEND", 0o2000), ("O_NONBLOCK", 0o4000),
                                        ("O_CREAT", 0o100), ("O_TRUNC", 0o1000)])
def test_open_flags(name, arm64):
    host = getattr(os, name)
    assert syscalls.open_flags_to_host(arm64) == host
    assert syscalls.open_flags_to_guest(host) & ~0o400000 == arm64


def test_stat_layout():
    st = os.stat("/")
    raw = syscalls.pack_stat(st)
    assert len(raw) == 128
    assert struct.unpack_from("<Q", raw, 8)[0] == st.st_ino
    assert struct.unpack_from("<I", raw, 16)[0] == st.st_mode
    assert struct.unpack_from("<q", raw, 48)[0] == st.st_size
    assert struct.unpack_from("<q", raw, 88)[0] == st.st_mtime_ns // 10**9


def test_syscall_numbers():
    nr = syscalls.NR
    assert (nr["read"], nr["write"], nr["openat"], nr["close"], nr["exit_group"]) == \
        (63, 64, 56, 57, 94)
    assert (nr["mmap"], nr["brk"], nr["newfstatat"], nr["prlimit64"], nr["getrandom"]) == \
        (222, 214, 79, 261, 278)
    assert (nr["clone"], nr["execve"], nr["rseq"], nr["statx"]) == (220, 221, 293, 291)
