"""Human units in every size and duration field, and where settings come from: TOML, JSON,
YAML (optional), the environment (list indices included) and explicit values, in that
precedence (issue 16, point 1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ferrolog import Settings
from ferrolog.config import SettingsError
from ferrolog.units import parse_duration, parse_rotation, parse_size


@pytest.fixture(autouse=True)
def _no_ferrolog_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64 MiB", 64 * 1024 * 1024),
        ("4KB", 4000),
        ("4kB", 4000),
        ("4 KiB", 4096),
        ("1.5 KiB", 1536),
        ("2GB", 2 * 1000**3),
        ("512", 512),
        ("512B", 512),
        (" 1 TiB ", 1024**4),
    ],
)
def test_sizes_parse_with_decimal_and_binary_units(text: str, size: int) -> None:
    """kB/KB/MB... are powers of 1000, KiB/MiB... powers of 1024; a bare number is bytes."""
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["8 Mb", "4 kb", "1.5 B", "MiB", "-1 KiB", "4 KiB extra", ""])
def test_a_bad_size_names_the_accepted_forms(text: str) -> None:
    """A unit that is not a byte unit, a fraction of a byte or no number is an error."""
    with pytest.raises(ValueError, match="accepted: bytes as an integer"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("2s", 2.0), ("1h", 3600.0), ("1.5 min", 90.0), ("250us", 0.00025),
     ("3", 3.0), ("1d", 86400.0), ("2m", 120.0)],
)  # fmt: skip
def test_durations_parse(text: str, seconds: float) -> None:
    """us, ms, s, m/min, h, d; a bare number is seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


def test_rotation_accepts_names_and_whole_second_durations() -> None:
    """'daily' and 'hourly' stay names; '7d' is 604800 seconds; '1.5s' is refused."""
    assert parse_rotation("daily") == "daily"
    assert parse_rotation("7d") == 7 * 86400
    with pytest.raises(ValueError, match="whole number of seconds"):
        parse_rotation("1.5s")
    with pytest.raises(ValueError, match="'hourly', 'daily'"):
        parse_rotation("weekly")


def test_every_size_and_duration_field_takes_units() -> None:
    """Ring sizes, file max_bytes/rotation, and the network sinks' sizes and timeouts all
    read human units."""
    settings = Settings(
        ring={"capacity_bytes": "8 MiB", "batch_bytes": "128 KiB", "linger": "5ms",
              "block_timeout": "250ms", "max_event_bytes": "16 KiB"},
        sinks=[
            {"type": "file", "path": "/tmp/x.log", "max_bytes": "10 MB", "rotate_every": "1h"},
            {"type": "http", "url": "https://example.invalid/x", "batch_bytes": "1 MiB",
             "linger": "200ms", "timeout": "10s", "max_buffer_bytes": "32 MiB",
             "recovery_timeout": "1m", "flush_timeout": "2s", "close_timeout": "500ms"},
            {"type": "syslog", "address": "127.0.0.1:514", "batch_bytes": "64 KiB",
             "linger": "5ms", "timeout": "3s"},
        ],
    )  # fmt: skip
    ring = settings.ring
    assert (ring.capacity_bytes, ring.batch_bytes, ring.max_event_bytes) == (
        8 << 20,
        128 << 10,
        16 << 10,
    )
    assert ring.linger == pytest.approx(0.005)
    assert ring.block_timeout == pytest.approx(0.25)
    file, http, syslog = settings.sinks
    assert (file.max_bytes, file.rotate_every) == (10_000_000, 3600)  # type: ignore[union-attr]
    assert (http.batch_bytes, http.max_buffer_bytes) == (1 << 20, 32 << 20)  # type: ignore[union-attr]
    assert (http.timeout, http.recovery_timeout, http.close_timeout) == (10.0, 60.0, 0.5)  # type: ignore[union-attr]
    assert (syslog.batch_bytes, syslog.timeout) == (64 << 10, 3.0)  # type: ignore[union-attr]


def test_a_unit_error_names_the_field_and_the_bounds_still_apply() -> None:
    """The error names the dotted field; a parsed value out of bounds is refused too."""
    with pytest.raises(SettingsError, match=r"ring\.capacity_bytes: .*accepted: ") as caught:
        Settings(ring={"capacity_bytes": "lots"})
    assert caught.value.errors[0][0] == "ring.capacity_bytes"
    with pytest.raises(SettingsError, match=r"ring\.capacity_bytes: .*less than or equal"):
        Settings(ring={"capacity_bytes": "2 GiB"})
    with pytest.raises(SettingsError, match=r"ring\.linger: .*accepted: seconds"):
        Settings(ring={"linger": "soon"})


def test_file_mode_takes_an_octal_string() -> None:
    """'0640' and '0o600' are octal modes; '0999' is an error naming the field."""
    sink = Settings(sinks=[{"type": "file", "path": "/tmp/a.log", "mode": "0o600"}]).sinks[0]
    assert sink.mode == 0o600  # type: ignore[union-attr]
    with pytest.raises(SettingsError, match=r"sinks\.0\.file\.mode"):
        Settings(sinks=[{"type": "file", "path": "/tmp/a.log", "mode": "0999"}])


