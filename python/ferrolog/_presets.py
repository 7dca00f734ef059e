"""Fields the vendor presets of the output schema read (see docs/output-presets.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ferrolog._native import Logger

__all__ = ["gcp_http_request"]


def gcp_http_request(
    log: Logger, scope: Mapping[str, Any], status: int, duration_ms: float, response_bytes: int
) -> dict[str, Any]:
    """``{"http_request": {...}}`` for an access event when ``log`` writes the ``gcp`` schema
    (which writes it as Cloud Logging's ``httpRequest``), else ``{}``.

    The names are Cloud Logging's ``HttpRequest``: ``requestMethod``, ``requestUrl`` (the
    path; the query string is left out, it may hold secrets), ``status``, ``responseSize``
    (a decimal string, as int64 values are in JSON), ``latency`` (seconds with an ``s``),
    ``protocol``, and when known ``remoteIp``, ``userAgent`` and ``referer``.
    """
    if log.schema != "gcp":
        return {}
    request: dict[str, Any] = {
        "requestMethod": scope.get("method", ""),
        "requestUrl": scope.get("path", ""),
        "status": status,
        "responseSize": str(response_bytes),
        "latency": f"{max(duration_ms, 0.0) / 1000.0:.6f}s",
        "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
    }
    client = scope.get("client")
    if client:
        request["remoteIp"] = str(client[0])
    for name, value in scope.get("headers") or ():
        if name == b"user-agent":
            request["userAgent"] = value.decode("latin-1")
        elif name == b"referer":
            request["referer"] = value.decode("latin-1")
    return {"http_request": request}
