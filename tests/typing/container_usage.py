"""Real usage of the container API that `mypy --strict` must accept (never run by pytest)."""

from __future__ import annotations

from collections.abc import Mapping

from typing_extensions import assert_type

from ferrolog import Container, Logger, Pipeline, Settings, SyncContainer, build_pipeline
from ferrolog.cli import main as cli_main
from ferrolog.config import SinkSettings
from ferrolog.typing import Factory, PythonSink


class Database:
    """A user component."""

    async def aclose(self) -> None:
        """Release the connection pool."""


class MemorySink:
    """A Python sink collecting batches."""

    def __init__(self) -> None:
        self.batches: list[bytes] = []

    def write_batch(self, batch: memoryview, /) -> None:
        self.batches.append(bytes(batch))


async def make_database(container: Container) -> Database:
    settings = await container.get(Settings)
    assert_type(settings.level, int)
    return Database()


async def make_pipeline(container: Container) -> Pipeline:
    sink: PythonSink = MemorySink()
    return build_pipeline(await container.get(Settings), sinks=[sink])


async def main() -> None:
    factory: Factory[Database] = make_database
    async with Container.create({"level": "debug"}) as container:
        container.register(Database, factory)
        container.register(Pipeline, make_pipeline)
        assert_type(await container.get(Database), Database)
        log = await container.get(Logger)
        assert_type(log, Logger)
        log.info("request handled", user_id=7)
    other = await Container.create(Settings(level=10))
    assert_type(other, Container)
    other.register(Database, make_database, scope="transient", close=lambda db: db.aclose())
    await other.aclose(timeout=2.0)
    await other.aclose(timeout=None)


def frozen_settings(settings: Settings) -> None:
    # Validated settings are immutable all the way down.
    assert_type(settings.sinks, tuple[SinkSettings, ...])
    assert_type(settings.levels, Mapping[str, int])
    assert_type(settings.plugins.allow, tuple[str, ...])


def command_line() -> int:
    return cli_main(["--version"])


def script() -> None:
    with Container.create_sync() as container:
        assert_type(container, SyncContainer)
        assert_type(container.get_sync(Logger), Logger)
        assert_type(container.get_sync(Settings), Settings)
        assert_type(container.container.settings, Settings)
