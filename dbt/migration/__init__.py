"""Snapshots and live migration: the versioned stream (stream.py, docs/migration-format.md),
what of the machine goes into it (vmstate.py), RAM pages (ram.py), whole snapshots and the
destination's loader (snapshot.py), and the source's pre-copy job (outgoing.py)."""
from .stream import MigrationError

__all__ = ["MigrationError"]
