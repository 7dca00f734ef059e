"""Compliance profiles as validation rules over the whole `Settings`: one table, `RULES`.

``compliance.profiles = ["pci-dss", ...]`` makes `Settings` refuse a configuration that breaks
any rule of those profiles, listing every violated rule at once (profile, rule, dotted path).
`RULES` is the single source of the rules: `violations` enforces it and ``docs/compliance.md``
shows `rules_markdown` (a test keeps the page equal to the table).

"Production" is ``static_fields.env`` being ``prod`` or ``production`` (case-insensitive):
the environment name every event already carries, so there is no second setting to keep in
step with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ferrolog.config import FileSink, Settings

__all__ = [
    "PRODUCTION_ENVS",
    "PROFILES",
    "RULES",
    "SOX_RETENTION_DAYS",
    "Profile",
    "Rule",
    "Violation",
    "check",
    "rules_markdown",
    "violations",
]

Profile = Literal["pci-dss", "hipaa", "sox", "gdpr"]
#: Every profile, in the order the rules table lists them.
PROFILES: tuple[Profile, ...] = ("pci-dss", "hipaa", "sox", "gdpr")
#: ``static_fields.env`` values that mean production (compared case-insensitively).
PRODUCTION_ENVS = ("prod", "production")
#: The shortest audit retention SOX accepts: 7 years of 365 days.
SOX_RETENTION_DAYS = 7 * 365
#: The widest permission bits of a log file under HIPAA.
HIPAA_FILE_MODE = 0o640
_DEBUG = 10


@dataclass(frozen=True)
class Violation:
    """One broken rule: which profile and rule, the setting's dotted path, and why."""

    profile: str
    rule: str
    path: str
    message: str

    def line(self) -> str:
        """``"path: [profile] rule: message"``, as `SettingsError` lists it."""
        return f"{self.path}: [{self.profile}] {self.rule}: {self.message}"


#: A rule's check: each ``(dotted path, what is wrong)`` of ``settings`` that breaks it.
Check = Callable[["Settings"], Iterator[tuple[str, str]]]


@dataclass(frozen=True)
class Rule:
    """A rule of one or more profiles: ``requirement`` is the documented text."""

    profiles: tuple[Profile, ...]
    name: str
    requirement: str
    check: Check


def _file_sinks(settings: Settings) -> Iterator[tuple[str, FileSink]]:
    from ferrolog.config import FileSink

    for index, sink in enumerate(settings.sinks):
        if isinstance(sink, FileSink):
            yield f"sinks.{index}", sink
    if isinstance(settings.fallback, FileSink):
        yield "fallback", settings.fallback


def _preset(name: str) -> Check:
    def check(settings: Settings) -> Iterator[tuple[str, str]]:
        if name not in settings.redaction.presets:
            yield (
                "redaction.presets",
                f"add the {name!r} redaction preset (given: {list(settings.redaction.presets)})",
            )

    return check


def _audit_trail(settings: Settings) -> Iterator[tuple[str, str]]:
    if settings.audit.path is None:
        yield "audit.path", "set audit.path: an audit trail is required"


def _no_debug_in_production(settings: Settings) -> Iterator[tuple[str, str]]:
    env = settings.static_fields.env
    if env is None or env.strip().lower() not in PRODUCTION_ENVS:
        return
    if settings.level <= _DEBUG:
        yield "level", f"level {settings.level} is DEBUG or below in production (env={env!r})"
    from ferrolog.config import parse_level

    custom = {name.lower(): number for name, number in settings.levels.items()}
    for prefix, level in settings.logger_levels.items():
        number = custom.get(level.lower()) if isinstance(level, str) else None
        if number is None:
            number = parse_level(level)
        if number <= _DEBUG:
            yield (
                f"logger_levels.{prefix}",
                f"level {level!r} is DEBUG or below in production (env={env!r})",
            )


