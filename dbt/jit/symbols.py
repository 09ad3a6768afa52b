"""Native helpers reached from translated code by name, not by address.

Blocks call Numba cfuncs (slow paths, FP core) through external symbols that the JIT linker
resolves in this process, so compiled objects carry no process-specific addresses and can be
kept in the on-disk code cache.
"""
import llvmlite.binding as llvm

_registered: dict[str, int] = {}


def export(fn):
    """Make a numba cfunc reachable from translated code (use at import time, as a decorator
    after @cfunc): blocks loaded from the on-disk cache link against it without being
    translated again in this process."""
    native(fn)
    return fn


def native(fn) -> str:
    """The symbol name for a numba cfunc, registered with the JIT linker on first use."""
    py = fn._pyfunc
    name = "dbt." + py.__module__.removeprefix("dbt.") + "." + py.__qualname__
    addr = fn.address
    if _registered.get(name) != addr:
        llvm.add_symbol(name, addr)
        _registered[name] = addr
    return name
