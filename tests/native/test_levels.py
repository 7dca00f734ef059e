"""One level table: the native standard table is what every other level table reads."""

from __future__ import annotations

import pytest

import ferrolog
from ferrolog import Pipeline, config, levels
from ferrolog._native import STANDARD_LEVELS


def test_the_standard_table_is_stdlib_plus_trace() -> None:
    """STANDARD_LEVELS maps every standard name (aliases too) to stdlib's number."""
    assert dict(STANDARD_LEVELS) == {
        "notset": 0,
        "trace": 5,
        "debug": 10,
        "info": 20,
        "warning": 30,
        "warn": 30,
        "error": 40,
        "critical": 50,
        "fatal": 50,
    }
    with pytest.raises(TypeError):
        STANDARD_LEVELS["info"] = 21  # type: ignore[index]


def test_public_constants_settings_and_pipelines_agree_with_the_table() -> None:
    """ferrolog.TRACE..., config.LEVELS, config.parse_level and a pipeline read one table."""
    for name in ("NOTSET", "TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        assert getattr(ferrolog, name) == getattr(levels, name) == STANDARD_LEVELS[name.lower()]
    assert dict(config.LEVELS) == {k.upper(): v for k, v in STANDARD_LEVELS.items()}
    p = Pipeline(sinks=[{"type": "null"}])
    try:
        for name, number in STANDARD_LEVELS.items():
            assert config.parse_level(name) == number
            assert p.level_number(name.upper()) == number
        names = p.level_names()
        assert {n: names[n] for n in (5, 10, 20, 30, 40, 50)} == {
            n: name
            for name, n in STANDARD_LEVELS.items()
            if name not in {"warn", "fatal", "notset"}
        }
    finally:
        p.close(5)
