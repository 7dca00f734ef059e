"""Each supported type is written with its JSON type kept, in the default schema's envelope."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import re
import uuid
from collections import OrderedDict
from pathlib import PurePosixPath

import pydantic
import pytest

from conftest import FileLog
from ferrolog import _native


def test_envelope_of_the_default_schema(file_log: FileLog) -> None:
    """An event carries timestamp (UTC, microseconds, Z), level, logger and message first."""
    file_log.logger.info("request handled", user_id=7, path="/api/items", latency_ms=12.5)
    raw = file_log.path.read_text() if file_log.pipeline.flush(5) else ""
    assert re.fullmatch(
        r'\{"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z","level":"info","logger":"test",'
        r'"message":"request handled","user_id":7,"path":"/api/items","latency_ms":12\.5\}\n',
        raw,
    )


def test_scalars_keep_their_json_types(file_log: FileLog) -> None:
    """int stays int (any size), float stays float, bool/None map to JSON literals."""
    big = 2**100
    file_log.logger.info("m", i=-5, big=big, f=0.1, t=True, n=None, s="x", neg=-0.0, e=1e300)
    ev = file_log.one()
    assert ev["i"] == -5
    assert ev["big"] == big
    assert ev["f"] == 0.1
    assert ev["t"] is True
    assert ev["n"] is None
    assert ev["s"] == "x"
    assert ev["e"] == 1e300


def test_non_finite_floats_become_strings(file_log: FileLog) -> None:
    """NaN and infinities, which JSON cannot hold, are written as strings."""
    file_log.logger.info("m", a=float("nan"), b=float("inf"), c=float("-inf"))
    ev = file_log.one()
    assert (ev["a"], ev["b"], ev["c"]) == ("NaN", "Infinity", "-Infinity")


def test_containers_stay_nested(file_log: FileLog) -> None:
    """dict, list, tuple and set keep their nesting; non-str keys become strings."""
    file_log.logger.info(
        "m", d={"a": {"b": [1, 2, (3, 4)]}}, s={5}, fs=frozenset(), keys={1: "x", None: 2, 1.5: 3}
    )
    ev = file_log.one()
    assert ev["d"] == {"a": {"b": [1, 2, [3, 4]]}}
    assert ev["s"] == [5]
    assert ev["fs"] == []
    assert ev["keys"] == {"1": "x", "null": 2, "1.5": 3}


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int
    y: float


class User(pydantic.BaseModel):
    name: str
    credential: pydantic.SecretStr


def test_stdlib_value_types(file_log: FileLog) -> None:
    """datetime/date/time as ISO strings, UUID, Decimal and paths as strings, enums by value."""
    when = dt.datetime(2026, 11, 26, 3, 40, 21, 123456, tzinfo=dt.timezone.utc)
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    file_log.logger.info(
        "m",
        when=when,
        day=dt.date(2026, 1, 2),
        clock=dt.time(1, 2, 3),
        u=u,
        amount=decimal.Decimal("12.50"),
        color=Color.RED,
        lvl=Level.HIGH,
        p=PurePosixPath("/tmp/x"),
        raw=b"bytes\xff",
    )
    ev = file_log.one()
    assert ev["when"] == "2026-11-26T03:40:21.123456+00:00"
    assert ev["day"] == "2026-01-02"
    assert ev["clock"] == "01:02:03"
    assert ev["u"] == str(u)
    assert ev["amount"] == "12.50"
    assert ev["color"] == "red"
    assert ev["lvl"] == 3
    assert ev["p"] == "/tmp/x"
    assert ev["raw"] == "bytes\ufffd"


def test_dataclasses_and_pydantic_models_become_objects(file_log: FileLog) -> None:
    """Dataclasses and pydantic models are written as JSON objects; SecretStr is masked."""
    file_log.logger.info("m", pt=Point(1, 2.5), user=User(name="ann", credential="hunter2"))
    ev = file_log.one()
    assert ev["pt"] == {"x": 1, "y": 2.5}
    assert ev["user"] == {"name": "ann", "credential": "**********"}
    assert "hunter2" not in file_log.path.read_text()


def test_subclasses_of_builtins_are_encoded_as_their_base(file_log: FileLog) -> None:
    """str/int/float/dict/list subclasses encode like the builtin they extend."""

    class S(str):
        pass

    class I(int):  # noqa: E742
        pass

    class D(dict):  # type: ignore[type-arg]
        pass

    class L(list):  # type: ignore[type-arg]
        pass

    file_log.logger.info("m", s=S("x"), i=I(3), d=D(a=1), l=L([1]), o=OrderedDict(b=2))
    ev = file_log.one()
    assert (ev["s"], ev["i"], ev["d"], ev["l"], ev["o"]) == ("x", 3, {"a": 1}, [1], {"b": 2})


def test_unknown_objects_use_a_capped_repr(file_log: FileLog) -> None:
    """Anything else is written as its repr(), cut to a bounded length."""

    class Thing:
        def __repr__(self) -> str:
            return "T" * 5000

    file_log.logger.info("m", thing=Thing(), obj=object)
    ev = file_log.one()
    assert ev["thing"].startswith("TTT")
    assert len(ev["thing"]) <= 1025
    assert ev["obj"] == "<class 'object'>"


def test_escapes_and_unicode(file_log: FileLog) -> None:
    """Quotes, backslashes, control characters and non-ASCII text round-trip exactly."""
    text = 'quote " backslash \\ newline \n tab \t nul \x00 bell \x07 é 漢字 🎉'
    file_log.logger.info(text, field=text)
    ev = file_log.one()
    assert ev["message"] == text
    assert ev["field"] == text


def test_non_str_message_is_encoded_not_raised(file_log: FileLog) -> None:
    """A message that is not a str is written as its repr."""
    file_log.logger.info({"a": 1})  # type: ignore[arg-type]
    assert file_log.one()["message"] == "{'a': 1}"


def test_reserved_keys_are_kept_under_a_prefix(file_log: FileLog) -> None:
    """A field named like an envelope key is written as `field.<name>`; nothing is lost."""
    file_log.logger.info("real", message="fake", level="x", timestamp=1, logger="y")
    ev = file_log.one()
    assert ev["message"] == "real"
    assert ev["level"] == "info"
    assert ev["logger"] == "test"
    assert ev["field.message"] == "fake"
    assert ev["field.level"] == "x"
    assert ev["field.timestamp"] == 1
    assert ev["field.logger"] == "y"


def test_field_names_from_changing_keyword_sets(file_log: FileLog) -> None:
    """One call site called with different `**fields` sets writes each event's own names."""
    sets = [{"a": 1}, {"b": 2, "c": 3}, {"message": "m", "a": 4}, {"exc_info": False, "z": 5}]
    for _ in range(3):
        for fields in sets:
            file_log.logger.info("x", **fields)  # type: ignore[arg-type]
    events = file_log.lines()
    expected = [
        {"a": 1},
        {"b": 2, "c": 3},
        {"field.message": "m", "a": 4},
        {"z": 5},
    ] * 3
    got = [
        {k: v for k, v in ev.items() if k not in ("timestamp", "level", "logger", "message")}
        for ev in events
    ]
    assert got == expected


@pytest.mark.parametrize(
    ("key", "text"),
    [(1, "1"), (-5, "-5"), (2**64, str(2**64)), (-(2**70), str(-(2**70)))],
)
def test_int_dict_keys_are_their_digits(key: int, text: str) -> None:
    """An int dict key, small or beyond 64 bits, is one JSON string of its digits."""
    assert json.loads(_native.encode({key: 0})) == {text: 0}


def test_an_int_dict_key_past_the_budget_is_one_string_marker() -> None:
    """An int key too large for the budget is written as the size marker, one JSON string
    (not a quoted string inside the key's quotes)."""
    (key,) = json.loads(_native.encode({10**5000: 1}, max_bytes=1000))
    assert re.fullmatch(r"<int of \d+ bits>", key), key
