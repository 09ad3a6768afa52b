"""AdvSIMD integer data processing."""
from . import sem  # noqa: F401
