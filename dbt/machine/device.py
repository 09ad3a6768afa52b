"""What every MMIO device and every stateful board component offers.

A device answers `read(offset, size)` and `write(offset, size, value)` for accesses inside
its region (offset from the region base, size 1/2/4/8 bytes, little-endian values).  An
access the hardware does not define reads as zero and ignores writes (RAZ/WI), and is
logged once under `-d unimp`; it never raises.

Guest-visible state is declared once per component in `STATE`: the names of attributes
holding ints, bools, bytes, lists of those, or numpy arrays.  `save_state` and
`load_state` use that one declaration for snapshots and migration.
"""
import numpy as np


class Device:
    STATE: tuple = ()

    def read(self, offset: int, size: int) -> int:
        raise NotImplementedError

    def write(self, offset: int, size: int, value: int) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Return to the power-on state."""


def save_state(obj) -> dict:
    out = {}
    for name in obj.STATE:
        v = getattr(obj, name)
        if isinstance(v, np.ndarray):
            v = {"dtype": v.dtype.str, "shape": list(v.shape), "data": v.tobytes()}
        elif isinstance(v, (list, tuple)):
            v = list(v)
        out[name] = v
    return out


def load_state(obj, state: dict) -> None:
    """Apply `state` to obj after checking every declared field is there with the same
    type (and, for arrays, dtype and shape); nothing is applied if any check fails."""
    missing = [n for n in obj.STATE if n not in state]
    if missing:
        raise ValueError(f"{type(obj).__name__}: state lacks {', '.join(missing)}")
    staged = {}
    for name in obj.STATE:
        cur, new = getattr(obj, name), state[name]
        if isinstance(cur, np.ndarray):
            if not isinstance(new, dict) or new.get("dtype") != cur.dtype.str \
                    or list(new.get("shape", ())) != list(cur.shape) \
                    or len(new.get("data", b"")) != cur.nbytes:
                raise ValueError(f"{type(obj).__name__}.{name}: array does not match")
            staged[name] = np.frombuffer(new["data"], dtype=cur.dtype).reshape(cur.shape)
        elif isinstance(cur, bool) or isinstance(cur, int):
            if not isinstance(new, int):
                raise ValueError(f"{type(obj).__name__}.{name}: expected an integer")
            staged[name] = type(cur)(new)
        elif isinstance(cur, (list, tuple)):
            if not isinstance(new, (list, tuple)) or len(new) != len(cur):
                raise ValueError(f"{type(obj).__name__}.{name}: list does not match")
            staged[name] = type(cur)(new)
        elif isinstance(cur, (bytes, bytearray)):
            if not isinstance(new, (bytes, bytearray)):
                raise ValueError(f"{type(obj).__name__}.{name}: expected bytes")
            staged[name] = type(cur)(new)
        else:
            staged[name] = new
    for name, v in staged.items():
        cur = getattr(obj, name)
        if isinstance(cur, np.ndarray):
            cur[...] = v
        else:
            setattr(obj, name, v)
