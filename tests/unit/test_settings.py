"""Settings: validation, levels, sinks, files and environment precedence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferrolog import Settings, SettingsError
from ferrolog.config import FileSink, PluginSink, StdoutSink, parse_level


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep FERROLOG_* variables of the outer environment out of these tests."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)


def test_defaults_are_info_json_to_stdout() -> None:
    """The zero-config default is INFO, the default schema and one stdout sink."""
    settings = Settings()
    assert settings.level == 20
    assert settings.schema == "default"
    assert settings.sinks == (StdoutSink(),)
    assert settings.ring.capacity_bytes == 4 * 1024 * 1024
    assert settings.ring.overflow == "drop"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("debug", 10),
        ("INFO", 20),
        ("Warning", 30),
        ("trace", 5),
        ("critical", 50),
        (40, 40),
        ("15", 15),
    ],
)
def test_levels_accept_numbers_and_case_insensitive_names(given: object, expected: int) -> None:
    """Levels are stdlib numbers or case-insensitive names (TRACE is 5), stored as ints."""
    assert Settings.from_mapping({"level": given}).level == expected


def test_unknown_level_lists_the_valid_names() -> None:
    """An unknown level name raises a ValueError naming the field and every valid level."""
    with pytest.raises(ValueError, match=r"level: .*unknown level 'loud'.*TRACE \(5\).*CRITICAL"):
        Settings.from_mapping({"level": "loud"})
    with pytest.raises(ValueError, match="unknown level"):
        parse_level("verbose")


def test_ring_limits_are_validated() -> None:
    """A ring below 4096 bytes or an unknown overflow policy is refused with its field path."""
    with pytest.raises(SettingsError, match=r"ring\.capacity_bytes"):
        Settings.from_mapping({"ring": {"capacity_bytes": 100}})
    with pytest.raises(SettingsError, match=r"ring\.overflow"):
        Settings.from_mapping({"ring": {"overflow": "explode"}})
    ring = Settings.from_mapping({"ring": {"overflow": "block", "block_timeout": 0.5}}).ring
    assert (ring.overflow, ring.block_timeout) == ("block", 0.5)


def test_sinks_are_a_union_discriminated_by_type(tmp_path: Path) -> None:
    """Each sink validates against the model its `type` names; unknown types are refused."""
    settings = Settings.from_mapping(
        {
            "sinks": [
                {"type": "stderr"},
                {"type": "file", "path": str(tmp_path / "app.log"), "rotate_every": "daily"},
                {"type": "null"},
                {"type": "plugin", "name": "acme.sinks:Kafka", "config": {"topic": "logs"}},
            ]
        }
    )
    file_sink = settings.sinks[1]
    assert isinstance(file_sink, FileSink)
    assert (file_sink.mode, file_sink.backups, file_sink.max_bytes) == (0o640, 5, None)
    assert isinstance(settings.sinks[3], PluginSink)
    with pytest.raises(SettingsError, match=r"sinks\.0"):
        Settings.from_mapping({"sinks": [{"type": "carrier-pigeon"}]})
    with pytest.raises(SettingsError, match=r"sinks\.0\.file\.rotate_every"):
        Settings.from_mapping({"sinks": [{"type": "file", "path": "x", "rotate_every": "weekly"}]})


def test_unknown_keys_are_refused() -> None:
    """A misspelt key is an error naming it rather than a silently ignored option."""
    with pytest.raises(SettingsError, match=r"ring\.capacity: Extra inputs"):
        Settings.from_mapping({"ring": {"capacity": 8192}})


def test_plugin_references_and_policies_validate_their_shape() -> None:
    """Plugin names, regex patterns and compliance profile names are checked."""
    with pytest.raises(SettingsError, match=r"filters\.0\.name"):
        Settings.from_mapping({"filters": [{"name": "not a name!"}]})
    with pytest.raises(SettingsError, match=r"redaction\.patterns.*not a valid regex"):
        Settings.from_mapping({"redaction": {"patterns": ["("]}})
    with pytest.raises(SettingsError, match=r"compliance\.profiles\.0"):
        Settings.from_mapping({"compliance": {"profiles": ["iso-9001"]}})
    settings = Settings.from_mapping(
        {
            "enrichers": [{"name": "hostname"}],
            "plugins": {"allow": ["hostname"], "index": "plugins.json"},
            "compliance": {"profiles": ["gdpr"]},
            "redaction": {"presets": ["pii"]},
        }
    )
    assert settings.enrichers[0].name == "hostname"
    assert settings.plugins.allow == ("hostname",)


def test_environment_uses_prefix_and_nested_delimiter(monkeypatch: pytest.MonkeyPatch) -> None:
    """FERROLOG_LEVEL and FERROLOG_RING__CAPACITY_BYTES configure a plain Settings()."""
    monkeypatch.setenv("FERROLOG_LEVEL", "debug")
    monkeypatch.setenv("FERROLOG_RING__CAPACITY_BYTES", "8388608")
    monkeypatch.setenv("FERROLOG_SINKS", '[{"type": "stderr"}]')
    settings = Settings()
    assert settings.level == 10
    assert settings.ring.capacity_bytes == 8388608
    assert settings.sinks[0].type == "stderr"


async def test_load_reads_toml_then_environment_then_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TOML file is read, the environment overrides it and keyword overrides win over both."""
    path = tmp_path / "ferrolog.toml"
    path.write_text(
        'level = "warning"\nschema = "ecs"\n[ring]\ncapacity_bytes = 65536\n'
        '[[sinks]]\ntype = "file"\npath = "app.log"\nmax_bytes = 4096\n'
    )
    monkeypatch.setenv("FERROLOG_RING__OVERFLOW", "block")
    settings = await Settings.load(path)
    assert (settings.level, settings.schema) == (30, "ecs")
    assert (settings.ring.capacity_bytes, settings.ring.overflow) == (65536, "block")
    assert isinstance(settings.sinks[0], FileSink)
    monkeypatch.setenv("FERROLOG_LEVEL", "error")
    assert (await Settings.load(path)).level == 40
    assert (await Settings.load(path, level="debug")).level == 10


async def test_load_reads_json(tmp_path: Path) -> None:
    """A .json file is read as JSON."""
    path = tmp_path / "ferrolog.json"
    path.write_text(json.dumps({"level": "trace", "sinks": [{"type": "null"}]}))
    settings = await Settings.load(str(path))
    assert settings.level == 5
    assert settings.sinks[0].type == "null"


async def test_load_errors_name_the_file_and_field(tmp_path: Path) -> None:
    """Invalid values, bad syntax and missing files raise SettingsError naming the file."""
    path = tmp_path / "bad.toml"
    path.write_text("[ring]\ncapacity_bytes = 10\n")
    with pytest.raises(SettingsError, match=r"bad\.toml[\s\S]*ring\.capacity_bytes") as info:
        await Settings.load(path)
    assert info.value.path == str(path)
    path.write_text("level = \n")
    with pytest.raises(SettingsError, match=r"cannot parse settings file .*bad\.toml"):
        await Settings.load(path)
    with pytest.raises(SettingsError, match=r"cannot read settings file .*missing\.toml"):
        await Settings.load(tmp_path / "missing.toml")


def test_settings_are_immutable() -> None:
    """Settings cannot be changed after validation, so a running container's config is fixed."""
    settings = Settings()
    with pytest.raises(Exception, match="frozen"):
        settings.level = 10  # type: ignore[misc]
