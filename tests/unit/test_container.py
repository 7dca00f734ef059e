"""Container: creation, DI, scopes, cycles, concurrency, lifecycle and errors."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import weakref
from pathlib import Path

import pytest

from ferrolog import (
    Container,
    ContainerClosedError,
    ContainerCloseError,
    DependencyCycleError,
    RegistrationError,
    ResolutionError,
    Settings,
)

NULL = {"sinks": [{"type": "null"}]}


class Db:
    """A test component that records its own closing."""

    def __init__(self, log: list[str], name: str = "db") -> None:
        self.log = log
        self.name = name
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True
        self.log.append(f"close {self.name}")


class Repo:
    """A test component depending on Db."""

    def __init__(self, db: Db) -> None:
        self.db = db


class A:
    """A test component in a cycle."""


class B:
    """A test component in a cycle."""


class C:
    """A test component in a cycle."""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep FERROLOG_* variables of the outer environment out of these tests."""
    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)


async def test_create_is_awaitable_and_an_async_context_manager() -> None:
    """Container.create() can be awaited, or entered with `async with`, which closes on exit."""
    container = await Container.create(NULL)
    assert isinstance(container, Container)
    assert not container.closed
    await container.aclose()
    assert container.closed
    async with Container.create(NULL) as entered:
        assert not entered.closed
    assert entered.closed


async def test_create_accepts_settings_mapping_path_and_none(tmp_path: Path) -> None:
    """Settings, a mapping, a TOML path and None all give a container with those settings."""
    path = tmp_path / "ferrolog.toml"
    path.write_text('level = "error"\n[[sinks]]\ntype = "null"\n')
    sources = [Settings(level=10), {"level": "warning"}, path, str(path), None]
    levels = []
    for source in sources:
        async with Container.create(source) as container:
            levels.append((await container.get(Settings)).level)
    assert levels == [10, 30, 40, 40, 20]
    with pytest.raises(TypeError, match="settings must be"):
        await Container.create(42)  # type: ignore[arg-type]


async def test_singletons_are_shared_and_transients_are_new() -> None:
    """A singleton is built once per container; a transient is built on every get."""
    async with Container.create(NULL) as container:
        log: list[str] = []
        container.register(Db, lambda c: _make_db(log))
        container.register(Repo, _make_repo, scope="transient")
        first, second = await container.get(Repo), await container.get(Repo)
        assert first is not second
        assert first.db is second.db is await container.get(Db)


async def _make_db(log: list[str], name: str = "db") -> Db:
    log.append(f"create {name}")
    return Db(log, name)


async def _make_repo(container: Container) -> Repo:
    return Repo(await container.get(Db))


async def test_builds_in_dependency_order_and_closes_in_reverse() -> None:
    """Factories run dependencies first; aclose closes in reverse creation order."""
    log: list[str] = []

    class Cache(Db):
        pass

    class Service(Db):
        pass

    async def service(c: Container) -> Service:
        await c.get(Db)
        await c.get(Cache)
        log.append("create service")
        return Service(log, "service")

    async def cache(c: Container) -> Cache:
        await c.get(Db)
        log.append("create cache")
        return Cache(log, "cache")

    container = await Container.create(NULL)
    container.register(Db, lambda c: _make_db(log))
    container.register(Cache, cache)
    container.register(Service, service)
    await container.get(Service)
    await container.aclose()
    assert log == [
        "create db",
        "create cache",
        "create service",
        "close service",
        "close cache",
        "close db",
    ]


async def test_missing_registration_names_the_type_and_what_is_registered() -> None:
    """Resolving an unregistered type raises ResolutionError naming it and the registered ones."""
    async with Container.create(NULL) as container:
        container.register(Db, lambda c: _make_db([]))
        with pytest.raises(ResolutionError, match=r"for Repo \(registered: Db, Logger, Pipeline"):
            await container.get(Repo)


