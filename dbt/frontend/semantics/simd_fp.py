"""AdvSIMD floating point."""
from . import sem  # noqa: F401