async def test_toml_json_and_yaml_files_load_alike(tmp_path: Path) -> None:
    """The same settings as TOML, JSON and YAML load to equal Settings."""
    pytest.importorskip("yaml")
    toml = tmp_path / "s.toml"
    toml.write_text('level = "warning"\n[ring]\ncapacity_bytes = "8 MiB"\n')
    as_json = tmp_path / "s.json"
    as_json.write_text(json.dumps({"level": "warning", "ring": {"capacity_bytes": "8 MiB"}}))
    yaml_file = tmp_path / "s.yaml"
    yaml_file.write_text("level: warning\nring:\n  capacity_bytes: 8 MiB\n")
    loaded = [await Settings.load(path) for path in (toml, as_json, yaml_file)]
    assert loaded[0] == loaded[1] == loaded[2]
    assert loaded[0].ring.capacity_bytes == 8 << 20


async def test_a_yaml_file_without_pyyaml_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyYAML is optional: without it a .yaml settings file is a clear error."""
    monkeypatch.setitem(sys.modules, "yaml", None)
    path = tmp_path / "s.yml"
    path.write_text("level: info\n")
    with pytest.raises(SettingsError, match="pip install pyyaml"):
        await Settings.load(path)


async def test_precedence_is_file_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment beats the file, explicit arguments beat both."""
    path = tmp_path / "s.toml"
    path.write_text('level = "warning"\nschema = "ecs"\n[ring]\ncapacity_bytes = 65536\n')
    monkeypatch.setenv("FERROLOG_LEVEL", "error")
    monkeypatch.setenv("FERROLOG_RING__CAPACITY_BYTES", "1 MiB")
    settings = await Settings.load(path, ring={"capacity_bytes": "2 MiB"})
    assert settings.schema == "ecs"  # the file
    assert settings.level == 40  # the environment over the file
    assert settings.ring.capacity_bytes == 2 << 20  # the argument over both


def test_list_indices_in_environment_variables_build_a_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """FERROLOG_SINKS__0__TYPE/PATH and FERROLOG_SINKS__1__TYPE describe two sinks."""
    monkeypatch.setenv("FERROLOG_SINKS__0__TYPE", "file")
    monkeypatch.setenv("FERROLOG_SINKS__0__PATH", str(tmp_path / "app.log"))
    monkeypatch.setenv("FERROLOG_SINKS__0__MAX_BYTES", "10 MiB")
    monkeypatch.setenv("FERROLOG_SINKS__1__TYPE", "stderr")
    monkeypatch.setenv("FERROLOG_PLUGINS__ALLOW__0", "acme")
    settings = Settings()
    assert [sink.type for sink in settings.sinks] == ["file", "stderr"]
    assert settings.sinks[0].max_bytes == 10 << 20  # type: ignore[union-attr]
    assert settings.plugins.allow == ("acme",)


async def test_a_list_index_variable_changes_one_element_of_the_files_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """FERROLOG_SINKS__1__PATH changes the second sink's path; the rest of the file stays."""
    path = tmp_path / "s.toml"
    path.write_text(
        '[[sinks]]\ntype = "stderr"\n\n[[sinks]]\ntype = "file"\npath = "/old.log"\nbackups = 3\n'
    )
    monkeypatch.setenv("FERROLOG_SINKS__1__PATH", str(tmp_path / "new.log"))
    settings = await Settings.load(path)
    assert settings.sinks[0].type == "stderr"
    file = settings.sinks[1]
    assert (file.path, file.backups) == (tmp_path / "new.log", 3)  # type: ignore[union-attr]


def test_a_misspelt_list_index_variable_is_still_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """FERROLOG_SINKS__0__PATHS names no setting: refused, not ignored."""
    monkeypatch.setenv("FERROLOG_SINKS__0__PATHS", "/x.log")
    with pytest.raises(SettingsError, match="FERROLOG_SINKS__0__PATHS: unknown ferrolog setting"):
        Settings()


def test_errors_show_the_value_given_but_never_a_secret() -> None:
    """A bad value is echoed in the error; a token or header value is masked."""
    with pytest.raises(SettingsError) as caught:
        Settings(
            level="loud",
            sinks=[
                {"type": "http", "url": "https://example.invalid/x", "token": 12345,
                 "headers": {"X-Key": 67890}},
            ],
        )  # fmt: skip
    text = str(caught.value)
    assert "'loud'" in text
    assert "12345" not in text
    assert "67890" not in text
    assert "**********" in text


def test_empty_names_are_refused_where_a_name_is_needed() -> None:
    """Redaction field names, patterns and plugin allow/deny names must not be empty."""
    with pytest.raises(SettingsError, match=r"redaction\.fields\[1\]: a field name"):
        Settings(redaction={"fields": ["ok", " "]})
    with pytest.raises(SettingsError, match="an empty pattern would match everywhere"):
        Settings(redaction={"patterns": [""]})
    with pytest.raises(SettingsError, match=r"plugins\.deny"):
        Settings(plugins={"deny": [""]})
    with pytest.raises(SettingsError, match=r"plugins\.index"):
        Settings(plugins={"index": " "})
