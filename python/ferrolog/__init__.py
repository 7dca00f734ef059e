"""ferrolog: async-first structured logging with a Rust hot path."""

from ferrolog._native import __version__

__all__ = ["__version__"]
