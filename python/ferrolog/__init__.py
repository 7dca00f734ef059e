"""ferrolog: async-first structured logging with a Rust hot path."""

from ferrolog._native import Logger, Pipeline, __version__
from ferrolog._pipeline import build_pipeline
from ferrolog.config import Settings, SettingsError, UnsupportedSettingError
from ferrolog.container import (
    Container,
    ContainerClosedError,
    ContainerCloseError,
    ContainerError,
    DependencyCycleError,
    PendingContainer,
    RegistrationError,
    ResolutionError,
    SyncContainer,
)

__all__ = ["__version__"]
__all__ += [
    "Container",
    "ContainerCloseError",
    "ContainerClosedError",
    "ContainerError",
    "DependencyCycleError",
    "Logger",
    "PendingContainer",
    "Pipeline",
    "RegistrationError",
    "ResolutionError",
    "Settings",
    "SettingsError",
    "SyncContainer",
    "UnsupportedSettingError",
    "build_pipeline",
]
