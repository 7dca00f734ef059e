"""Standard `logging` and ferrolog together: library records into ferrolog, and ferrolog
behind a stdlib-shaped logger for code written against `logging`.

    python examples/stdlib_capture.py
"""

from __future__ import annotations

import asyncio
import logging

from ferrolog import Container, Logger
from ferrolog.stdlib import StdlibLoggerAdapter, as_stdlib, capture_stdlib


def legacy_job(log: logging.Logger | StdlibLoggerAdapter) -> None:
    """Code written for stdlib loggers: %-style arguments, extra=, exc_info=."""
    log.info("job %s started", "nightly", extra={"batch": 42})


async def main() -> None:
    # logger_levels applies to stdlib logger names too: quiet a chatty library.
    async with Container.create({"logger_levels": {"chatty": "warning"}}) as container:
        await capture_stdlib(container, level="INFO")  # removed again when the container closes

        # A library logging the stdlib way: its records become ferrolog events, named after
        # the stdlib logger, with their extra= fields and exceptions.
        db = logging.getLogger("sqlalchemy.engine")
        db.info("SELECT * FROM items WHERE id = %s", 3, extra={"rows": 1})
        logging.getLogger("chatty").info("dropped: below the level set for 'chatty'")
        try:
            raise ConnectionError("database went away")
        except ConnectionError:
            db.exception("query failed")

        # ferrolog handed to code that expects a stdlib logger.
        legacy_job(as_stdlib(await container.get(Logger)))


if __name__ == "__main__":
    asyncio.run(main())
