"""The translator's own mechanisms: chaining, budgets, self-modifying code, single-step,
and typed exits, on snippets built with the real cross assembler."""
import pytest

from dbt.jit import exits
from dbt.jit.engine import Engine
from dbt.testing import asm
from dbt.user.addrspace import PROT_EXEC, PROT_READ, PROT_WRITE, AddressSpace

pytestmark = pytest.mark.skipif(not asm.available(), reason="aarch64 cross binutils not installed")

CODE, DATA = 0x400000, 0x600000


def machine(source, writable_code=False):
    space = AddressSpace(ram_bytes=1 << 24, l2_tables=2)
    prot = PROT_READ | PROT_EXEC | (PROT_WRITE if writable_code else 0)
    space.map(CODE, 0x4000, prot)
    space.map(DATA, 0x4000, PROT_READ | PROT_WRITE)
    space.write(CODE, asm.assemble(source), force=True)
    engine = Engine(space)
    engine.state["PC"] = CODE
    engine.state.set_x(28, DATA)
    return space, engine


LOOP = """
    mov x0, #0
    mov x1, #1000
1:  add x0, x0, x1
    sub x1, x1, #1
    cbnz x1, 1b
    svc #0
"""


def test_loop_chains_and_counts_instructions():
    _, en = machine(LOOP)
    assert en.run(10**6) == exits.SVC
    assert en.state.x(0) == sum(range(1001))
    assert en.executed == 2 + 3 * 1000 + 1
    # the loop body chained to itself: far fewer dispatcher visits than iterations
    assert len(en.cache.blocks) <= 4


def test_budget_stops_and_resumes_exactly():
    _, en = machine(LOOP)
    codes = []
    while True:
        c = en.run(7)
        codes.append(c)
        if c != exits.BUDGET:
            break
    assert c == exits.SVC and en.state.x(0) == sum(range(1001))
    assert en.executed == 3003


def test_single_step_matches_block_execution():
    _, en = machine(LOOP)
    en.single_step = True
    steps = 0
    while en.run(1) == exits.BUDGET:
        steps += 1
    assert en.state.x(0) == sum(range(1001))
    assert steps == 3002


def test_self_modifying_code_is_retranslated():
    # the loop rewrites the immediate of its own "add x0, x0, #1" to #2 after the first pass
    src = """
        mov x0, #0
        mov x2, #2
        adr x3, patch
    again:
    patch:
        add x0, x0, #1
        ldr w4, [x3]
        orr w4, w4, #0x800        // imm12 bit 1: #1 -> #3
        str w4, [x3]
        sub x2, x2, #1
        cbnz x2, again
        svc #0
    """
    space, en = machine(src, writable_code=True)
    assert en.run(10**5) == exits.SVC
    assert en.state.x(0) == 1 + 3


def test_code_loaded_over_old_code():
    space, en = machine("mov x0, #1\nsvc #0")
    assert en.run(100) == exits.SVC and en.state.x(0) == 1
    space.write(CODE, asm.assemble("mov x0, #2\nsvc #0"), force=True)
    en.state["PC"] = CODE
    assert en.run(100) == exits.SVC and en.state.x(0) == 2


def test_undefined_instruction_exit_names_word_and_pc():
    _, en = machine("nop\n.inst 0xffffffff")
    assert en.run(100) == exits.UNDEFINED
    assert en.state["PC"] == CODE + 4
    assert en.state["EXIT_INFO"] == 0xFFFFFFFF


def test_fault_on_unmapped_store_changes_nothing():
    _, en = machine("mov x1, #7\nmov x2, #0x10\nstr x1, [x2]\nmov x1, #9\nsvc #0")
    assert en.run(100) == exits.FAULT
    assert en.state["PC"] == CODE + 8
    assert en.state.x(1) == 7
    assert en.state["EXIT_INFO"] == 0x10
    assert en.executed == 2


def test_fetch_from_unmapped_memory_faults():
    _, en = machine("mov x1, #0x100000\nbr x1")
    assert en.run(100) == exits.FAULT
    assert en.state["PC"] == 0x100000
    assert en.state["EXIT_INFO2"] == exits.ACCESS_EXEC


def test_code_cache_flush_when_too_much_code_was_discarded(monkeypatch):
    """Self-modifying code in a loop discards a module per iteration; past the limit the
    cache starts a fresh MCJIT engine (releasing code memory) and the guest goes on."""
    from dbt.jit.codecache import CodeCache
    monkeypatch.setattr(CodeCache, "MAX_DEAD_MODULES", 20)
    src = """
        mov x0, #0
        mov x2, #100
        adr x3, patch
    again:
    patch:
        add x0, x0, #1
        ldr w4, [x3]
        str w4, [x3]              // rewrite the same word: forces retranslation
        sub x2, x2, #1
        cbnz x2, again
        svc #0
    """
    space, en = machine(src, writable_code=True)
    assert en.run(10**6) == exits.SVC
    assert en.state.x(0) == 100
    assert en.cache.flushes >= 4


def test_disk_cache_trouble_turns_it_off(tmp_path, capsys):
    """A database that cannot be used (here: not a database at all) costs the cache, never the
    run."""
    from dbt.jit.diskcache import DiskCache
    (tmp_path / "code.sqlite").write_bytes(b"this is not sqlite" * 100)
    cache = DiskCache(tmp_path)
    assert cache.candidates(0x400000, 0) == []
    cache.put("k", 0x400000, 0, 4, 1, "n", {}, b"obj")
    cache.flush()
    assert cache.db is None
    assert "code cache disabled" in capsys.readouterr().err


def test_disk_cache_reuses_compiled_blocks(tmp_path, monkeypatch):
    """A second engine over the same code loads its blocks from the disk cache instead of
    compiling them, and runs them to the same result."""
    from dbt.jit.diskcache import DiskCache
    monkeypatch.setattr(DiskCache, "_shared", DiskCache(tmp_path))
    _, first = machine(LOOP)
    assert first.run(10**6) == exits.SVC
    DiskCache._shared.flush()
    _, second = machine(LOOP)
    assert second.run(10**6) == exits.SVC
    assert second.state.x(0) == first.state.x(0) == sum(range(1001))
    assert second.cache.disk_hits == len(second.cache.blocks) > 0
    assert second.cache.compile_seconds == []


@pytest.mark.parametrize("store", ["str q0, [x3]", "stp x5, x6, [x3]", "st1 {v0.16b}, [x3]"])
def test_wide_store_over_code_invalidates_all_it_wrote(store):
    """A 16-byte store over code arrives at the slow path in 8-byte pieces; the whole range
    must be invalidated (a block that starts in the second half must be retranslated too)."""
    src = f"""
        adr x3, target
        adr x4, new_code
        ldr q0, [x4]
        ldp x5, x6, [x4]
        mov x0, #0
        bl target + 8          // translate a block starting in the second 8 bytes
        {store}
        bl target + 8
        svc #0
    target:
        nop
        nop
        add x0, x0, #1         // replaced by: add x0, x0, #100
        ret
        .align 4
    new_code:
        nop
        nop
        add x0, x0, #100
        ret
    """
    space, en = machine(src, writable_code=True)
    assert en.run(10**5) == exits.SVC
    assert en.state.x(0) == 101