def _file_modes(settings: Settings) -> Iterator[tuple[str, str]]:
    for where, sink in _file_sinks(settings):
        if sink.mode & ~HIPAA_FILE_MODE:
            yield f"{where}.mode", f"mode {sink.mode:#o} is wider than {HIPAA_FILE_MODE:#o}"


def _sox_retention(settings: Settings) -> Iterator[tuple[str, str]]:
    days = settings.audit.retention_days
    if days is None or days < SOX_RETENTION_DAYS:
        yield (
            "audit.retention_days",
            f"retention of {days} days; at least {SOX_RETENTION_DAYS} (7 years) is required"
            if days is not None
            else f"no retention set; at least {SOX_RETENTION_DAYS} days (7 years) is required",
        )


def _bounded_files(settings: Settings) -> Iterator[tuple[str, str]]:
    for where, sink in _file_sinks(settings):
        if sink.max_bytes is None and sink.rotate_every is None:
            yield (
                where,
                f"{sink.path} never rotates, so it keeps everything forever: set max_bytes "
                "or rotate_every (rotation keeps only `backups` old files)",
            )


def _tls_verified(settings: Settings) -> Iterator[tuple[str, str]]:
    for index, sink in enumerate(settings.sinks):
        if getattr(sink, "verify_tls", True) is False:
            yield f"sinks.{index}.verify_tls", "TLS verification must stay on"


#: The rules of every profile. Edit here; ``docs/compliance.md`` follows (a test checks it).
RULES: tuple[Rule, ...] = (
    Rule(("pci-dss",), "card-redaction", "redaction.presets includes `pci`", _preset("pci")),
    Rule(("pci-dss", "sox"), "audit-trail", "audit.path is set", _audit_trail),
    Rule(
        ("pci-dss",),
        "no-debug-in-production",
        "with static_fields.env `prod`/`production`: level and every logger_levels entry "
        "above DEBUG",
        _no_debug_in_production,
    ),
    Rule(("hipaa",), "phi-redaction", "redaction.presets includes `phi`", _preset("phi")),
    Rule(
        ("hipaa",),
        "file-mode",
        "every file sink (and a file fallback) has mode within 0o640",
        _file_modes,
    ),
    Rule(
        ("sox",),
        "audit-retention",
        f"audit.retention_days is at least {SOX_RETENTION_DAYS} (7 years)",
        _sox_retention,
    ),
    Rule(("gdpr",), "pii-redaction", "redaction.presets includes `pii`", _preset("pii")),
    Rule(
        ("gdpr",),
        "bounded-retention",
        "every file sink (and a file fallback) rotates (max_bytes or rotate_every), so at "
        "most `backups` old files are kept",
        _bounded_files,
    ),
    Rule(PROFILES, "tls-verification", "no network sink has verify_tls = false", _tls_verified),
)


def violations(settings: Settings) -> list[Violation]:
    """Every rule of ``settings.compliance.profiles`` that ``settings`` breaks, in table order."""
    found: list[Violation] = []
    for profile in settings.compliance.profiles:
        for rule in RULES:
            if profile in rule.profiles:
                found += [
                    Violation(profile, rule.name, path, message)
                    for path, message in rule.check(settings)
                ]
    return found


def check(settings: Settings) -> None:
    """Raise `SettingsError` listing every violated rule (``path: [profile] rule: why``)."""
    found = violations(settings)
    if found:
        from ferrolog._settings_sources import SettingsError

        raise SettingsError(
            "ferrolog settings break compliance rules:\n"
            + "\n".join(f"  {violation.line()}" for violation in found),
            errors=tuple((v.path, f"[{v.profile}] {v.rule}: {v.message}") for v in found),
        )


def rules_markdown() -> str:
    """The rules table as Markdown, as ``docs/compliance.md`` shows it."""
    lines = ["| profile | rule | requirement |", "|---|---|---|"]
    for profile in PROFILES:
        lines += [
            f"| {profile} | {rule.name} | {rule.requirement} |"
            for rule in RULES
            if profile in rule.profiles
        ]
    return "\n".join(lines) + "\n"
