"""Hostile values for the property tests: everything a caller may pass to a log call.

Text strategies include lone surrogates (Hypothesis' default text excludes category Cs),
control characters and every plane; the containers reach past the encoder's depth limit and
its 64 KiB event cap; the objects misbehave in every dunder the encoder might call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
from pathlib import PurePosixPath
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, SecretStr

#: Keys of the default schema a field may not take (the envelope's, and `stack` and
#: `_truncated`, which the encoder adds): a field of that name is written as `field.<name>`.
RESERVED = ("timestamp", "level", "logger", "message", "exception", "stack", "_truncated")
#: Keywords a log call consumes itself (never fields).
SPECIAL_KWARGS = ("exc_info", "stack_info", "stacklevel")
#: The encoder's nesting limit (containers deeper than this become "<max depth>").
MAX_DEPTH = 32
#: Past CPython's default int/str conversion limit (4300 digits).
#: (Built by a strategy, not sampled: Hypothesis reprs sampled elements, and their repr
#: raises ValueError past that limit.)
huge_ints = st.builds(
    lambda base, exponent, sign, offset: sign * base**exponent + offset,
    st.sampled_from([10, 2]),
    st.sampled_from([63, 64, 4299, 4300, 5000, 20_000]),
    st.sampled_from([1, -1]),
    st.integers(-1, 1),
)

#: Any code point, lone surrogates (Cs) included.
any_char = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
surrogate = st.characters(categories=["Cs"])
control = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from("\x7f\u2028\u2029")
text = st.text(alphabet=any_char, max_size=12) | st.text(
    alphabet=surrogate | control | st.sampled_from('"\\/é€😀\ufeff\ufffd'), max_size=12
)


def _big_text(char: str, n: int) -> str:
    return char * n


#: Strings at and beyond the 64 KiB event cap, made of the characters escaping multiplies.
big_text = st.builds(
    _big_text,
    st.sampled_from(["x", "\x00", "\x1f", '"', "\\", "é", "😀", "\ud800", "\u2028"]),
    st.integers(min_value=20_000, max_value=70_000),
)


class Color(enum.Enum):
    RED = "red"
    TUPLE = (1, "two", None)
    SELF_REF = object()


class Number(enum.IntEnum):
    ONE = 1
    BIG = 10**30


class Name(str, enum.Enum):
    ALICE = "alice"
    SURROGATE = "\udcff"


class Flags(enum.IntFlag):
    A = 1
    B = 2


class StrSub(str):
    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints failing examples with this, never with the hostile __repr__.
        printer.text(f"StrSub({str.__repr__(self)})")

    def __str__(self) -> str:
        raise RuntimeError("StrSub.__str__")

    def __repr__(self) -> str:
        raise RuntimeError("StrSub.__repr__")


class IntSub(int):
    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints failing examples with this, never with the hostile __repr__.
        printer.text("IntSub(...)")

    def __repr__(self) -> str:
        raise RuntimeError("IntSub.__repr__")

    def __str__(self) -> str:
        return "not a number"


class FloatSub(float):
    def __repr__(self) -> str:
        return "FloatSub()"


class DictSub(dict):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("DictSub.__iter__")

    def items(self) -> Any:
        raise RuntimeError("DictSub.items")

    def keys(self) -> Any:
        raise RuntimeError("DictSub.keys")


class ListSub(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("ListSub.__iter__")

    def __len__(self) -> int:
        return 10**6


class SetSub(set):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("SetSub.__iter__")


class Hostile:
    """An object whose dunders misbehave in the way `mode` names."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints failing examples with this, never with the hostile __repr__.
        printer.text(f"Hostile({self.mode!r})")

    def __repr__(self) -> Any:
        mode = self.mode
        if mode == "repr-raises":
            raise RuntimeError("repr")
        if mode == "repr-bytes":
            return b"not a str"
        if mode == "repr-none":
            return None
        if mode == "repr-huge":
            return "r" * 100_000
        if mode == "repr-surrogate":
            return "\ud83d<lone>\udfff"
        if mode == "repr-str-subclass":
            return StrSub("subclassed repr")
        if mode == "repr-control":
            return '\x00"\\\n'
        if mode == "repr-base-exception":
            raise KeyboardInterrupt  # not an Exception: still must not escape the log call
        return f"Hostile({mode})"

    def __str__(self) -> Any:
        if self.mode.startswith("str-"):
            raise RuntimeError("str")
        return 42  # not a str

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        return id(self) >> 4

    def __iter__(self) -> Any:
        raise RuntimeError("iter")

    def __len__(self) -> int:
        raise RuntimeError("len")


class Unhashable:
    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __repr__(self) -> str:
        return "Unhashable()"


class Mutator:
    """Its __repr__ empties and refills the container it sits in (while that is encoded)."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("Mutator(...)")

    def __repr__(self) -> str:
        target = self.target
        target.clear()
        if isinstance(target, dict):
            target.update({f"k{i}": i for i in range(50)})
        elif isinstance(target, list):
            target.extend(range(50))
        else:
            target.update(range(50))
        return "Mutator()"


def _self_mutating(kind: str) -> Any:
    if kind == "dict":
        d: dict[str, Any] = {}
        d.update(a=Mutator(d), b=1)
        return d
    if kind == "list":
        items: list[Any] = []
        items.extend([Mutator(items), Mutator(items), 1])
        return items
    members: set[Any] = set()
    members.update([Mutator(members), 1, 2])
    return members


HOSTILE_MODES = (
    "repr-raises",
    "repr-bytes",
    "repr-none",
    "repr-huge",
    "repr-surrogate",
    "repr-str-subclass",
    "repr-control",
    "repr-base-exception",
    "str-raises",
    "plain",
)


class WeirdTz(dt.tzinfo):
    """A tzinfo whose offset is odd (seconds and microseconds), raises, or is not a timedelta."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def utcoffset(self, when: dt.datetime | None) -> Any:
        if self.mode == "raises":
            raise RuntimeError("utcoffset")
        if self.mode == "not-timedelta":
            return "+01:00"
        if self.mode == "odd":
            return dt.timedelta(hours=-23, minutes=-59, seconds=-59, microseconds=-1)
        return None

    def dst(self, when: dt.datetime | None) -> Any:
        return None

    def tzname(self, when: dt.datetime | None) -> Any:
        return "\ud800weird"


