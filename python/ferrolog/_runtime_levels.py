"""Levels by logger name changed on a live container (`Container.set_level`).

The container keeps the levels set so far and hands them to its pipeline: at once when the
pipeline exists, else when it is made. The pipeline bumps a generation counter on each
change; every logger compares it with the one its cached level was computed at, so the
change reaches every existing logger at its next call, with no lock on the hot path.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ferrolog.config import parse_level

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ferrolog._native import Pipeline

__all__ = ["RuntimeLevels", "check_logger_prefix"]

#: The longest logger name `set_level` accepts.
MAX_NAME = 256


def check_logger_prefix(name: object) -> str:
    """``name`` as a logger-name prefix (``None`` and ``""``: every logger), or raise."""
    if name is None:
        return ""
    if not isinstance(name, str):
        raise TypeError(
            "set_level: a logger name is a str (or None for every logger), "
            f"got {type(name).__name__}"
        )
    if name == "":
        return name
    if (
        len(name) > MAX_NAME
        or name.strip() != name
        or any(part == "" for part in name.split("."))
        or any(not ch.isprintable() for ch in name)
    ):
        raise ValueError(
            f"set_level: {name!r} is not a logger name (dot-separated non-empty parts, no "
            f"surrounding space or control characters, at most {MAX_NAME} characters)"
        )
    return name


def check_level(prefix: str, level: object, custom: Mapping[str, int]) -> int | None:
    """``level`` as a number (``None``: clear), custom level names included, or raise."""
    if level is None:
        return None
    if isinstance(level, str):
        lowered = {k.lower(): v for k, v in custom.items()}
        if level.strip().lower() in lowered:
            return lowered[level.strip().lower()]
    if not isinstance(level, (int, str)) or isinstance(level, bool):
        raise TypeError(
            f"set_level({prefix!r}): a level is an int, a level name or None, "
            f"got {type(level).__name__}"
        )
    try:
        return parse_level(level)
    except ValueError as exc:
        raise ValueError(f"set_level({prefix!r}): {exc}") from None


class RuntimeLevels:
    """The levels a container set at run time, and the pipeline they apply to."""

    def __init__(self, custom: Mapping[str, int]) -> None:
        self._custom = custom
        self._lock = threading.Lock()
        self._levels: dict[str, int] = {}
        self._pipeline: Pipeline | None = None

    def set(self, name: object, level: object) -> None:
        """Validate, remember and apply one change."""
        prefix = check_logger_prefix(name)
        number = check_level(prefix, level, self._custom)
        with self._lock:
            if number is None:
                self._levels.pop(prefix, None)
            else:
                self._levels[prefix] = number
            if self._pipeline is not None:
                self._pipeline.set_level(prefix, number)

    def reset(self) -> None:
        """Forget every level set at run time."""
        with self._lock:
            self._levels.clear()
            if self._pipeline is not None:
                self._pipeline.reset_levels()

    def attach(self, pipeline: Pipeline) -> None:
        """Apply the levels set so far to the container's new pipeline, and later ones too."""
        with self._lock:
            for prefix, number in self._levels.items():
                pipeline.set_level(prefix, number)
            self._pipeline = pipeline

    def snapshot(self) -> dict[str, int]:
        """The levels set at run time, by prefix."""
        with self._lock:
            return dict(self._levels)