async def test_a_dependency_cycle_is_named() -> None:
    """A -> B -> C -> A raises DependencyCycleError naming the cycle instead of hanging."""
    async with Container.create(NULL) as container:
        container.register(A, lambda c: _need(c, B, A()))
        container.register(B, lambda c: _need(c, C, B()))
        container.register(C, lambda c: _need(c, A, C()))
        with pytest.raises(DependencyCycleError, match="A -> B -> C -> A") as info:
            await container.get(A)
        assert info.value.cycle == (A, B, C, A)
        # Nothing half-built stays behind: after fixing the cycle, resolution works.
        container.register(C, lambda c: _value(C()))
        assert isinstance(await container.get(A), A)


async def test_a_cycle_across_concurrent_tasks_is_named_not_deadlocked() -> None:
    """Two tasks each creating one half of a cycle get a DependencyCycleError, not a deadlock."""
    async with Container.create(NULL) as container:
        both_started = asyncio.Barrier(2) if hasattr(asyncio, "Barrier") else None

        async def make(c: Container, dep: type[object], value: object) -> object:
            if both_started is not None:
                await both_started.wait()
            else:
                await asyncio.sleep(0.05)
            await c.get(dep)
            return value

        container.register(A, lambda c: make(c, B, A()))  # type: ignore[arg-type, return-value]
        container.register(B, lambda c: make(c, A, B()))  # type: ignore[arg-type, return-value]
        results = await asyncio.wait_for(
            asyncio.gather(container.get(A), container.get(B), return_exceptions=True), 5
        )
        assert any(isinstance(r, DependencyCycleError) for r in results), results
        assert any("A -> B -> A" in str(r) or "B -> A -> B" in str(r) for r in results)


async def _need(container: Container, dep: type[object], value: object) -> object:
    await container.get(dep)
    return value


async def _value(value: object) -> object:
    return value


async def test_one_singleton_under_1000_concurrent_task_gets() -> None:
    """1,000 concurrent get() calls from tasks create exactly one instance."""
    calls: list[int] = []

    async def slow(c: Container) -> Db:
        calls.append(1)
        await asyncio.sleep(0.01)
        return Db([])

    async with Container.create(NULL) as container:
        container.register(Db, slow)
        results = await asyncio.gather(*(container.get(Db) for _ in range(1000)))
    assert len(calls) == 1
    assert len({id(r) for r in results}) == 1


def test_one_singleton_under_gets_from_8_threads_each_with_its_own_loop() -> None:
    """8 threads, each running its own event loop with 125 concurrent gets, share one instance."""
    calls: list[int] = []

    async def slow(c: Container) -> Db:
        calls.append(1)
        await asyncio.sleep(0.02)
        return Db([])

    container = asyncio.run(_created(NULL))
    container.register(Db, slow)
    start = threading.Barrier(8)
    found: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        async def many() -> list[Db]:
            start.wait()
            return await asyncio.gather(*(container.get(Db) for _ in range(125)))

        ids = {id(db) for db in asyncio.run(many())}
        with lock:
            found.extend(ids)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), "a worker is still resolving after 30 s"
    asyncio.run(container.aclose())
    assert len(calls) == 1
    assert len(set(found)) == 1


async def _created(settings: object) -> Container:
    return await Container.create(settings)  # type: ignore[arg-type]


async def test_overrides_apply_before_first_resolution_only() -> None:
    """register() overrides a singleton until its first get, then raises RegistrationError."""
    async with Container.create(NULL) as container:
        container.register(Db, lambda c: _make_db([], "original"))
        container.register(Db, lambda c: _make_db([], "override"))
        assert (await container.get(Db)).name == "override"
        with pytest.raises(RegistrationError, match="already resolved"):
            container.register(Db, lambda c: _make_db([], "late"))
        with pytest.raises(RegistrationError, match="scope"):
            container.register(Repo, _make_repo, scope="request")  # type: ignore[arg-type]


async def test_failed_creation_is_not_cached_and_waiters_see_it() -> None:
    """A factory error reaches the creator and concurrent waiters; a later get retries."""
    attempts: list[int] = []

    async def flaky(c: Container) -> Db:
        attempts.append(1)
        await asyncio.sleep(0.01)
        if len(attempts) == 1:
            raise OSError("database down")
        return Db([])

    async with Container.create(NULL) as container:
        container.register(Db, flaky)
        first, second = await asyncio.gather(
            container.get(Db), container.get(Db), return_exceptions=True
        )
        assert isinstance(first, OSError)
        assert isinstance(second, ResolutionError)
        assert "database down" in str(second)
        assert isinstance(await container.get(Db), Db)
        assert len(attempts) == 2


