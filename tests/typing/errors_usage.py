"""Real usage of the errors and audit API that `mypy --strict` must accept (never run)."""

from __future__ import annotations

from typing_extensions import assert_type

from ferrolog import Container
from ferrolog.audit import AuditTrail, VerifyResult, verify
from ferrolog.errors import (
    CircuitBreaker,
    CircuitState,
    ErrorCategory,
    FerrologError,
    NetworkError,
    RetryExhaustedError,
    SafeResult,
    categorize,
    retry,
    safe_execute,
)


@retry(attempts=5, retry_on=NetworkError)
async def fetch(url: str, *, timeout: float = 1.0) -> bytes:
    """A decorated coroutine keeps its signature."""
    return url.encode()


async def usage(container: Container) -> None:
    assert_type(await fetch("http://x", timeout=2.0), bytes)
    assert_type(await retry(fetch, "http://y", attempts=2), bytes)
    breaker = CircuitBreaker(failure_threshold=3, diagnostics=container.diagnostics)
    assert_type(await breaker.call(fetch, "http://z"), bytes)
    async with breaker:
        pass
    assert_type(breaker.state, CircuitState)
    result = await safe_execute(fetch, "http://w", fallback=b"", timeout=1.0)
    assert_type(result, SafeResult[bytes | None])
    try:
        await fetch("u")
    except RetryExhaustedError as exc:
        assert_type(exc.errors, tuple[BaseException, ...])
    except FerrologError as exc:
        assert_type(exc.category, ErrorCategory)
    assert_type(categorize(OSError()).retryable, bool)
    trail = await container.get(AuditTrail)
    assert_type(await trail.record({"event": "export"}), int)
    assert_type(verify("audit.log"), VerifyResult)
