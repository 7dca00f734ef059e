"""The event size cap counts bytes as written, after JSON escaping: no line ever exceeds
`max_event_bytes`, whatever the escaping, and what had to be cut is marked `_truncated`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ferrolog import Logger, Pipeline, bound_contextvars

ELLIPSIS = "…<truncated>"

#: Texts that escape to more bytes than they take in UTF-8 (and some that are just wide).
PAYLOADS = {
    "controls": "".join(chr(c) for c in range(32)),
    "quotes": '"',
    "backslashes": "\\",
    "mixed": 'a"\\\n\x00é\x1f',
    "non-BMP": "😀\x01",
    "surrogates": "\ud800x\udfff",
}


def _expected(text: str) -> str:
    """What the encoder writes for `text`: lone surrogates become U+FFFD."""
    return (
        text.encode("utf-8", "surrogatepass")
        .decode("utf-8", "replace")
        .replace("\ufffd\ufffd\ufffd", "\ufffd")
    )


class Capped:
    def __init__(self, path: Path, cap: int) -> None:
        self.path = path
        self.cap = cap
        self.pipeline = Pipeline(sinks=[{"type": "file", "path": str(path)}], max_event_bytes=cap)
        self.logger: Logger = self.pipeline.logger("cap")

    def lines(self) -> list[bytes]:
        assert self.pipeline.flush(30)
        return self.path.read_bytes().splitlines(keepends=True)


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[Callable[[int], Capped]]:
    made: list[Capped] = []

    def make(cap: int) -> Capped:
        c = Capped(tmp_path / f"cap{len(made)}.log", cap)
        made.append(c)
        return c

    yield make
    for c in made:
        c.pipeline.close(10)


def _check_cut(value: str, full: str) -> None:
    assert value.endswith(ELLIPSIS)
    assert _expected(full).startswith(value[: -len(ELLIPSIS)])


@pytest.mark.parametrize("kind", PAYLOADS)
@pytest.mark.parametrize("where", ["call", "message", "bound", "context"])
def test_a_60k_value_that_escapes_large_is_cut_within_the_cap(
    capped: Callable[[int], Capped], kind: str, where: str
) -> None:
    """A 60 KiB value of characters that need escaping yields one line within 64 KiB, the value
    cut to a prefix of itself and the event marked truncated — not dropped, not over-long.
    """
    c = capped(64 * 1024)
    text = (PAYLOADS[kind] * (60 * 1024 // len(PAYLOADS[kind])))[: 60 * 1024]
    if where == "call":
        c.logger.info("m", v=text)
    elif where == "message":
        c.logger.info(text)
    elif where == "bound":
        c.logger.bind(v=text).info("m")
    else:
        with bound_contextvars(v=text):
            c.logger.info("m")
    (line,) = c.lines()
    assert len(line) <= 64 * 1024
    ev = json.loads(line)
    assert ev["_truncated"] is True
    _check_cut(ev["message"] if where == "message" else ev["v"], text)
    assert c.pipeline.stats()["dropped"] == 0


@pytest.mark.parametrize("kind", PAYLOADS)
@pytest.mark.parametrize("where", ["call", "bound", "context"])
def test_a_long_key_that_escapes_large_never_overruns_the_cap(
    capped: Callable[[int], Capped], kind: str, where: str
) -> None:
    """A field name of 60 KiB that needs escaping never makes a line longer than the cap."""
    c = capped(64 * 1024)
    key = (PAYLOADS[kind] * (60 * 1024 // len(PAYLOADS[kind])))[: 60 * 1024]
    fields: dict[str, Any] = {key: 1, "after": 2}
    if where == "call":
        c.logger.info("m", **fields)
    elif where == "bound":
        c.logger.bind(**fields).info("m")
    else:
        with bound_contextvars(**fields):
            c.logger.info("m")
    (line,) = c.lines()
    assert len(line) <= 64 * 1024
    ev = json.loads(line)
    assert ev["message"] == "m"
    assert ev["_truncated"] is True


@pytest.mark.parametrize("kind", PAYLOADS)
def test_values_around_the_cap_boundary_are_whole_or_cut_never_over(
    capped: Callable[[int], Capped], kind: str
) -> None:
    """Sweeping a value's length across the cap: each line is valid JSON within the cap; a
    value is either whole (no marker) or a cut prefix (marker set)."""
    cap = 512
    c = capped(cap)
    unit = PAYLOADS[kind]
    texts = [(unit * (n // len(unit) + 1))[:n] for n in range(0, 480, 3)]
    for text in texts:
        c.logger.info("m", v=text)
        c.logger.info("m", **{text or "k": 1})
    lines = c.lines()
    assert len(lines) == 2 * len(texts)
    for line, text in zip(lines[::2], texts, strict=True):
        assert len(line) <= cap
        ev = json.loads(line)
        if ev.get("_truncated"):
            _check_cut(ev["v"], text)
        else:
            assert ev["v"] == _expected(text)
    for line in lines[1::2]:
        assert len(line) <= cap
        json.loads(line)


def test_a_long_logger_name_and_unknown_level_fit_the_cap(
    capped: Callable[[int], Capped],
) -> None:
    """Envelope parts from the caller (logger name, a level name `log()` does not know) are cut
    to fit too."""
    c = capped(256)
    c.logger.child('"' * 5000).info("m", v=1)
    c.logger.log("\x01" * 5000, "m")
    for line in c.lines():
        assert len(line) <= 256
        assert json.loads(line)["_truncated"] is True


def test_deep_nesting_cut_at_the_cap_closes_within_it(capped: Callable[[int], Capped]) -> None:
    """Nested containers cut at the cap still close every bracket within the cap."""
    c = capped(1024)
    nested: Any = ["\x00" * 2000]
    for _ in range(31):
        nested = [1.2345678901234567e-300, {"k": nested}]
    c.logger.info("m", v=nested, w=nested)
    (line,) = c.lines()
    assert len(line) <= 1024
    assert json.loads(line)["_truncated"] is True