async def test_a_cancelled_creator_hands_creation_to_a_waiter() -> None:
    """Cancelling the task creating a singleton does not fail the tasks waiting for it."""
    started = asyncio.Event()

    async def slow(c: Container) -> Db:
        started.set()
        await asyncio.sleep(0.05)
        return Db([])

    async with Container.create(NULL) as container:
        container.register(Db, slow)
        creator = asyncio.create_task(container.get(Db))
        await started.wait()
        waiter = asyncio.create_task(container.get(Db))
        await asyncio.sleep(0)
        creator.cancel()
        assert isinstance(await waiter, Db)
        with pytest.raises(asyncio.CancelledError):
            await creator


async def test_factory_results_are_type_checked() -> None:
    """A factory returning the wrong type, or not an awaitable, raises TypeError naming it."""
    async with Container.create(NULL) as container:
        container.register(Db, lambda c: _value("not a db"))  # type: ignore[arg-type, return-value]
        with pytest.raises(TypeError, match="factory for Db returned a str"):
            await container.get(Db)
        container.register(Repo, lambda c: Repo(Db([])))  # type: ignore[arg-type, return-value]
        with pytest.raises(TypeError, match="not an awaitable"):
            await container.get(Repo)


async def test_aclose_is_idempotent_and_aggregates_close_failures() -> None:
    """One failing close does not stop the others; one error lists each failure once."""
    log: list[str] = []

    class Broken(Db):
        async def aclose(self) -> None:
            log.append(f"close {self.name}")
            raise RuntimeError(f"{self.name} refused")

    class Other(Broken):
        pass

    async def broken(c: Container) -> Broken:
        await c.get(Db)
        return Broken(log, "broken")

    async def other(c: Container) -> Other:
        await c.get(Broken)
        return Other(log, "other")

    container = await Container.create(NULL)
    container.register(Db, lambda c: _make_db(log))
    container.register(Broken, broken)
    container.register(Other, other)
    await container.get(Other)
    with pytest.raises(ContainerCloseError) as info:
        await container.aclose()
    assert log[-3:] == ["close other", "close broken", "close db"]
    assert [name.rsplit(".", 1)[-1] for name in info.value.components] == ["Other", "Broken"]
    assert [str(e) for e in info.value.errors] == ["other refused", "broken refused"]
    assert "other refused" in str(info.value)
    assert "broken refused" in str(info.value)
    await container.aclose()  # idempotent: nothing is closed twice, nothing raised
    assert log.count("close db") == 1


async def test_concurrent_aclose_calls_close_once() -> None:
    """Concurrent aclose() calls all return after one closing of each component."""
    log: list[str] = []
    container = await Container.create(NULL)
    container.register(Db, lambda c: _make_db(log))
    await container.get(Db)
    await asyncio.gather(*(container.aclose() for _ in range(10)))
    assert log == ["create db", "close db"]


async def test_a_closed_container_refuses_use() -> None:
    """get() and register() on a closed container raise ContainerClosedError."""
    container = await Container.create(NULL)
    await container.aclose()
    with pytest.raises(ContainerClosedError, match="closed; create a new one"):
        await container.get(Settings)
    with pytest.raises(ContainerClosedError):
        container.register(Db, lambda c: _make_db([]))


async def test_async_with_closes_on_exception() -> None:
    """Leaving `async with` by an exception closes every component and re-raises it."""
    log: list[str] = []
    holder: list[Container] = []

    async def body() -> None:
        async with Container.create(NULL) as container:
            holder.append(container)
            container.register(Db, lambda c: _make_db(log))
            await container.get(Db)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await body()
    assert log == ["create db", "close db"]
    assert holder[0].closed


