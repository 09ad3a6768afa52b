"""Native helpers reached from translated code through a table in the vCPU's env.

Blocks call Numba cfuncs (slow paths, FP core) indirectly: the address of helper i lives in
env[HELPERS + i], filled when the env is set up.  Compiled objects therefore carry no
process-specific addresses (they can be kept in the on-disk code cache), and need no global
symbol references, which LLVM's fast instruction selector cannot lower in the JIT's large
code model -- an indirect call it can, so blocks with memory accesses compile on the fast
path.  The table's order is fixed here, so cached code stays valid across processes.
"""
import importlib

# every helper translated code may call, by qualified name; append only
HELPER_NAMES = (
    "dbt.user.addrspace.slow_load", "dbt.user.addrspace.slow_store",
    "dbt.cpu.mmu.sys_load", "dbt.cpu.mmu.sys_store",
    "dbt.cpu.fpu.fp_binary", "dbt.cpu.fpu.fp_muladd", "dbt.cpu.fpu.fp_unary",
    "dbt.cpu.fpu.fp_round_int", "dbt.cpu.fpu.fp_convert", "dbt.cpu.fpu.fp_to_fixed",
    "dbt.cpu.fpu.fixed_to_fp", "dbt.cpu.mmu.tlbi",
)
INDEX = {name: i for i, name in enumerate(HELPER_NAMES)}
_addresses: list | None = None


def qualified_name(fn) -> str:
    py = fn._pyfunc
    return "dbt." + py.__module__.removeprefix("dbt.") + "." + py.__qualname__


def export(fn):
    """Mark a numba cfunc as callable from translated code (it must be in HELPER_NAMES)."""
    name = qualified_name(fn)
    if name not in INDEX:
        raise ValueError(f"{name} is not in symbols.HELPER_NAMES")
    return fn


def native(fn) -> int:
    """The helper-table index of a cfunc."""
    return INDEX[qualified_name(fn)]


def addresses() -> list:
    """The address of every helper, in table order (imports their modules once)."""
    global _addresses
    if _addresses is None:
        out = []
        for name in HELPER_NAMES:
            module, attr = name.rsplit(".", 1)
            out.append(getattr(importlib.import_module(module), attr).address)
        _addresses = out
    return _addresses


def fill(env):
    """Write the helper table into an env array (after it is created or cleared)."""
    from ..cpu.state import OFFSET
    base = OFFSET["HELPERS"]
    for i, addr in enumerate(addresses()):
        env[base + i] = addr
