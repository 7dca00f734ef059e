"""Logs through the example sink plugin (install it first: pip install ./examples/plugin_sink)."""

from __future__ import annotations

import asyncio
import sys

from ferrolog import Container, Logger


async def main(path: str) -> None:
    settings = {
        "plugins": {"allow": ["example-file"]},
        "sinks": [{"type": "plugin", "name": "example-file", "config": {"path": path}}],
    }
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        log.info("written by a plugin sink", user_id=7)
        await log.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "app.log"))
