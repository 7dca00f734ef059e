"""`ferrolog config check` prints "ok" and the effective settings with secrets masked, or
every error at once; `config schema` covers the new fields (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = Path(sys.executable).parent / "ferrolog"
SECRET = "s3cr3t-token-value"
HEADER_SECRET = "h3ader-secret-value"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("FERROLOG_")}
    return subprocess.run(
        [str(_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
        check=False,
    )


def test_check_prints_ok_and_the_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    """The token and header values never appear; the units are shown resolved."""
    path = tmp_path / "s.toml"
    path.write_text(
        '[ring]\ncapacity_bytes = "8 MiB"\n\n[[sinks]]\ntype = "http"\n'
        f'url = "https://example.invalid/logs"\ntoken = "{SECRET}"\n'
        f'headers = {{ "X-Api-Key" = "{HEADER_SECRET}" }}\n'
    )
    result = _run("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "ok" in lines
    effective = json.loads(result.stdout[result.stdout.index("{") :])
    assert effective["ring"]["capacity_bytes"] == 8 << 20
    assert effective["sinks"][0]["token"] == "**********"
    assert effective["sinks"][0]["headers"] == {"X-Api-Key": "**********"}
    assert SECRET not in result.stdout + result.stderr
    assert HEADER_SECRET not in result.stdout + result.stderr


def test_check_lists_every_error_and_masks_secrets(tmp_path: Path) -> None:
    """Field errors come with the value given; a secret given where it is invalid is masked."""
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            {
                "level": "chatty",
                "ring": {"linger": "forever"},
                "sinks": [
                    {
                        "type": "http",
                        "url": "https://example.invalid/x",
                        "headers": {"Bad Header": SECRET},
                    },
                ],
            }
        )
    )
    result = _run("config", "check", str(path))
    assert result.returncode == 1
    assert "level: " in result.stderr
    assert "'chatty'" in result.stderr
    assert "ring.linger: " in result.stderr
    assert "'forever'" in result.stderr
    assert "sinks.0.http.headers" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_check_reports_compliance_violations(tmp_path: Path) -> None:
    """A config breaking the pci-dss rules fails with each rule and its path."""
    result = _run("config", "check", FERROLOG_COMPLIANCE__PROFILES='["pci-dss"]')
    assert result.returncode == 1
    assert "redaction.presets: [pci-dss] card-redaction" in result.stderr
    assert "audit.path: [pci-dss] audit-trail" in result.stderr


def test_check_reports_sink_and_plugin_problems_together(tmp_path: Path) -> None:
    """A missing log directory and a plugin that is not installed, in one run."""
    missing = tmp_path / "nope" / "app.log"
    result = _run(
        "config",
        "check",
        FERROLOG_SINKS__0__TYPE="file",
        FERROLOG_SINKS__0__PATH=str(missing),
        FERROLOG_FILTERS__0__NAME="not-installed",
    )
    assert result.returncode == 1
    assert "sinks.0.path" in result.stderr
    assert "filters.0.name" in result.stderr


def test_schema_has_the_new_fields() -> None:
    """plugins.deny/autoload, audit.retention_days and sizes as integer-or-string."""
    result = _run("config", "schema")
    assert result.returncode == 0, result.stderr
    defs = json.loads(result.stdout)["$defs"]
    assert {"deny", "autoload"} <= set(defs["PluginsSettings"]["properties"])
    assert "retention_days" in defs["AuditSettings"]["properties"]
    capacity = defs["RingSettings"]["properties"]["capacity_bytes"]
    assert [option["type"] for option in capacity["anyOf"]] == ["integer", "string"]
    assert capacity["maximum"] == 1 << 30


def test_audit_verify_reports_the_retention(tmp_path: Path) -> None:
    """`ferrolog audit verify` prints the retention stated by the trail's header."""
    from ferrolog.audit import AuditTrail

    path = tmp_path / "audit.log"
    AuditTrail(path, retention_days=2555).close()
    result = _run("audit", "verify", str(path))
    assert result.returncode == 0, result.stderr
    assert "retention 2555 days" in result.stdout


def test_environment_tables_and_list_indices_configure_settings(tmp_path: Path) -> None:
    """FERROLOG_LOGGER_LEVELS__APP and FERROLOG_SINKS__0__* are settings, not typos."""
    result = _run(
        "config",
        "check",
        FERROLOG_LOGGER_LEVELS__APP="debug",
        FERROLOG_SINKS__0__TYPE="file",
        FERROLOG_SINKS__0__PATH=str(tmp_path / "app.log"),
        FERROLOG_SINKS__0__MAX_BYTES="10 MiB",
    )
    assert result.returncode == 0, result.stderr
    effective = json.loads(result.stdout[result.stdout.index("{") :])
    assert effective["logger_levels"] == {"app": "debug"}
    assert effective["sinks"][0]["max_bytes"] == 10 << 20
