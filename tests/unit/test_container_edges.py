"""Container edges: unlimited close, cancelled close, concurrent starts, races, leaks,
and settings problems surfacing at create."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from ferrolog import (
    Container,
    ContainerClosedError,
    ContainerCloseError,
    Logger,
    Pipeline,
    SettingsError,
    build_pipeline,
)
from ferrolog.container import DEFAULT_CLOSE_TIMEOUT

NULL = {"sinks": [{"type": "null"}]}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep FERROLOG_* variables of the outer environment out of these tests."""
    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)


class Closing:
    """A component whose aclose() records itself, optionally waiting on a gate first."""

    def __init__(self, name: str, log: list[str], gate: asyncio.Event | None = None) -> None:
        self.name = name
        self.log = log
        self.gate = gate
        self.started = asyncio.Event()

    async def aclose(self) -> None:
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        self.log.append(self.name)


class First(Closing):
    """Created first, closed last."""


class Second(Closing):
    """Created second; its close blocks on a gate."""


class Third(Closing):
    """Created last, closed first."""


async def test_aclose_cancelled_midway_still_closes_every_component() -> None:
    """Cancelling aclose() while one component closes neither interrupts nor skips the rest,
    and a later aclose() waits until all are closed instead of returning early."""
    log: list[str] = []
    gate = asyncio.Event()
    second = Second("second", log, gate)
    container = await Container.create(NULL)

    async def make_first(_: Container) -> First:
        return First("first", log)

    async def make_second(_: Container) -> Second:
        return second

    async def make_third(_: Container) -> Third:
        return Third("third", log)

    container.register(First, make_first)
    container.register(Second, make_second)
    container.register(Third, make_third)
    for key in (First, Second, Third):
        await container.get(key)
    closing = asyncio.create_task(container.aclose())
    await second.started.wait()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert log == ["third"]
    later = asyncio.create_task(container.aclose())
    gate.set()
    await later
    assert log == ["third", "second", "first"]


class Failing(Closing):
    """A component whose close fails."""

    async def aclose(self) -> None:
        raise OSError("disk gone")


async def test_close_failures_reach_the_next_caller_when_the_first_was_cancelled() -> None:
    """If the aclose() that started closing is cancelled, the failures it would have raised
    go to the next aclose() instead of being lost; later calls return quietly."""
    log: list[str] = []
    gate = asyncio.Event()
    blocker = Second("second", log, gate)
    container = await Container.create(NULL)

    async def make_failing(_: Container) -> Failing:
        return Failing("failing", log)

    async def make_blocker(_: Container) -> Second:
        return blocker

    container.register(Failing, make_failing)
    container.register(Second, make_blocker)
    await container.get(Failing)
    await container.get(Second)
    closing = asyncio.create_task(container.aclose())
    await blocker.started.wait()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    gate.set()
    with pytest.raises(ContainerCloseError, match="Failing: OSError: disk gone"):
        await container.aclose()
    await container.aclose()
    assert log == ["second"]