@dataclasses.dataclass
class Box:
    value: Any
    other: Any = None


@dataclasses.dataclass
class Slotted:
    __slots__ = ("value",)
    value: Any


class Model(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    value: Any
    secret: SecretStr = SecretStr("hunter2")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # pydantic's own repr panics (PanicException) on a set whose __iter__ raises.
        printer.text("Model(...)")


def _datetime_with(when: dt.datetime, mode: str) -> dt.datetime:
    return when.replace(tzinfo=WeirdTz(mode))


decimals = st.decimals(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [
        decimal.Decimal("1E+999999999"),
        decimal.Decimal("-1E-999999999"),
        decimal.Decimal("sNaN"),
        decimal.Decimal("-NaN123"),
        decimal.Decimal("-Infinity"),
        decimal.Decimal("-0"),
        decimal.Decimal("9" * 5000),
    ]
)
times = (
    st.datetimes(timezones=st.none() | st.timezones())
    | st.builds(
        _datetime_with, st.datetimes(), st.sampled_from(["raises", "not-timedelta", "odd", "none"])
    )
    | st.dates()
    | st.times(timezones=st.none() | st.timezones())
    | st.timedeltas()
)
oddballs = (
    st.builds(Hostile, st.sampled_from(HOSTILE_MODES))
    | st.builds(Unhashable)
    | st.sampled_from(
        [
            Color.RED,
            Color.TUPLE,
            Color.SELF_REF,
            Number.ONE,
            Number.BIG,
            Name.ALICE,
            Name.SURROGATE,
            Flags.A | Flags.B,
            SecretStr("s3cret"),
            PurePosixPath("/tmp/\udcff.log"),
            ...,
            NotImplemented,
            object(),
            type,
            len,
            complex(1, -0.0),
            range(3),
            memoryview(b"mv"),
            bytearray(b"\xff\xfe"),
        ]
    )
    | st.builds(_self_mutating, st.sampled_from(["dict", "list", "set"]))
    | st.builds(StrSub, text)
    | st.builds(IntSub, st.integers())
    | st.builds(FloatSub, st.floats())
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | huge_ints
    | st.floats()
    | text
    | st.binary(max_size=16)
    | decimals
    | times
    | st.uuids()
    | oddballs
)
hashable_keys = (
    text
    | st.sampled_from(RESERVED)
    | st.integers()
    | st.sampled_from([None, True, False, 1.5, float("nan"), (1, "t"), b"k"])
    | huge_ints
    | st.builds(Hostile, st.sampled_from(HOSTILE_MODES))
    | st.sampled_from([Color.RED, Number.ONE, Name.SURROGATE])
)


def _nest(value: Any, depth: int, kind: str) -> Any:
    for i in range(depth):
        if kind == "dict":
            value = {f"d{i}": value}
        elif kind == "list":
            value = [value]
        elif kind == "tuple":
            value = (value,)
        else:
            value = Box(value)
    return value


def _extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(hashable_keys, inner, max_size=4)
        | st.frozensets(hashable_keys, max_size=4)
        | st.sets(st.integers() | text, max_size=4)
        | st.builds(Box, inner, inner)
        | st.builds(Slotted, inner)
        | st.builds(Model, value=inner)
        | st.dictionaries(text, inner, max_size=3).map(DictSub)
        | st.lists(inner, max_size=3).map(ListSub)
        | st.sets(st.integers(), max_size=3).map(SetSub)
    )


#: Any value, nested a few levels; `deep` adds nesting around the encoder's depth limit.
values = st.recursive(scalars, _extend, max_leaves=8)
deep = st.builds(
    _nest,
    values,
    st.integers(min_value=MAX_DEPTH - 2, max_value=MAX_DEPTH + 8),
    st.sampled_from(["dict", "list", "tuple", "dataclass"]),
)
hostile_values = values | deep | big_text | st.lists(big_text, min_size=2, max_size=3)

#: Field names: any text (surrogates and control characters too), reserved names, non-ASCII.
field_names = (
    text.filter(lambda k: k not in SPECIAL_KWARGS)
    | st.sampled_from(RESERVED)
    | st.sampled_from(["é", "ключ", "😀", "a b", "\x00", "\ud800", "a\nb", '"', "\\", ""])
)
fields = st.dictionaries(field_names, hostile_values, max_size=3)
small_fields = st.dictionaries(field_names, values, max_size=2)


def _exact_int(digits: str) -> int:
    # Decimal's constructor and int(Decimal) are exact and not bound by
    # sys.get_int_max_str_digits(), which json's own int() parsing is; the encoder must write
    # ints past that limit, and the test process keeps the default limit so that it does.
    return int(decimal.Decimal(digits))


def loads_exact(text: str, **kwargs: Any) -> Any:
    """json.loads that reads ints of any length back exactly."""
    return json.loads(text, parse_int=_exact_int, **kwargs)
