"""Request context: fields bound here appear in every event logged in the current context.

Context lives in one `ContextVar`, so each asyncio task (and `asyncio.to_thread` call) sees
the context it was started with, and concurrent requests never see each other's fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ferrolog._native import ContextFields, context_var


def _current() -> dict[str, Any]:
    fields = context_var.get(None)
    return fields.as_dict() if fields is not None else {}


def get_contextvars() -> dict[str, Any]:
    """A copy of the fields bound in the current context."""
    return _current()


def bind_contextvars(**fields: Any) -> None:
    """Add `fields` to the current context (replacing fields of the same name)."""
    merged = _current()
    merged.update(fields)
    context_var.set(ContextFields(merged))


def unbind_contextvars(*keys: str) -> None:
    """Remove the named fields from the current context; missing names are ignored."""
    merged = _current()
    for key in keys:
        merged.pop(key, None)
    context_var.set(ContextFields(merged) if merged else None)


def clear_contextvars() -> None:
    """Remove every field from the current context."""
    context_var.set(None)


@contextmanager
def bound_contextvars(**fields: Any) -> Iterator[None]:
    """Bind `fields` for the duration of the `with` block, then restore what was there."""
    token = context_var.set(ContextFields({**_current(), **fields}))
    try:
        yield
    finally:
        context_var.reset(token)
