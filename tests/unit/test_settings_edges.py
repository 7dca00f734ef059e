"""Settings at their edges: environment merging and errors, limits, levels, immutability."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from ferrolog import Container, Pipeline, Settings, SettingsError, build_pipeline
from ferrolog.config import (
    MAX_RING_BYTES,
    FileSink,
    PluginSink,
    RingSettings,
    max_event_bytes_for,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep FERROLOG_* variables of the outer environment out of these tests."""
    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)


# -- the environment -------------------------------------------------------------------


def test_from_mapping_merges_the_environment_under_the_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """from_mapping reads FERROLOG_* for what the mapping leaves out; the mapping wins."""
    monkeypatch.setenv("FERROLOG_RING__OVERFLOW", "block")
    monkeypatch.setenv("FERROLOG_LEVEL", "debug")
    settings = Settings.from_mapping({"level": "error", "ring": {"capacity_bytes": 65536}})
    assert settings.level == 40
    assert (settings.ring.capacity_bytes, settings.ring.overflow) == (65536, "block")


async def test_container_create_with_a_mapping_sees_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Container.create(mapping) merges FERROLOG_* like Settings.from_mapping does."""
    monkeypatch.setenv("FERROLOG_LEVEL", "warning")
    async with Container.create({"sinks": [{"type": "null"}]}) as container:
        assert container.settings.level == 30


def test_environment_json_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unparsable JSON in FERROLOG_SINKS raises SettingsError naming the variable."""
    monkeypatch.setenv("FERROLOG_SINKS", "[{bad")
    with pytest.raises(SettingsError, match="FERROLOG_SINKS: cannot parse the value as JSON"):
        Settings()
    with pytest.raises(SettingsError, match="FERROLOG_SINKS"):
        Settings.from_mapping({"level": "info"})


def test_invalid_environment_values_name_field_and_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A value from the environment that fails validation names its field and its variable."""
    monkeypatch.setenv("FERROLOG_RING__CAPACITY_BYTES", "10")
    with pytest.raises(
        SettingsError, match=r"ring\.capacity_bytes: .*\(from FERROLOG_RING__CAPACITY_BYTES\)"
    ) as info:
        Settings()
    assert info.value.errors[0][0] == "ring.capacity_bytes"


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("FERROLOG_LEVLE", "FERROLOG_LEVEL"),
        ("FERROLOG_RING__CAPACITY", "FERROLOG_RING__CAPACITY_BYTES"),
        ("FERROLOG_SINK", "FERROLOG_SINKS"),
        ("FERROLOG_COMPLETELY_UNRELATED", None),
    ],
)
def test_unknown_environment_variables_are_errors_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch, name: str, suggestion: str | None
) -> None:
    """A FERROLOG_* variable naming no setting is refused, with the close known name if any."""
    monkeypatch.setenv(name, "debug")
    with pytest.raises(SettingsError, match=f"{name}: unknown ferrolog setting") as info:
        Settings()
    if suggestion is None:
        assert "did you mean" not in str(info.value)
    else:
        assert f"did you mean {suggestion}?" in str(info.value)


async def test_load_names_the_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings.load refuses an unknown FERROLOG_* variable too, naming the file it read."""
    path = tmp_path / "ferrolog.toml"
    path.write_text('level = "info"\n')
    monkeypatch.setenv("FERROLOG_LEVLE", "debug")
    with pytest.raises(SettingsError, match=r"ferrolog\.toml \+ environment[\s\S]*LEVLE"):
        await Settings.load(path)


def test_direct_construction_raises_the_settings_error() -> None:
    """Settings(...) with an invalid value raises SettingsError with the field path."""
    with pytest.raises(SettingsError, match=r"sinks\.0\.file\.path: Field required"):
        Settings(sinks=[{"type": "file"}])


def test_unknown_keys_in_a_sink_section_are_refused() -> None:
    """Every sub-model forbids unknown keys, and the error gives the full path."""
    with pytest.raises(SettingsError, match=r"sinks\.0\.file\.max_byte: Extra inputs"):
        Settings.from_mapping({"sinks": [{"type": "file", "path": "x", "max_byte": 4096}]})
    with pytest.raises(SettingsError, match=r"sinks\.0\.null\.path: Extra inputs"):
        Settings.from_mapping({"sinks": [{"type": "null", "path": "x"}]})
    with pytest.raises(SettingsError, match=r"plugins\.alow: Extra inputs"):
        Settings.from_mapping({"plugins": {"alow": ["x"]}})


# -- levels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({"info": 21}, "would rename the standard level INFO"),
        ({"Warn": 33}, "would rename the standard level WARN"),
        ({"loud": 20}, r"would shadow the standard level INFO \(20\)"),
        ({"quiet": 5}, r"would shadow the standard level TRACE \(5\)"),
        ({"notice": 25, "heads_up": 25}, "both have number 25"),
        ({"notice": 25, "NOTICE": 26}, "are the same name"),
        ({"bad name": 25}, "use letters"),
        ({"huge": 101}, "not in 1..100"),
    ],
)
def test_custom_levels_cannot_shadow_or_collide(levels: dict[str, int], message: str) -> None:
    """A custom level never renames or shadows a standard level, nor shares a number."""
    with pytest.raises(SettingsError, match=message):
        Settings(levels=levels)


