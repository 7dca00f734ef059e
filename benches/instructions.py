"""Instructions per log call, counted by valgrind's callgrind: repeatable on a noisy machine.

    python benches/instructions.py [--cases plain,bound,...] .venv/bin/python [/baseline/python ...]

For each interpreter (a venv whose ferrolog is the build to measure) and each call shape, the
program runs twice under callgrind, with N1 and N2 calls against a null sink; the difference
of the two totals divided by N2 - N1 is the cost of one call, start-up and shutdown cancelled
out. All threads are counted, so the writer thread's share of each event is included.

Shapes: ``plain`` (3 fields), ``bound`` (3 bound + 3 call fields), ``ctx`` (2 context + 3 call
fields), all under the default redaction (the field-name deny-list); ``patterns`` is ``plain``
with every built-in value pattern on (each string scanned), ``denied`` is ``plain`` with one
of the three fields a denied name (``token``). A build without redaction prints ``n/a`` for
the last two.

Request events (issue 21), asked for with --cases: ``reqadd`` adds one field to the open
request scope's event (``add_to_request_event(user_id=i)``); ``buffered`` is ``plain`` at
DEBUG under an INFO logger inside a scope whose fingers-crossed buffer holds it (discarded
when the scope ends, which is counted in); ``filtered`` is the same DEBUG call with no scope
open (dropped by level: the fast path); ``reqscope`` is a whole scope per call (open, finish,
its canonical event written). ``svc_wide`` and ``svc_five`` are one whole FastAPI request
driven through ASGI in-process behind ``RequestContextMiddleware`` (null sink): the endpoint
adds five fields to the canonical event, against the endpoint logging four events plus the
classic access event (five events). A build without request scopes prints ``n/a``.

``bindcm`` is one ``with bound_contextvars(request_id=i): pass`` (what binding a request's
context costs, nothing logged).

Also by name: ``enricher`` (one Python enricher), ``policy`` (a rate-limit rule that
lets everything through), ``once`` (``info_once`` from one call site: all but the first call
left out) and ``repeat`` (the repeated-events filter on, every call identical).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile

N1, N2 = 2_000, 12_000
#: The default cases run on any build (a case a build lacks prints n/a); the others are
#: asked for with --cases.
CASES = ("plain", "bound", "ctx", "patterns", "denied")
EXTRA_CASES = (
    "enricher",
    "policy",
    "reqadd",
    "buffered",
    "filtered",
    "reqscope",
    "svc_wide",
    "svc_five",
    "once",
    "repeat",
    "bindcm",
)
#: Whole requests are slow under callgrind: these cases make fewer.
FEWER = {"svc_wide": (200, 1_200), "svc_five": (200, 1_200)}

_CHILD = r"""
import sys
import ferrolog
from ferrolog import _native

n, case = int(sys.argv[1]), sys.argv[2]
options = {}
if case == "enricher":
    # One Python enricher on the caller's thread (a ProcessorChain).
    from ferrolog._processors import ProcessorChain

    class Host:
        def enrich(self, event):
            return {"host": "web-1"}

    options["processors"] = ProcessorChain(enrichers=[Host()])
if case == "policy":
    # A logger that a rate-limit rule selects (generous: every call passes).
    options["rules"] = [{"kind": "limit", "per_second": 1e9, "burst": 1e9}]
if case in ("reqadd", "buffered", "reqscope"):
    options["request_events"] = {"buffer": True, "max_events": 10**6, "max_bytes": 1 << 30}
if case == "repeat":
    # The repeated-events filter on; every call identical (all but the first left out).
    options["dedupe_window"] = 3600.0
if case == "patterns":
    options["redaction"] = {"builtin": list(_native.REDACTION_PATTERNS)}
if case == "denied" and not hasattr(_native, "REDACTION_PATTERNS"):
    raise SystemExit("no redaction in this build")
p = _native.Pipeline(
    sinks=[{"type": "null"}], capacity_bytes=16 << 20, overflow="block", **options
)
log = p.logger("bench", "info")
info = log.info
if case == "bound":
    info = log.bind(service="api", region="eu-west-1", build=4211).info
