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


def stage_state(obj, state) -> dict:
    """Check `state` against obj's declaration without changing obj: every declared field
    present with the same type (arrays: dtype and shape; lists: length and element type;
    integers within 64 bits), then obj.check_state for ranges only the component knows.
    Returns the values to commit; raises ValueError naming the first bad field."""
    cls = type(obj).__name__
    if not isinstance(state, dict):
        raise ValueError(f"{cls}: state is not a map")
    missing = [n for n in obj.STATE if n not in state]
    if missing:
        raise ValueError(f"{cls}: state lacks {', '.join(missing)}")
    extra = sorted(str(n) for n in state if n not in obj.STATE)
    if extra:
        raise ValueError(f"{cls}: state has unknown field(s) {', '.join(extra)}")
    staged = {}
    for name in obj.STATE:
        cur, new = getattr(obj, name), state[name]
        if isinstance(cur, np.ndarray):
            if not isinstance(new, dict) or new.get("dtype") != cur.dtype.str \
                    or list(new.get("shape", ())) != list(cur.shape) \
                    or not isinstance(new.get("data"), bytes) or len(new["data"]) != cur.nbytes:
                raise ValueError(f"{cls}.{name}: array does not match")
            staged[name] = np.frombuffer(new["data"], dtype=cur.dtype).reshape(cur.shape)
        elif isinstance(cur, (list, tuple)):
            if not isinstance(new, (list, tuple)) or len(new) != len(cur) \
                    or not all(_same_kind(c, n) for c, n in zip(cur, new)):
                raise ValueError(f"{cls}.{name}: list does not match")
            staged[name] = type(cur)(type(c)(n) for c, n in zip(cur, new))
        elif isinstance(cur, (bytes, bytearray)):
            if not isinstance(new, (bytes, bytearray)) or len(new) != len(cur):
                raise ValueError(f"{cls}.{name}: expected {len(cur)} bytes")
            staged[name] = type(cur)(new)
        elif _same_kind(cur, new):
            staged[name] = type(cur)(new)
        else:
            raise ValueError(f"{cls}.{name}: expected {type(cur).__name__}")
    check = getattr(obj, "check_state", None)
    if check is not None:
        check(staged)
    return staged


def commit_state(obj, staged: dict) -> None:
    for name, v in staged.items():
        cur = getattr(obj, name)
        if isinstance(cur, np.ndarray):
            cur[...] = v
        else:
            setattr(obj, name, v)


def load_state(obj, state: dict) -> None:
    """Apply `state` to obj; nothing is applied if any check fails."""
    commit_state(obj, stage_state(obj, state))


def _same_kind(cur, new) -> bool:
    """Is `new` (from msgpack) a value of cur's kind: bool for bool, a 64-bit integer for
    int (bool excepted), None for None."""
    if isinstance(cur, bool):
        return isinstance(new, bool) or new in (0, 1) and isinstance(new, int)
    if isinstance(cur, int):
        return isinstance(new, int) and not isinstance(new, bool) and -(1 << 63) <= new < (1 << 64)
    return cur is None and new is None