class _BlockingSink:
    """A Python sink that holds its first batch until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.data = bytearray()

    def write_batch(self, batch: memoryview) -> None:
        self.entered.set()
        assert self.release.wait(60)
        self.data += batch


@pytest.mark.slow
async def test_aclose_without_timeout_waits_past_the_default_deadline() -> None:
    """aclose(timeout=None) has no deadline: a drain slower than the 5 s default finishes
    and everything logged is written, instead of failing "within None s"."""
    sink = _BlockingSink()
    container = await Container.create(NULL)

    async def pipeline(c: Container) -> Pipeline:
        return build_pipeline(c.settings, sinks=[sink])

    container.register(Pipeline, pipeline)
    log = await container.get(Logger)
    log.info("held by the sink")
    assert await asyncio.to_thread(sink.entered.wait, 30)
    closing = asyncio.create_task(container.aclose(timeout=None))
    # Past the old implicit limit the close must still be waiting, not failed.
    done, _ = await asyncio.wait({closing}, timeout=DEFAULT_CLOSE_TIMEOUT + 1.5)
    assert not done
    sink.release.set()
    await closing
    assert b"held by the sink" in sink.data


async def test_concurrent_awaits_of_one_pending_create_share_one_container(
    tmp_path: Path,
) -> None:
    """Awaiting one Container.create(...) from several tasks at once yields one container."""
    path = tmp_path / "ferrolog.toml"
    path.write_text('[[sinks]]\ntype = "null"\n')
    pending = Container.create(path)

    async def start() -> Container:
        return await pending

    # Separate tasks: gather() would fold three identical awaitables into one.
    containers = await asyncio.gather(start(), start(), start())
    try:
        assert containers[0] is containers[1] is containers[2]
        assert await pending is containers[0]
    finally:
        await containers[0].aclose()


class Stuck:
    """A component whose factory never finishes."""


def test_get_sync_racing_close_raises_closed_instead_of_hanging() -> None:
    """A get_sync waiting on a factory when close() runs raises ContainerClosedError."""
    started = threading.Event()
    sync = Container.create_sync(NULL)

    async def never(_: Container) -> Stuck:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    sync.register(Stuck, never)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            sync.get_sync(Stuck)
        except BaseException as exc:
            errors.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    assert started.wait(30)
    sync.close()
    caller.join(30)
    assert not caller.is_alive(), "get_sync hung after close()"
    assert len(errors) == 1
    assert isinstance(errors[0], ContainerClosedError)
    with pytest.raises(ContainerClosedError):
        sync.get_sync(Logger)


def test_get_sync_calls_during_close_either_succeed_or_raise_closed() -> None:
    """A thread calling get_sync in a loop while close() runs ends with ContainerClosedError."""
    sync = Container.create_sync(NULL)
    first = threading.Event()
    outcome: list[BaseException] = []

    def hammer() -> None:
        while True:
            try:
                sync.get_sync(Logger)
            except BaseException as exc:
                outcome.append(exc)
                return
            first.set()

    caller = threading.Thread(target=hammer, daemon=True)
    caller.start()
    assert first.wait(30)
    sync.close()
    caller.join(30)
    assert not caller.is_alive()
    assert isinstance(outcome[0], ContainerClosedError)


class Wanted:
    """The key a factory promises."""


class Wrong:
    """What a faulty factory returns instead; records its closing."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


async def test_a_result_failing_its_type_check_is_closed() -> None:
    """A factory result of the wrong type is closed (not leaked) and get raises TypeError."""
    wrong = Wrong()

    async def factory(_: Container) -> Wanted:
        return wrong  # type: ignore[return-value]

    async with Container.create(NULL) as container:
        container.register(Wanted, factory)
        with pytest.raises(TypeError, match="returned a Wrong, not a Wanted; it was closed"):
            await container.get(Wanted)
        assert wrong.closed
        container.register(Wanted, factory, scope="transient")
        wrong.closed = False
        with pytest.raises(TypeError):
            await container.get(Wanted)
        assert wrong.closed


async def test_plugin_policy_settings_are_honoured(tmp_path: Path) -> None:
    """plugins.allow and plugins.index are accepted; allowing a plugin imports nothing; an
    index file that does not exist fails create, by name."""
    index = tmp_path / "plugins.json"
    index.write_text("{}")
    container = await Container.create(
        {**NULL, "plugins": {"allow": ["hostname"], "index": str(index)}}
    )
    async with container:
        assert container.settings.plugins.allow == ("hostname",)
    missing = str(tmp_path / "missing.json")
    with pytest.raises(SettingsError, match=r"plugins\.index: .*does not exist"):
        await Container.create({**NULL, "plugins": {"index": missing}})


async def test_a_plugin_index_url_of_another_scheme_fails_create() -> None:
    """plugins.index must be a file or an http(s) URL: another scheme fails create, by name."""
    with pytest.raises(SettingsError, match=r"plugins\.index: .*only http and https"):
        await Container.create({**NULL, "plugins": {"index": "ftp://example.invalid/i.json"}})


