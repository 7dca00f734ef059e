"""Log through ferrolog's zero-config default, then say what happened.

Run with `make demo`. The events go to stdout as JSON lines (on a terminal, rendered by the
console sink); the summary goes to stderr.
"""

from __future__ import annotations

import asyncio
import sys

import ferrolog
from ferrolog import Container, Logger, bound_contextvars


async def main() -> None:
    async with Container.create() as container:  # zero config: JSON lines (tty: console), INFO
        log = await container.get(Logger)
        log.info("request handled", user_id=7, path="/api/items", latency_ms=12.5)
        log.debug("not shown: below the default INFO level")
        req = log.bind(request_id="r-1")  # bound fields are encoded once, here
        with bound_contextvars(tenant="acme"):  # request context for every event in the block
            await req.ainfo("waits for ring space instead of dropping", attempt=1)
        try:
            {}["missing"]
        except KeyError:
            log.exception("lookup failed", key="missing")
        await log.flush()
        stats = log.stats()
    print(
        f"\nferrolog {ferrolog.__version__}: emitted {stats['emitted']} events, "
        f"wrote {stats['written']} ({stats['bytes']} bytes), dropped {stats['dropped']}, "
        f"errors {stats['errors']}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    asyncio.run(main())
