"""AdvSIMD structure loads and stores."""
from . import sem  # noqa: F401
