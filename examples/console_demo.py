"""The development console: `python examples/console_demo.py` (colours on a terminal)."""

from __future__ import annotations

import asyncio

from ferrolog import Container, Logger


async def main() -> None:
    settings = {"level": "debug", "sinks": [{"type": "console", "colors": "auto"}]}
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        db = log.child("db")
        db.info("query done", user_id=7, path="/api", latency_ms=12.5)
        db.warning("slow query", ms=912, params={"id": [1, 2]})
        try:
            {}["missing"]
        except KeyError:
            log.child("http").exception("handler failed", path="/api/items x")


if __name__ == "__main__":
    asyncio.run(main())
