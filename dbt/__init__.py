"""dbt-vm: an AArch64 emulator built on a dynamic binary translator."""
import sys as _sys

# numba probes for BLAS at import by importing scipy.linalg, which costs ~0.6 s of start-up
# when SciPy is installed; dbt's compiled code never calls BLAS, so the probe is told no.
if "numba" not in _sys.modules and "scipy" not in _sys.modules:
    _sys.modules["scipy"] = None
    try:
        import numba  # noqa: F401
        import numba.np.arraymath  # noqa: F401  (the module that probes)
    finally:
        del _sys.modules["scipy"]
