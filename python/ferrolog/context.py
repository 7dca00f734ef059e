"""Request context: fields bound here appear in every event logged in the current context.

Context lives in one `ContextVar`, so each asyncio task (and `asyncio.to_thread` call) sees
the context it was started with, and concurrent requests never see each other's fields. The
value is an immutable, pre-encoded field set: binding encodes only the fields it adds, and a
log call copies the encoded bytes.
"""

from __future__ import annotations

from typing import Any

from ferrolog._native import (
    ContextFields,
    bind_contextvars,
    bound_contextvars,
    context_var,
)

__all__ = [
    "bind_contextvars",
    "bound_contextvars",
    "clear_contextvars",
    "get_contextvars",
    "unbind_contextvars",
]


def get_contextvars() -> dict[str, Any]:
    """A copy of the fields bound in the current context."""
    fields = context_var.get(None)
    return fields.as_dict() if fields is not None else {}


def unbind_contextvars(*keys: str) -> None:
    """Remove the named fields from the current context; missing names are ignored."""
    merged = get_contextvars()
    for key in keys:
        merged.pop(key, None)
    context_var.set(ContextFields(merged) if merged else None)


def clear_contextvars() -> None:
    """Remove every field from the current context."""
    context_var.set(None)