def test_custom_levels_are_usable_and_read_only() -> None:
    """A valid custom level works as `level` and the table cannot be changed afterwards."""
    settings = Settings(levels={"notice": 25}, level="notice")
    assert settings.level == 25
    assert dict(settings.levels) == {"notice": 25}
    with pytest.raises(TypeError):
        settings.levels["loud"] = 99  # type: ignore[index]


# -- immutability --------------------------------------------------------------------


def test_settings_are_immutable_all_the_way_down() -> None:
    """Lists become tuples and plugin configs read-only mappings: nothing can be mutated."""
    settings = Settings(
        sinks=[{"type": "plugin", "name": "acme:Sink", "config": {"hosts": ["a"], "x": {}}}],
        redaction={"fields": ["password"]},
        plugins={"allow": ["acme"]},
    )
    with pytest.raises(AttributeError):
        settings.sinks.append(FileSink(path=Path("x")))  # type: ignore[attr-defined]
    sink = settings.sinks[0]
    assert isinstance(sink, PluginSink)
    assert sink.config["hosts"] == ("a",)
    with pytest.raises(TypeError):
        sink.config["x"]["y"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        settings.redaction.fields.append("token")  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        settings.plugins.allow.append("evil")  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="frozen"):
        settings.ring.capacity_bytes = 1  # type: ignore[misc]
    # Frozen values still serialise as plain JSON and validate back to equal settings.
    dumped = settings.model_dump(mode="json")
    assert dumped["sinks"][0]["config"] == {"hosts": ["a"], "x": {}}
    assert Settings.model_validate(dumped) == settings


def test_frozen_settings_pickle_and_hash() -> None:
    """Frozen settings cross process boundaries (pickle) and can be dictionary keys."""
    settings = Settings(
        levels={"notice": 25},
        sinks=[{"type": "plugin", "name": "acme:Sink", "config": {"hosts": ["a"]}}],
    )
    copy = pickle.loads(pickle.dumps(settings))
    assert copy == settings
    assert copy.levels["notice"] == 25
    assert {settings: 1}[copy] == 1


# -- limits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "path"),
    [
        ({"ring": {"capacity_bytes": MAX_RING_BYTES + 1}}, "ring.capacity_bytes"),
        ({"ring": {"capacity_bytes": 4095}}, "ring.capacity_bytes"),
        ({"ring": {"batch_bytes": (64 << 20) + 1}}, "ring.batch_bytes"),
        ({"ring": {"batch_bytes": 4095}}, "ring.batch_bytes"),
        ({"ring": {"block_timeout": 60.5}}, "ring.block_timeout"),
        ({"ring": {"block_timeout": 0}}, "ring.block_timeout"),
        ({"ring": {"linger": 1.5}}, "ring.linger"),
        ({"ring": {"linger": -0.1}}, "ring.linger"),
        ({"ring": {"max_event_bytes": 255}}, "ring.max_event_bytes"),
        ({"sinks": [{"type": "file", "path": "x", "max_bytes": (1 << 40) + 1}]}, "max_bytes"),
        ({"sinks": [{"type": "file", "path": "x", "max_bytes": 1023}]}, "max_bytes"),
        ({"sinks": [{"type": "file", "path": "x", "backups": 1001}]}, "backups"),
        ({"sinks": [{"type": "file", "path": "x", "backups": -1}]}, "backups"),
        ({"sinks": [{"type": "file", "path": "x", "rotate_every": 0}]}, "rotate_every"),
        (
            {"sinks": [{"type": "file", "path": "x", "rotate_every": 366 * 86_400 + 1}]},
            "rotate_every",
        ),
        ({"sinks": [{"type": "file", "path": "x", "mode": 0o1000}]}, "mode"),
        ({"sinks": []}, "sinks"),
    ],
)
def test_every_size_has_bounds_named_in_the_error(mapping: dict[str, object], path: str) -> None:
    """Each size, duration and count setting is bounded both ways; the error names it."""
    with pytest.raises(SettingsError, match=rf"\b{path}\b"):
        Settings.from_mapping(mapping)


def test_the_bounds_are_documented_in_the_schema() -> None:
    """The JSON schema carries each ring bound, so docs and validators agree."""
    ring = RingSettings.model_json_schema()["properties"]
    assert ring["capacity_bytes"]["maximum"] == MAX_RING_BYTES
    assert "1 GiB" in ring["capacity_bytes"]["description"]
    assert ring["batch_bytes"]["maximum"] == 64 << 20
    assert ring["block_timeout"]["maximum"] == 60


def test_max_event_bytes_must_fit_half_the_rounded_ring() -> None:
    """max_event_bytes is at most half the ring (rounded to a power of two) minus 4 bytes,
    exactly the native ring's limit: the largest accepted value starts a pipeline."""
    assert max_event_bytes_for(8192) == 4092
    assert max_event_bytes_for(5000) == 4092  # rounded up to 8192
    with pytest.raises(SettingsError, match=r"ring\.max_event_bytes: .*at most 4092"):
        Settings.from_mapping({"ring": {"capacity_bytes": 8192, "max_event_bytes": 4093}})
    settings = Settings.from_mapping(
        {"ring": {"capacity_bytes": 5000, "max_event_bytes": 4092}, "sinks": [{"type": "null"}]}
    )
    pipeline = build_pipeline(settings)
    try:
        assert isinstance(pipeline, Pipeline)
    finally:
        assert pipeline.close(5.0)
    with pytest.raises(ValueError, match="must fit in the ring"):
        Pipeline(sinks=[{"type": "null"}], capacity_bytes=8192, max_event_bytes=4093)