async def test_a_missing_log_directory_fails_create(tmp_path: Path) -> None:
    """A file sink in a directory that does not exist fails Container.create, naming it."""
    path = tmp_path / "missing" / "app.log"
    pending = Container.create({"sinks": [{"type": "file", "path": str(path)}]})
    with pytest.raises(SettingsError, match=r"sinks\.0\.path: directory .*missing does not exist"):
        await pending
    assert not path.parent.exists()


async def test_a_directory_as_log_file_fails_create(tmp_path: Path) -> None:
    """A file sink whose path is a directory fails Container.create."""
    with pytest.raises(SettingsError, match=r"sinks\.1\.path: .* is a directory"):
        await Container.create(
            {"sinks": [{"type": "null"}, {"type": "file", "path": str(tmp_path)}]}
        )


async def test_a_symlinked_log_file_fails_create(tmp_path: Path) -> None:
    """A file sink path that is a symbolic link fails Container.create (never followed)."""
    target = tmp_path / "real.log"
    target.write_text("")
    link = tmp_path / "app.log"
    link.symlink_to(target)
    with pytest.raises(SettingsError, match=r"sinks\.0\.path: .* is a symbolic link"):
        await Container.create({"sinks": [{"type": "file", "path": str(link)}]})


async def test_a_world_writable_log_directory_fails_create(tmp_path: Path) -> None:
    """A directory everyone may write to, without the sticky bit, fails Container.create."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(SettingsError, match=r"sinks\.0\.path: .*writable by everyone.*sticky"):
        await Container.create({"sinks": [{"type": "file", "path": str(shared / "app.log")}]})
    shared.chmod(0o1777)  # like /tmp: accepted
    async with Container.create(
        {"sinks": [{"type": "file", "path": str(shared / "app.log")}]}
    ) as container:
        assert container is not None


def test_the_native_sink_refuses_a_world_writable_directory(tmp_path: Path) -> None:
    """The writer refuses it too (the directory may change after the settings were checked)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(OSError, match=r"writable by everyone.*sticky bit"):
        Pipeline(sinks=[{"type": "file", "path": str(shared / "app.log")}])


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
async def test_an_unwritable_log_file_fails_create(tmp_path: Path) -> None:
    """An existing log file without write permission fails Container.create."""
    path = tmp_path / "app.log"
    path.write_text("")
    path.chmod(0o444)
    with pytest.raises(SettingsError, match=r"sinks\.0\.path: cannot open .* for appending"):
        await Container.create({"sinks": [{"type": "file", "path": str(path)}]})


async def test_a_log_path_under_a_file_fails_create(tmp_path: Path) -> None:
    """A file sink whose directory is a regular file fails Container.create (even as root)."""
    parent = tmp_path / "not-a-dir"
    parent.write_text("")
    with pytest.raises(SettingsError, match=r"sinks\.0\.path: .*[Nn]ot a directory"):
        await Container.create({"sinks": [{"type": "file", "path": str(parent / "app.log")}]})


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"sinks": []}, "sinks"),
        ({**NULL, "ring": {"capacity_bytes": 1 << 31}}, "ring.capacity_bytes"),
        ({**NULL, "ring": {"capacity_bytes": 8192, "max_event_bytes": 8000}}, "max_event_bytes"),
    ],
)
async def test_bad_sinks_and_sizes_fail_create(settings: dict[str, object], path: str) -> None:
    """An empty sink list and out-of-range ring sizes fail Container.create, not the first get."""
    with pytest.raises(SettingsError, match=path):
        await Container.create(settings)


async def test_a_writable_file_sink_creates_nothing_before_the_pipeline(tmp_path: Path) -> None:
    """Checking a file sink at create creates no file; the first log line does."""
    path = tmp_path / "app.log"
    async with Container.create({"sinks": [{"type": "file", "path": str(path)}]}) as container:
        assert not path.exists()
        log = await container.get(Logger)
        log.info("hello")
        assert await log.flush(10.0)
    assert b"hello" in path.read_bytes()