if case == "ctx":
    ferrolog.bind_contextvars(request_id="r-8f14e45f", tenant="acme")
if case == "once":
    # One call site: every call after the first is left out.
    info = log.info_once
if case.startswith("svc_"):
    import asyncio

    from fastapi import FastAPI

    from ferrolog.fastapi import RequestContextMiddleware

    wide = case == "svc_wide"
    p.close()
    p = _native.Pipeline(
        sinks=[{"type": "null"}],
        capacity_bytes=16 << 20,
        overflow="block",
        request_events={"enabled": wide},
    )
    root = p.logger("app", "info")
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware, logger=root.child("access"))
    add = ferrolog.add_to_request_event if wide else None

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict:
        if add is not None:
            add(item_id=item_id, cache="hit")
            add(user_id=7, plan="pro")
            add(db_ms=1.5)
        else:
            root.info("item lookup", item_id=item_id)
            root.info("cache", cache="hit")
            root.info("user", user_id=7, plan="pro")
            root.info("db", db_ms=1.5)
        return {"id": item_id}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        return None

    async def requests():
        for i in range(n):
            path = f"/items/{i}"
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                "query_string": b"", "root_path": "", "headers": [(b"host", b"bench")],
                "client": ("127.0.0.1", 1234), "server": ("bench", 80),
            }
            await app(scope, receive, send)

    asyncio.run(requests())
elif case == "bindcm":
    bound = ferrolog.bound_contextvars
    for i in range(n):
        with bound(request_id=i):
            pass
elif case == "filtered":
    debug = log.debug
    for i in range(n):
        debug("request handled", user_id=i, path="/api/items", latency_ms=12.5)
elif case in ("reqadd", "buffered"):
    debug = log.debug
    add = ferrolog.add_to_request_event
    scope = ferrolog.request_scope(log)
    scope.__enter__()
    if case == "reqadd":
        for i in range(n):
            add(user_id=i)
    else:
        for i in range(n):
            debug("request handled", user_id=i, path="/api/items", latency_ms=12.5)
    scope.__exit__(None, None, None)
elif case == "reqscope":
    request_scope = ferrolog.request_scope
    for i in range(n):
        with request_scope(log, route="/api/items"):
            pass
elif case == "denied":
    for i in range(n):
        info("request handled", user_id=i, path="/api/items", token="t-8f14e45f")
elif case == "repeat":
    for i in range(n):
        info("request handled", user_id=7, path="/api/items", latency_ms=12.5)
else:
    for i in range(n):
        info("request handled", user_id=i, path="/api/items", latency_ms=12.5)
p.close(10.0)
"""


def _total(python: str, n: int, case: str) -> int:
    python = os.path.abspath(python)  # the child runs in a scratch directory
    with tempfile.TemporaryDirectory() as cwd:
        out = os.path.join(cwd, "callgrind.out")
        done = subprocess.run(
            [
                *("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"),
                *(python, "-c", _CHILD, str(n), case),
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total in:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main(args: list[str]) -> int:
    cases = CASES
    if args[:1] == ["--cases"] and len(args) >= 2:
        cases = tuple(args[1].split(","))
        unknown = set(cases) - set(CASES) - set(EXTRA_CASES)
        if unknown:
            print(f"instructions: unknown case(s) {sorted(unknown)}; known: {CASES + EXTRA_CASES}")
            return 2
        args = args[2:]
    pythons = args
    if not pythons:
        print(__doc__)
        return 2
    if shutil.which("valgrind") is None:
        print("instructions: valgrind not found (apt-get install valgrind)")
        return 1
    print(f"{'build':<50} " + " ".join(f"{c:>8}" for c in cases) + "   (instructions per call)")
    for python in pythons:
        cells = []
        for case in cases:
            try:
                n1, n2 = FEWER.get(case, (N1, N2))
                per_call = (_total(python, n2, case) - _total(python, n1, case)) / (n2 - n1)
            except subprocess.CalledProcessError:  # the build lacks what the case needs
                cells.append(f"{'n/a':>8}")
            else:
                cells.append(f"{per_call:>8.0f}")
        print(f"{python:<50} " + " ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
