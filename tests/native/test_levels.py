"""One level table: the native standard table is what every other level table reads."""

from __future__ import annotations

import json
from pathlib import Path

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


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            "default",
            {
                5: "trace",
                10: "debug",
                20: "info",
                25: "notice",
                30: "warning",
                33: "audit",
                40: "error",
                50: "critical",
                55: "alert",
                0: "level_0",
                15: "level_15",
                35: "level_35",
                60: "level_60",
                -5: "level_-5",
            },
        ),
        ("gcp", {5: "DEBUG", 20: "INFO", 25: "NOTICE", 40: "ERROR", 50: "CRITICAL"}),
    ],
)
def test_every_level_number_writes_its_name(
    tmp_path: Path, schema: str, expected: dict[int, str]
) -> None:
    """Standard levels, custom ones at multiples of 5 and between them, and numbers no level
    has are written under their own names (the standard ones are looked up by number)."""
    path = tmp_path / "levels.jsonl"
    p = Pipeline(
        sinks=[{"type": "file", "path": str(path)}],
        levels={25: "notice", 33: "audit", 55: "alert"},
        schema=schema,
    )
    try:
        log = p.logger("app", -100)
        for number in expected:
            log.log(number, "m", n=number)
        assert p.flush(5.0)
    finally:
        p.close(5.0)
    key = {"default": "level", "gcp": "severity"}[schema]
    written = {line["n"]: line[key] for line in map(json.loads, path.read_text().splitlines())}
    assert written == expected