async def test_async_with_closes_on_cancellation() -> None:
    """Cancelling a task inside `async with` still closes every component."""
    log: list[str] = []
    inside = asyncio.Event()
    holder: list[Container] = []

    async def body() -> None:
        async with Container.create(NULL) as container:
            holder.append(container)
            container.register(Db, lambda c: _make_db(log))
            await container.get(Db)
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(body())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["create db", "close db"]
    assert holder[0].closed


async def test_closing_while_a_factory_runs_closes_its_result() -> None:
    """A component finished after aclose() is closed at once and its get raises."""
    log: list[str] = []
    release = asyncio.Event()

    async def slow(c: Container) -> Db:
        await release.wait()
        return Db(log)

    container = await Container.create(NULL)
    container.register(Db, slow)
    pending = asyncio.create_task(container.get(Db))
    await asyncio.sleep(0)
    await container.aclose()
    release.set()
    with pytest.raises(ContainerClosedError, match="closed while creating Db"):
        await pending
    assert log == ["close db"]


async def test_compliance_profiles_are_honoured_not_refused() -> None:
    """Compliance profiles are no longer refused as unsupported: a configuration that
    follows the gdpr rules starts, and nothing is left for `unsupported_settings` to refuse."""
    from ferrolog._pipeline import unsupported_settings

    mapping = {"compliance": {"profiles": ["gdpr"]}, "redaction": {"presets": ["pii"]}, **NULL}
    assert unsupported_settings(Settings.from_mapping(mapping)) == []
    async with Container.create(mapping) as container:
        assert container.settings.compliance.profiles == ("gdpr",)


async def test_two_containers_share_nothing() -> None:
    """Each container has its own settings and singletons; closing one leaves the other working."""
    first = await Container.create({"level": "debug", **NULL})
    second = await Container.create({"level": "error", **NULL})
    for container in (first, second):
        container.register(Db, lambda c: _make_db([]))
    assert await first.get(Db) is not await second.get(Db)
    assert (await first.get(Settings)).level == 10
    assert (await second.get(Settings)).level == 40
    await first.aclose()
    assert isinstance(await second.get(Db), Db)
    await second.aclose()


def test_create_sync_runs_the_container_without_an_event_loop() -> None:
    """create_sync() gives get_sync()/close() and a context manager that stops its thread."""
    before = threading.active_count()
    log: list[str] = []
    with Container.create_sync({"level": "warning", **NULL}) as container:
        container.register(Db, lambda c: _make_db(log))
        assert container.get_sync(Settings).level == 30
        db = container.get_sync(Db)
        assert container.get_sync(Db) is db
    assert container.closed
    assert log == ["create db", "close db"]
    assert threading.active_count() == before
    with pytest.raises(ContainerClosedError):
        container.get_sync(Db)
    container.close()  # idempotent


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.needs_proc
async def test_1000_create_close_cycles_leak_nothing() -> None:
    """After 1,000 create/use/close cycles no container, thread or file descriptor is left."""

    async def cycle() -> weakref.ref[Container]:
        async with Container.create(NULL) as container:
            container.register(Db, lambda c: _make_db([]))
            container.register(Repo, _make_repo, scope="transient")
            await container.get(Repo)
            await container.get(Settings)
        return weakref.ref(container)

    await cycle()  # warm-up: lazily created loop resources are not leaks
    gc.collect()
    threads, fds = threading.active_count(), _open_fds()
    refs = [await cycle() for _ in range(1000)]
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0
    assert not [o for o in gc.get_objects() if isinstance(o, Container)]
    assert threading.active_count() == threads
    assert _open_fds() <= fds


@pytest.mark.needs_proc
def test_1000_sync_create_close_cycles_leak_no_thread() -> None:
    """300 create_sync/close cycles leave no helper thread, loop or descriptor behind."""
    gc.collect()
    threads, fds = threading.active_count(), _open_fds()
    for _ in range(300):
        with Container.create_sync(NULL) as container:
            container.get_sync(Settings)
    del container
    gc.collect()
    assert threading.active_count() == threads
    assert _open_fds() <= fds
    assert not [o for o in gc.get_objects() if isinstance(o, Container)]
