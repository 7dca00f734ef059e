"""The installed `ferrolog` script and `python -m ferrolog`: version, config check, schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ferrolog

_SCRIPT = Path(sys.executable).parent / "ferrolog"
_COMMANDS = [[str(_SCRIPT)], [sys.executable, "-m", "ferrolog"]]
_IDS = ["script", "module"]


def _run(command: list[str], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("FERROLOG_")}
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
        check=False,
    )


@pytest.mark.parametrize("command", _COMMANDS, ids=_IDS)
def test_version_prints_the_package_version(command: list[str]) -> None:
    """`ferrolog --version` and `python -m ferrolog --version` print ferrolog.__version__."""
    result = _run(command, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ferrolog {ferrolog.__version__}"


@pytest.mark.parametrize("command", _COMMANDS, ids=_IDS)
def test_config_check_accepts_valid_settings(command: list[str], tmp_path: Path) -> None:
    """`config check PATH` exits 0 for a valid file whose sinks can start."""
    path = tmp_path / "ferrolog.toml"
    path.write_text(f'level = "debug"\n[[sinks]]\ntype = "file"\npath = "{tmp_path}/app.log"\n')
    result = _run(command, "config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert "settings are valid" in result.stdout


def test_config_check_reports_field_paths_and_fails(tmp_path: Path) -> None:
    """`config check` prints each invalid field path and exits non-zero."""
    path = tmp_path / "bad.toml"
    path.write_text('level = "loud"\n[ring]\ncapacity_bytes = 10\n')
    result = _run([str(_SCRIPT)], "config", "check", str(path))
    assert result.returncode == 1
    assert "bad.toml" in result.stderr
    assert "level: " in result.stderr
    assert "ring.capacity_bytes: " in result.stderr


def test_config_check_reports_environment_typos_and_sinks(tmp_path: Path) -> None:
    """`config check` refuses an unknown FERROLOG_* variable and a sink that cannot start."""
    result = _run([str(_SCRIPT)], "config", "check", FERROLOG_LEVLE="debug")
    assert result.returncode == 1
    assert "FERROLOG_LEVLE" in result.stderr
    assert "did you mean FERROLOG_LEVEL?" in result.stderr
    missing = tmp_path / "missing" / "app.log"
    sinks = json.dumps([{"type": "file", "path": str(missing)}])
    result = _run([str(_SCRIPT)], "config", "check", FERROLOG_SINKS=sinks)
    assert result.returncode == 1
    assert "sinks.0.path: directory" in result.stderr
    result = _run([str(_SCRIPT)], "config", "check", FERROLOG_PLUGINS__INDEX="ftp://x/i.json")
    assert result.returncode == 1
    assert "plugins.index" in result.stderr


def test_config_check_of_a_missing_file_fails() -> None:
    """`config check` of a file that does not exist names it and exits non-zero."""
    result = _run([sys.executable, "-m", "ferrolog"], "config", "check", "/nonexistent.toml")
    assert result.returncode == 1
    assert "cannot read settings file /nonexistent.toml" in result.stderr


def test_config_schema_prints_the_settings_json_schema() -> None:
    """`config schema` prints the JSON schema of Settings, bounds included."""
    result = _run([str(_SCRIPT)], "config", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema == ferrolog.Settings.model_json_schema()
    assert schema["$defs"]["RingSettings"]["properties"]["capacity_bytes"]["maximum"] == 1 << 30


def test_an_unknown_command_is_a_usage_error() -> None:
    """An unknown subcommand exits with argparse's usage status 2."""
    result = _run([str(_SCRIPT)], "nosuch")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
