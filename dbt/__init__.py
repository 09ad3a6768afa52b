"""dbt-vm: an AArch64 emulator built on a dynamic binary translator."""
import os as _os
import sys as _sys


def _numba_cache_dir():
    """Numba's on-disk cache notices a change of a function's own file, not of the constants it
    took from other modules (env offsets, table sizes): keep its cache in a folder named by a
    hash of all dbt sources, so a changed layout never meets stale machine code."""
    import hashlib
    import pathlib
    import shutil
    root = pathlib.Path(__file__).resolve().parent
    h = hashlib.sha256()
    # the packages that hold Numba code and the constants it is compiled with
    for path in sorted(p for d in ("cpu", "jit", "user", "frontend", "testing")
                       for p in (root / d).rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    base = _os.environ.get("DBT_CACHE_DIR") or _os.path.join(
        _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache"),
        "dbt-vm")
    here = pathlib.Path(base) / f"numba-{h.hexdigest()[:16]}"
    try:
        # keep the newest few (other checkouts may share the folder)
        old = sorted(pathlib.Path(base).glob("numba-*"), key=lambda p: p.stat().st_mtime)
        for stale in [p for p in old if p != here][:-3]:
            shutil.rmtree(stale, ignore_errors=True)
        here.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(here)


if "numba" not in _sys.modules and "NUMBA_CACHE_DIR" not in _os.environ:
    _dir = _numba_cache_dir()
    if _dir:
        _os.environ["NUMBA_CACHE_DIR"] = _dir

# numba probes for BLAS at import by importing scipy.linalg, which costs ~0.6 s of start-up
# when SciPy is installed; dbt's compiled code never calls BLAS, so the probe is told no.
if "numba" not in _sys.modules and "scipy" not in _sys.modules:
    _sys.modules["scipy"] = None
    try:
        import numba  # noqa: F401
        import numba.np.arraymath  # noqa: F401  (the module that probes)
    finally:
        del _sys.modules["scipy"]
