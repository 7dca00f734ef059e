"""Compliance profiles are validation rules over the whole Settings, defined once in
`ferrolog.compliance.RULES` (issue 16, point 5)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ferrolog import Container, Settings
from ferrolog.audit import AuditError, AuditTrail, verify
from ferrolog.compliance import RULES, SOX_RETENTION_DAYS, rules_markdown
from ferrolog.config import SettingsError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "compliance.md"


@pytest.fixture(autouse=True)
def _no_ferrolog_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)


def _violations(**values: Any) -> set[tuple[str, str]]:
    """(where, "[profile] rule") of every violated rule of ``values``; empty when valid."""
    try:
        Settings(**values)
    except SettingsError as exc:
        return {(where, message.split(":")[0]) for where, message in exc.errors}
    return set()


def test_the_docs_page_shows_the_rules_table() -> None:
    """docs/compliance.md holds exactly the table generated from RULES."""
    text = DOCS.read_text("utf-8")
    begin, end = "<!-- rules:begin -->\n", "<!-- rules:end -->"
    shown = text[text.index(begin) + len(begin) : text.index(end)]
    assert shown == rules_markdown()
    assert {rule.name for rule in RULES} <= {
        line.split(" | ")[1] for line in shown.splitlines()[2:]
    }


def test_pci_dss_lists_every_violated_rule() -> None:
    """Without the pci preset, an audit trail and with DEBUG in production: three rules, each
    with its profile, rule name and dotted path."""
    found = _violations(
        compliance={"profiles": ["pci-dss"]},
        static_fields={"env": "Production"},
        level="debug",
        logger_levels={"app.db": "debug"},
        sinks=[{"type": "null"}],
    )
    assert found == {
        ("redaction.presets", "[pci-dss] card-redaction"),
        ("audit.path", "[pci-dss] audit-trail"),
        ("level", "[pci-dss] no-debug-in-production"),
        ("logger_levels.app.db", "[pci-dss] no-debug-in-production"),
    }


def test_pci_dss_debug_is_fine_outside_production(tmp_path: Path) -> None:
    """DEBUG is refused only when static_fields.env says production."""
    base: dict[str, Any] = {
        "compliance": {"profiles": ["pci-dss"]},
        "redaction": {"presets": ["pci"]},
        "audit": {"path": str(tmp_path / "audit.log")},
        "level": "debug",
        "sinks": [{"type": "null"}],
    }
    assert _violations(**base, static_fields={"env": "staging"}) == set()
    assert _violations(**base, static_fields={"env": "prod"}) == {
        ("level", "[pci-dss] no-debug-in-production")
    }


def test_hipaa_needs_phi_redaction_and_narrow_file_modes(tmp_path: Path) -> None:
    """The phi preset, and no file sink (nor a file fallback) wider than 0o640."""
    found = _violations(
        compliance={"profiles": ["hipaa"]},
        sinks=[{"type": "file", "path": str(tmp_path / "a.log"), "mode": 0o644}],
        fallback={"type": "file", "path": str(tmp_path / "b.log"), "mode": 0o660},
    )
    assert found == {
        ("redaction.presets", "[hipaa] phi-redaction"),
        ("sinks.0.mode", "[hipaa] file-mode"),
        ("fallback.mode", "[hipaa] file-mode"),
    }
    assert (
        _violations(
            compliance={"profiles": ["hipaa"]},
            redaction={"presets": ["phi"]},
            sinks=[{"type": "file", "path": str(tmp_path / "a.log"), "mode": 0o600}],
        )
        == set()
    )


def test_sox_needs_an_audit_trail_kept_seven_years(tmp_path: Path) -> None:
    """audit.path and audit.retention_days >= 2555."""
    assert _violations(compliance={"profiles": ["sox"]}) == {
        ("audit.path", "[sox] audit-trail"),
        ("audit.retention_days", "[sox] audit-retention"),
    }
    audit = {"path": str(tmp_path / "a.log"), "retention_days": SOX_RETENTION_DAYS - 1}
    assert _violations(compliance={"profiles": ["sox"]}, audit=audit) == {
        ("audit.retention_days", "[sox] audit-retention")
    }
    audit["retention_days"] = SOX_RETENTION_DAYS
    assert _violations(compliance={"profiles": ["sox"]}, audit=audit) == set()


def test_gdpr_needs_pii_redaction_and_rotating_files(tmp_path: Path) -> None:
    """The pii preset, and every file sink rotates (so `backups` bounds what is kept)."""
    found = _violations(
        compliance={"profiles": ["gdpr"]},
        sinks=[
            {"type": "file", "path": str(tmp_path / "a.log")},
            {"type": "file", "path": str(tmp_path / "b.log"), "rotate_every": "daily"},
        ],
    )
    assert found == {
        ("redaction.presets", "[gdpr] pii-redaction"),
        ("sinks.0", "[gdpr] bounded-retention"),
    }


@pytest.mark.parametrize("profile", ["pci-dss", "hipaa", "sox", "gdpr"])
def test_tls_verification_off_is_refused_under_every_profile(profile: str) -> None:
    """verify_tls = false on a network sink breaks the tls-verification rule of any profile."""
    found = _violations(
        compliance={"profiles": [profile]},
        sinks=[{"type": "http", "url": "https://example.invalid/x", "verify_tls": False}],
    )
    assert ("sinks.0.verify_tls", f"[{profile}] tls-verification") in found


def test_without_a_profile_tls_verification_may_be_turned_off() -> None:
    """verify_tls = false is an explicit flag, allowed when no profile is set."""
    assert (
        _violations(
            sinks=[{"type": "http", "url": "https://example.invalid/x", "verify_tls": False}]
        )
        == set()
    )


def test_several_profiles_report_all_their_rules_together() -> None:
    """Every violated rule of every profile, in one error."""
    found = _violations(compliance={"profiles": ["pci-dss", "hipaa", "sox", "gdpr"]})
    assert {rule for _, rule in found} >= {
        "[pci-dss] card-redaction",
        "[pci-dss] audit-trail",
        "[hipaa] phi-redaction",
        "[sox] audit-retention",
        "[gdpr] pii-redaction",
    }


async def test_a_compliant_container_starts_and_records_its_retention(tmp_path: Path) -> None:
    """A sox-compliant container starts; its trail's first record states the retention,
    which `verify` reports."""
    trail = tmp_path / "audit.log"
    settings = {
        "compliance": {"profiles": ["sox"]},
        "audit": {"path": str(trail), "retention_days": 2600},
        "sinks": [{"type": "null"}],
    }
    async with Container.create(settings):
        pass
    result = verify(trail)
    assert result.ok
    assert result.retention_days == 2600


def test_a_trail_is_never_reopened_with_another_retention(tmp_path: Path) -> None:
    """The retention is fixed when a trail starts: another one (or none) is refused."""
    path = tmp_path / "audit.log"
    AuditTrail(path, retention_days=2555).close()
    AuditTrail(path, retention_days=2555).close()  # the same: fine
    with pytest.raises(AuditError, match="retention of 2555 days"):
        AuditTrail(path, retention_days=30)
    with pytest.raises(AuditError, match="retention of 2555 days"):
        AuditTrail(path)
    plain = tmp_path / "plain.log"
    trail = AuditTrail(plain)
    trail.record_sync({"event": "something"})
    trail.close()
    with pytest.raises(AuditError, match="started with no retention"):
        AuditTrail(plain, retention_days=2555)
    assert verify(path).ok
    assert verify(path).records == 1


async def test_settings_built_without_validation_are_checked_by_the_container() -> None:
    """model_copy(update=...) skips validation; Container still refuses the violation."""
    from ferrolog.config import ComplianceSettings

    settings = Settings(sinks=[{"type": "null"}]).model_copy(
        update={"compliance": ComplianceSettings(profiles=("gdpr",))}
    )
    with pytest.raises(SettingsError, match=r"\[gdpr\] pii-redaction"):
        await Container.create(settings)
