"""`ferrolog audit verify PATH`: exit 0 for an intact trail, 1 with the first bad seq."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferrolog.audit import AuditTrail

_SCRIPT = Path(sys.executable).parent / "ferrolog"
_COMMANDS = [[str(_SCRIPT)], [sys.executable, "-m", "ferrolog"]]
_IDS = ["script", "module"]


def _run(command: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("FERROLOG_")}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, env=clean, check=False
    )


def _trail(path: Path, count: int) -> None:
    trail = AuditTrail(path, fsync=False)
    for i in range(count):
        trail.record_sync({"event": "login", "user": f"u{i}"})
    trail.close()


@pytest.mark.parametrize("command", _COMMANDS, ids=_IDS)
def test_verify_accepts_an_intact_trail(command: list[str], tmp_path: Path) -> None:
    """An intact trail exits 0 and reports its record count and head hash."""
    path = tmp_path / "audit.log"
    _trail(path, 3)
    result = _run(command, "audit", "verify", str(path))
    assert result.returncode == 0, result.stderr
    assert "is intact: 3 record(s), last seq 3, head " in result.stdout


def test_verify_reports_the_first_altered_record_and_fails(tmp_path: Path) -> None:
    """An altered record exits 1 naming its seq, its line and the reason."""
    path = tmp_path / "audit.log"
    _trail(path, 4)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"u1", b"u9")
    path.write_bytes(b"".join(lines))
    result = _run(_COMMANDS[0], "audit", "verify", str(path))
    assert result.returncode == 1
    assert f"audit trail {path} is damaged at seq 2 (line 2): seq 2 was altered" in result.stderr
    assert "1 record(s) before it are intact" in result.stderr


def test_verify_reports_a_removed_record(tmp_path: Path) -> None:
    """A removed record exits 1 naming the missing seq."""
    path = tmp_path / "audit.log"
    _trail(path, 4)
    lines = path.read_bytes().splitlines(keepends=True)
    del lines[2]
    path.write_bytes(b"".join(lines))
    result = _run(_COMMANDS[0], "audit", "verify", str(path))
    assert result.returncode == 1
    assert "at seq 3" in result.stderr
    assert "records removed" in result.stderr


def test_verify_of_a_missing_file_fails(tmp_path: Path) -> None:
    """A trail that cannot be read exits 1 saying so."""
    result = _run(_COMMANDS[0], "audit", "verify", str(tmp_path / "none.log"))
    assert result.returncode == 1
    assert "cannot read" in result.stderr


def test_verify_needs_a_path() -> None:
    """`audit verify` without PATH is a usage error (exit 2)."""
    result = _run(_COMMANDS[0], "audit", "verify")
    assert result.returncode == 2
    assert "path" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["config"],
        ["config", "check"],
        ["config", "schema"],
        ["audit"],
        ["audit", "verify"],
    ],
    ids=lambda a: " ".join(a) or "top",
)
def test_every_command_has_help(args: list[str]) -> None:
    """`--help` works on every command and subcommand and exits 0."""
    result = _run(_COMMANDS[0], *args, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ferrolog")


def test_audit_without_a_subcommand_lists_them() -> None:
    """`ferrolog audit` prints its subcommands and exits 0."""
    result = _run(_COMMANDS[0], "audit")
    assert result.returncode == 0
    assert "verify" in result.stdout


def test_config_check_reports_an_unusable_audit_path(tmp_path: Path) -> None:
    """`config check` fails for an audit.path in a missing directory, and creates nothing."""
    settings = tmp_path / "ferrolog.toml"
    settings.write_text(f'[audit]\npath = "{tmp_path}/missing/audit.log"\n')
    result = _run(_COMMANDS[0], "config", "check", str(settings))
    assert result.returncode == 1
    assert f"audit.path: directory {tmp_path}/missing does not exist" in result.stderr
    settings.write_text(f'[audit]\npath = "{tmp_path}/audit.log"\n')
    result = _run(_COMMANDS[0], "config", "check", str(settings))
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "audit.log").exists()
