"""ferrolog: async-first structured logging with a Rust hot path."""

from ferrolog._native import __version__
from ferrolog.config import Settings, SettingsError, UnsupportedSettingError

__all__ = ["Settings", "SettingsError", "UnsupportedSettingError", "__version__"]
