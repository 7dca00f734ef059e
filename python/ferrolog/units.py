"""Human units in settings: sizes (``"64 MiB"``), durations (``"500ms"``) and rotation.

Every size and duration field of `ferrolog.config.Settings` accepts a plain number (bytes,
seconds) or a string with a unit, so ``capacity_bytes = "8 MiB"`` and ``linger = "5ms"`` read
as they mean. The units, stated once:

- sizes: ``B``; decimal ``kB``/``KB`` (1000), ``MB`` (1000²), ``GB``, ``TB``; binary ``KiB``
  (1024), ``MiB`` (1024²), ``GiB``, ``TiB``. Unit letters are case-sensitive only where
  that matters (``MB`` is not ``Mb``: a bit is not a byte, so ``b`` is refused). A size
  is a whole number of bytes: ``"1.5 KiB"`` is 1536, ``"1.5 B"`` is an error.
- durations: ``us`` (microseconds), ``ms``, ``s``, ``m``/``min``, ``h``, ``d``; a bare
  number is seconds. Combined forms (``"1h30m"``) are not accepted: write ``"90m"``.
- rotation: ``"hourly"``, ``"daily"``, or a duration of whole seconds (``"7d"``, ``3600``).

An invalid value raises ``ValueError`` listing the accepted forms; pydantic adds the field's
dotted path, so a settings error reads ``ring.capacity_bytes: ... accepted: ...``.
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Mapping
from typing import Annotated

from pydantic import BeforeValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = [
    "DURATION_UNITS",
    "SIZE_UNITS",
    "ByteSize",
    "Duration",
    "parse_duration",
    "parse_rotation",
    "parse_size",
]

#: Bytes per size unit. Decimal (SI) units are powers of 1000, binary (IEC) ones of 1024.
SIZE_UNITS: Mapping[str, int] = types.MappingProxyType(
    {
        "B": 1,
        "kB": 1000,
        "KB": 1000,
        "MB": 1000**2,
        "GB": 1000**3,
        "TB": 1000**4,
        "KiB": 1024,
        "MiB": 1024**2,
        "GiB": 1024**3,
        "TiB": 1024**4,
    }
)
#: Seconds per duration unit.
DURATION_UNITS: Mapping[str, float] = types.MappingProxyType(
    {
        "us": 1e-6,
        "ms": 1e-3,
        "s": 1.0,
        "m": 60.0,
        "min": 60.0,
        "h": 3600.0,
        "d": 86400.0,
    }
)

_NUMBER_WITH_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)\s*$")
SIZE_FORMS = (
    "bytes as an integer, or a number with a unit: B, kB/KB/MB/GB/TB (powers of 1000), "
    "KiB/MiB/GiB/TiB (powers of 1024); e.g. 65536, '64 KiB', '4KB'"
)
DURATION_FORMS = (
    "seconds as a number, or a number with a unit: us, ms, s, m/min, h, d; "
    "e.g. 0.5, '500ms', '2s', '1h'"
)
ROTATION_FORMS = "'hourly', 'daily', or a duration of whole seconds, e.g. 3600, '1h', '7d'"


def _number_with_unit(
    value: str, units: Mapping[str, float], default: str, kind: str, forms: str
) -> float:
    """``value``'s number times its unit (``default`` when it has none); a clear error naming
    ``kind`` and the accepted ``forms`` otherwise."""
    match = _NUMBER_WITH_UNIT.match(value)
    unit = (match.group(2) if match else "") or default
    if match is None or unit not in units:
        raise ValueError(f"{value!r} is not a {kind}; accepted: {forms}")
    return float(match.group(1)) * units[unit]


def parse_size(value: object) -> object:
    """Bytes for ``value``: an int, or a string such as ``"64 MiB"`` or ``"4KB"``.

    Other types pass through unchanged for the field's own type check.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    number = _number_with_unit(value, SIZE_UNITS, "B", "size", SIZE_FORMS)
    if not number.is_integer():
        raise ValueError(f"{value!r} is not a whole number of bytes; accepted: {SIZE_FORMS}")
    return int(number)


def parse_duration(value: object) -> object:
    """Seconds for ``value``: a number, or a string such as ``"500ms"``, ``"2s"``, ``"1h"``.

    Other types pass through unchanged for the field's own type check.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    seconds = _number_with_unit(value, DURATION_UNITS, "s", "duration", DURATION_FORMS)
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a finite duration; accepted: {DURATION_FORMS}")
    return seconds


def parse_rotation(value: object) -> object:
    """``"hourly"``/``"daily"`` as they are, a duration string as whole seconds."""
    if not isinstance(value, str) or value in ("hourly", "daily"):
        return value
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a rotation; accepted: {ROTATION_FORMS}") from None
    assert isinstance(seconds, float)
    if not seconds.is_integer():
        raise ValueError(f"{value!r} is not a whole number of seconds; accepted: {ROTATION_FORMS}")
    return int(seconds)


class _OrText:
    """JSON schema: the number (its bounds kept) or a string with a unit."""

    def __init__(self, forms: str) -> None:
        self.forms = forms

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = dict(handler(core_schema))
        kind = schema.pop("type", None)
        if kind is None:
            return schema
        # Numeric bounds (minimum, maximum) stay at the top: they apply to numbers only.
        return {**schema, "anyOf": [{"type": kind}, {"type": "string", "description": self.forms}]}


#: A size in bytes (an int after validation); bounds come from the field's ``Field(ge, le)``.
ByteSize = Annotated[int, BeforeValidator(parse_size), _OrText(SIZE_FORMS)]
#: A duration in seconds (a float after validation); bounds come from the field.
Duration = Annotated[float, BeforeValidator(parse_duration), _OrText(DURATION_FORMS)]
