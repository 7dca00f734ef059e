"""Property: a secret planted anywhere under a denied name, or matching a configured pattern,
never reaches the output bytes — whether it is a call field, a bound field or request context.

Secrets are planted at random depths in dicts, lists and tuples next to hostile filler, under
denied names in random letter case; the file sink's bytes are searched for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile import values
from hypothesis import given
from hypothesis import strategies as st

from ferrolog import Pipeline, bound_contextvars
from ferrolog.redaction import DEFAULT_FIELDS

MARK = "Zq9-planted-"


class Sink:
    """A pipeline to one file, and the bytes it appended since the last read."""

    def __init__(self, path: Path, **options: Any) -> None:
        self.path = path
        self.pipeline = Pipeline(
            sinks=[{"type": "file", "path": str(path)}], capacity_bytes=1 << 24, **options
        )
        self.logger = self.pipeline.logger("leak", "trace")
        self.offset = 0

    def new_bytes(self) -> bytes:
        assert self.pipeline.flush(30.0)
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return data


@pytest.fixture(scope="module")
def sinks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Sink]]:
    root = tmp_path_factory.mktemp("leaks")
    made = {
        "names": Sink(root / "names.log"),
        "patterns": Sink(
            root / "patterns.log",
            redaction={"builtin": ["email", "aws_access_key", "card"], "patterns": [MARK + r"\d+"]},
        ),
    }
    yield made
    for sink in made.values():
        sink.pipeline.close(10.0)


def _recase(name: str, flips: list[bool]) -> str:
    return "".join(
        c.upper() if flip else c for c, flip in zip(name, flips + [False] * len(name), strict=False)
    )


denied_names = st.builds(_recase, st.sampled_from(DEFAULT_FIELDS), st.lists(st.booleans()))
benign_keys = st.sampled_from(["user", "data", "items", "meta", "x", "Passwords", "tokens"])
secret_ids = st.integers(0, 10**9)


def _secret_value(n: int, shape: str) -> Any:
    text = f"{MARK}{n}"
    return {"str": text, "list": [text, 1], "dict": {"inner": text}, "tuple": (text,)}[shape]


def _planted(n: int) -> st.SearchStrategy[Any]:
    """A tree holding secret `n` under a denied name somewhere."""
    leaf = st.builds(
        lambda k, shape: {k: _secret_value(n, shape)},
        denied_names,
        st.sampled_from(["str", "list", "dict", "tuple"]),
    )

    def wrap(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.builds(lambda x, k, f: {"filler": f, k: x}, inner, benign_keys, values),
            st.builds(lambda x, f: [f, x], inner, values),
            st.builds(lambda x, f: (x, f), inner, values),
        )

    return st.recursive(leaf, wrap, max_leaves=6)


@st.composite
def payloads(draw: st.DrawFn) -> tuple[int, dict[str, Any], dict[str, Any], dict[str, Any]]:
    n = draw(secret_ids)
    tree = _planted(n)
    call = {draw(benign_keys): draw(tree), draw(denied_names): f"{MARK}{n}"}
    bound = {draw(benign_keys): draw(tree)}
    context = {draw(benign_keys): draw(tree)}
    return n, call, bound, context


@given(payloads())
def test_secrets_under_denied_names_never_leak(
    sinks: dict[str, Sink], payload: tuple[int, dict[str, Any], dict[str, Any], dict[str, Any]]
) -> None:
    """With zero configuration, no planted secret appears in the bytes written."""
    n, call, bound, context = payload
    sink = sinks["names"]
    with bound_contextvars(**context):
        sink.logger.bind(**bound).info("event", **call)
    data = sink.new_bytes()
    assert data.count(b"\n") == 1
    assert f"{MARK}{n}".encode() not in data


@given(
    st.lists(values, max_size=3),
    st.sampled_from(["bob@example.com", "AKIAIOSFODNN7EXAMPLE", "4111-1111-1111-1111"]),
    secret_ids,
    st.sampled_from(["message", "call", "bound", "context"]),
)
def test_pattern_secrets_never_leak(
    sinks: dict[str, Sink], filler: list[Any], known: str, n: int, where: str
) -> None:
    """With value patterns on, a matching secret anywhere in any string is masked."""
    sink = sinks["patterns"]
    text = f"before {known} and {MARK}{n} after"
    value: Any = {"a": [*filler, (text,)], "b": text}
    message = text if where == "message" else "event"
    call = {"v": value} if where == "call" else {}
    bound = {"v": value} if where == "bound" else {}
    context = {"v": value} if where == "context" else {}
    with bound_contextvars(**context):
        sink.logger.bind(**bound).info(message, **call)
    data = sink.new_bytes()
    assert known.encode() not in data
    assert f"{MARK}{n}".encode() not in data
