"""The FastAPI app of tests/stress/test_stress_server.py, served by gunicorn with uvicorn workers.

Configured by the environment (read at import): STRESS_SERVER_LOG, the file every worker appends
to, and STRESS_SERVER_MODE: `per-worker` (each worker creates its container in the FastAPI
lifespan, `ferrolog.fastapi.lifespan`) or `prefork` (the container is created at import, in
gunicorn's master with `--preload`, before the workers are forked).

`RequestContextMiddleware` binds each request's id; `GET /work` logs `work done` through
`RequestLogger` (so with the request id), and the middleware logs the access event
`request handled`. On shutdown each worker logs `worker done` with how many requests it
handled (a server-side counter), then its container is drained.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from ferrolog import Container, Logger
from ferrolog.fastapi import RequestContextMiddleware, RequestLogger, lifespan

SETTINGS: dict[str, Any] = {
    "level": "info",
    "sinks": [{"type": "file", "path": os.environ["STRESS_SERVER_LOG"]}],
    # Lossless: a request's lines are never dropped, whatever the load.
    "ring": {"overflow": "block", "block_timeout": 30},
}
MODE = os.environ["STRESS_SERVER_MODE"]


class Counter:
    handled = 0


async def _boot() -> tuple[Container, Logger]:
    container = await Container.create(SETTINGS)
    return container, await container.get(Logger)


# In the master (gunicorn --preload imports the app there): the pipeline and its writer thread
# exist before the fork, as in an app that logs while it loads.
PRELOADED = asyncio.run(_boot()) if MODE == "prefork" else None
if PRELOADED is not None:
    PRELOADED[1].info("master loaded", pid=os.getpid())


async def _worker_done(container: Container) -> None:
    log = await container.get(Logger)
    log.info("worker done", handled=Counter.handled, pid=os.getpid())
    assert await log.flush(30.0)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    if PRELOADED is None:
        async with lifespan(SETTINGS)(app):
            yield
            await _worker_done(app.state.ferrolog)
    else:
        app.state.ferrolog = PRELOADED[0]
        yield
        await _worker_done(PRELOADED[0])  # interpreter exit closes the container


app = FastAPI(lifespan=_lifespan)
app.add_middleware(RequestContextMiddleware)


@app.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@app.get("/work")
async def work(log: Logger = Depends(RequestLogger)) -> dict[str, int]:
    Counter.handled += 1
    log.info("work done", n=Counter.handled, pid=os.getpid())
    return {"n": Counter.handled}
