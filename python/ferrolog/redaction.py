"""Redaction presets, and `RedactionSettings` turned into the native encoder's redaction table.

Redaction runs inside the native encoder, before an event reaches the ring:

- **Field names**, on by default: a field whose name is in `DEFAULT_FIELDS` (or a preset's or
  ``redaction.fields``), compared case-insensitively at any depth (nested dict keys and
  dataclass attributes too), keeps its key and gets ``redaction.replacement`` as its value.
- **Value patterns**, opt-in through ``presets`` or ``patterns`` because every string written
  is then scanned (values, the message, exception messages and tracebacks, ``repr()`` text):
  each match is replaced. Card numbers are only masked when they pass the Luhn check.

`pydantic.SecretStr` and `SecretBytes` values are always written as ``"**********"``, without
reading the secret, whatever the settings say.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Final, Literal, NamedTuple

from ferrolog._native import DEFAULT_REDACTED_FIELDS, REDACTION_PATTERNS

__all__ = ["DEFAULT_FIELDS", "PATTERNS", "PRESETS", "Preset", "PresetName", "native_table"]

#: Field names masked with zero configuration (``redaction.enabled = false`` turns them off).
DEFAULT_FIELDS: Final[tuple[str, ...]] = tuple(DEFAULT_REDACTED_FIELDS)

#: The built-in value patterns, by name: ``card`` (13-19 digits passing the Luhn check),
#: ``email``, ``bearer`` (``Bearer <token>``), ``jwt``, ``aws_access_key`` (``AKIA...``),
#: ``url_credentials`` (the ``user:password`` of ``scheme://user:password@host``) and ``ssn``
#: (``123-45-6789``).
PATTERNS: Final[tuple[str, ...]] = tuple(REDACTION_PATTERNS)

PresetName = Literal["credentials", "pci", "phi", "pii"]


class Preset(NamedTuple):
    """A documented set of field names and built-in value patterns."""

    description: str
    fields: tuple[str, ...]
    patterns: tuple[str, ...]


#: The presets ``redaction.presets`` may name.
PRESETS: Final[Mapping[str, Preset]] = types.MappingProxyType(
    {
        "credentials": Preset(
            "secrets that grant access: passwords, tokens, keys, cookies",
            (
                "pwd",
                "pass",
                "client_secret",
                "access_token",
                "refresh_token",
                "id_token",
                "auth_token",
                "x-api-key",
                "proxy-authorization",
                "session_id",
                "sessionid",
                "credentials",
                "secret_key",
                "aws_secret_access_key",
            ),
            ("bearer", "jwt", "aws_access_key", "url_credentials"),
        ),
        "pci": Preset(
            "payment card data (PCI DSS): card numbers, verification codes, expiry",
            ("pan", "cardnumber", "card_no", "cvc", "cvv2", "cvc2", "card_expiry", "expiry_date"),
            ("card",),
        ),
        "phi": Preset(
            "protected health information (HIPAA identifiers)",
            (
                "patient_name",
                "mrn",
                "medical_record_number",
                "health_plan_id",
                "insurance_id",
                "diagnosis",
                "date_of_birth",
                "dob",
            ),
            ("ssn", "email"),
        ),
        "pii": Preset(
            "personal data (GDPR): names, contact details, identity numbers",
            (
                "email",
                "phone",
                "phone_number",
                "address",
                "street",
                "first_name",
                "last_name",
                "full_name",
                "date_of_birth",
                "dob",
                "ip_address",
                "passport",
                "passport_number",
                "national_id",
                "drivers_license",
            ),
            ("email", "ssn"),
        ),
    }
)


def native_table(
    *,
    enabled: bool,
    presets: tuple[str, ...],
    fields: tuple[str, ...],
    patterns: tuple[str, ...],
    replacement: str,
) -> dict[str, Any]:
    """The ``redaction=`` argument of `ferrolog._native.Pipeline` for these settings."""
    if not enabled:
        return {"enabled": False}
    names = list(DEFAULT_FIELDS)
    builtin: list[str] = []
    for name in presets:
        preset = PRESETS[name]
        names.extend(preset.fields)
        builtin.extend(p for p in preset.patterns if p not in builtin)
    names.extend(fields)
    return {
        "enabled": True,
        "fields": list(dict.fromkeys(names)),
        "builtin": builtin,
        "patterns": list(patterns),
        "replacement": replacement,
    }
