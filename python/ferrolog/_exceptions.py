"""Structured exceptions and stacks for log events; called by the native encoder."""

from __future__ import annotations

import sys
import traceback
from types import TracebackType
from typing import Any

#: At most this many frames per exception (the innermost are kept).
MAX_FRAMES = 64
#: At most this many chained or grouped exceptions per event.
MAX_CHAIN = 16
#: The formatted traceback is cut to this many characters (its end is kept).
MAX_TRACEBACK_CHARS = 32 * 1024
#: An exception message is cut to this many characters.
MAX_MESSAGE_CHARS = 4096

ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


def _normalize(exc_info: object) -> BaseException | None:
    """What `exc_info=` names: True (the active exception), an exception, or a 3-tuple."""
    if exc_info is None or exc_info is False:
        return None
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    if exc_info is True or exc_info:
        return sys.exc_info()[1]
    return None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return (
        cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"
    )


def _safe_str(exc: BaseException) -> str:
    try:
        return _cut(str(exc), MAX_MESSAGE_CHARS)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


def _frames(exc: BaseException) -> list[dict[str, Any]]:
    frames = [
        {"file": fs.filename, "line": fs.lineno, "function": fs.name}
        for fs in traceback.extract_tb(exc.__traceback__)
    ]
    return frames[-MAX_FRAMES:]


def _one(exc: BaseException, seen: set[int], budget: list[int]) -> dict[str, Any]:
    seen.add(id(exc))
    budget[0] -= 1
    out: dict[str, Any] = {
        "type": _type_name(exc),
        "message": _safe_str(exc),
        "frames": _frames(exc),
    }
    cause = exc.__cause__
    context = exc.__context__
    if cause is not None and id(cause) not in seen and budget[0] > 0:
        out["cause"] = _one(cause, seen, budget)
    elif (
        context is not None
        and not exc.__suppress_context__
        and id(context) not in seen
        and budget[0] > 0
    ):
        out["context"] = _one(context, seen, budget)
    # BaseExceptionGroup (3.11+), or anything shaped like one, lists its members.
    group = getattr(exc, "exceptions", None)
    if isinstance(group, (list, tuple)) and group:
        members = []
        for sub in group:
            if budget[0] <= 0 or id(sub) in seen:
                break
            members.append(_one(sub, seen, budget))
        out["exceptions"] = members
    return out


def _formatted(exc: BaseException) -> str:
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        text = f"{_type_name(exc)}: {_safe_str(exc)}"
    return text if len(text) <= MAX_TRACEBACK_CHARS else "…" + text[-MAX_TRACEBACK_CHARS:]


def describe(exc_info: object, schema: str = "default") -> dict[str, Any]:
    """The fields that describe `exc_info` in `schema` (empty when there is no exception)."""
    exc = _normalize(exc_info)
    if exc is None:
        return {}
    if schema == "ecs":
        return {
            "error": {
                "type": _type_name(exc),
                "message": _safe_str(exc),
                "stack_trace": _formatted(exc),
            }
        }
    if schema == "otel":
        return {
            "exception.type": _type_name(exc),
            "exception.message": _safe_str(exc),
            "exception.stacktrace": _formatted(exc),
        }
    if schema == "datadog":
        # Datadog's standard attributes error.kind, error.message and error.stack.
        return {
            "error": {
                "kind": _type_name(exc),
                "message": _safe_str(exc),
                "stack": _formatted(exc),
            }
        }
    info = _one(exc, set(), [MAX_CHAIN])
    if schema == "gcp":
        # Error Reporting reads a formatted stack trace from `stack_trace`.
        return {"exception": info, "stack_trace": _formatted(exc)}
    info["traceback"] = _formatted(exc)
    return {"exception": info}


def stack(stacklevel: int = 1) -> str:
    """The caller's stack as text, like stdlib's `stack_info=True`, skipping `stacklevel - 1`
    frames above the log call."""
    frame = sys._getframe(1)
    for _ in range(max(stacklevel, 1) - 1):
        if frame.f_back is None:
            break
        frame = frame.f_back
    return "Stack (most recent call last):\n" + "".join(traceback.format_stack(frame))
