"""A FastAPI service logging through ferrolog: request context, access events, and
uvicorn's own log records, all as JSON lines from one container.

    pip install 'ferrolog[fastapi]' uvicorn
    python examples/fastapi_app.py            # serves on 127.0.0.1:$PORT (default 8000)
    curl -H 'X-Request-ID: r-1' localhost:8000/items/3

Settings come from the environment (``FERROLOG_LEVEL``, ``FERROLOG_SINKS``, ...).
"""

from __future__ import annotations

import asyncio
import os

from fastapi import BackgroundTasks, Depends, FastAPI

from ferrolog import Logger
from ferrolog.fastapi import RequestContextMiddleware, RequestLogger, lifespan

# The container starts with the app and is drained when it stops; stdlib_level routes
# uvicorn's (and every library's) standard `logging` records into it.
app = FastAPI(lifespan=lifespan(stdlib_level="INFO"))
app.add_middleware(RequestContextMiddleware, skip_paths=("/health",))


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/items/{item_id}")
async def read_item(
    item_id: int, background: BackgroundTasks, log: Logger = Depends(RequestLogger)
) -> dict[str, int]:
    log.info("item read", item_id=item_id)  # carries request_id, method, path, client
    background.add_task(audit, log, item_id)  # runs after the response, same context
    await asyncio.sleep(0)
    return {"id": item_id}


async def audit(log: Logger, item_id: int) -> None:
    log.info("item audited", item_id=item_id)


@app.get("/report")
def report(log: Logger = Depends(RequestLogger)) -> dict[str, str]:
    # A sync endpoint runs in a worker thread with a copy of the request's context.
    log.info("report built")
    return {"report": "ready"}


if __name__ == "__main__":
    import uvicorn

    # log_config=None: uvicorn installs no handlers of its own, so its records reach the
    # root logger, where the lifespan's capture sends them to ferrolog. access_log=False:
    # the middleware already logs one structured access event per request.
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        log_config=None,
        access_log=False,
    )
