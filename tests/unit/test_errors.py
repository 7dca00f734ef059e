"""The FerrologError hierarchy: categories, severity, to_dict, and context captured at raise."""

from __future__ import annotations

import asyncio
import pickle
import threading

import pytest

import ferrolog
from ferrolog import Container
from ferrolog.config import SettingsError, UnsupportedSettingError
from ferrolog.errors import (
    BackpressureError,
    ComplianceError,
    ConfigurationError,
    ContainerClosedError,
    ContainerCloseError,
    ContainerError,
    DependencyCycleError,
    ErrorCategory,
    FerrologError,
    NetworkError,
    OperationTimeoutError,
    PluginError,
    RegistrationError,
    ResolutionError,
    SecurityError,
    SerializationError,
    Severity,
    SinkError,
    current_error_context,
    error_context,
)

NULL = {"sinks": [{"type": "null"}]}


class Db:
    pass


@pytest.mark.parametrize(
    ("cls", "category"),
    [
        (ConfigurationError, ErrorCategory.CONFIGURATION),
        (ContainerError, ErrorCategory.CONTAINER),
        (PluginError, ErrorCategory.PLUGIN),
        (SinkError, ErrorCategory.SINK_IO),
        (SerializationError, ErrorCategory.SERIALIZATION),
        (BackpressureError, ErrorCategory.BACKPRESSURE),
        (NetworkError, ErrorCategory.NETWORK),
        (OperationTimeoutError, ErrorCategory.TIMEOUT),
        (SecurityError, ErrorCategory.SECURITY),
        (ComplianceError, ErrorCategory.COMPLIANCE),
    ],
)
def test_each_category_has_a_catchable_subclass(
    cls: type[FerrologError], category: ErrorCategory
) -> None:
    """Every category of the issue has its own FerrologError subclass carrying that category."""
    with pytest.raises(cls) as caught:
        raise cls("boom")
    assert isinstance(caught.value, FerrologError)
    assert caught.value.category is category
    assert caught.value.to_dict()["category"] == category.value


def test_stdlib_bases_that_are_contract_are_kept() -> None:
    """Settings and container errors stay catchable as the stdlib types they always were."""
    assert issubclass(SettingsError, ValueError)
    assert issubclass(UnsupportedSettingError, SettingsError)
    assert issubclass(ResolutionError, LookupError)
    assert issubclass(RegistrationError, ValueError)
    assert issubclass(ContainerClosedError, RuntimeError)
    assert issubclass(OperationTimeoutError, TimeoutError)
    assert SettingsError("x").category is ErrorCategory.CONFIGURATION


def test_to_dict_describes_the_error_for_json() -> None:
    """to_dict() gives type, message, category, severity, retryable and the context."""
    error = NetworkError("endpoint refused; check the url", endpoint="collector:4317")
    assert error.to_dict() == {
        "type": "ferrolog.errors.NetworkError",
        "message": "endpoint refused; check the url",
        "category": "network",
        "severity": "error",
        "retryable": True,
        "context": {"endpoint": "collector:4317"},
    }
    assert str(error) == "endpoint refused; check the url"


def test_severity_maps_to_stdlib_levels() -> None:
    """Severity.level is the matching logging level number."""
    assert [s.level for s in Severity] == [30, 40, 50]
    assert ComplianceError("x").severity is Severity.CRITICAL


def test_a_category_must_be_an_error_category() -> None:
    """Declaring a subclass with a category that is not an ErrorCategory fails at once."""
    with pytest.raises(TypeError, match=r"category must be an ErrorCategory"):

        class Bad(FerrologError):
            category = "network"  # type: ignore[assignment]


def test_errors_pickle_with_their_context_and_attributes() -> None:
    """Errors survive pickling (process pools) with their context and own attributes."""
    with error_context(component="db"):
        cycle = DependencyCycleError((Db, int, Db))
    restored = pickle.loads(pickle.dumps(cycle))
    assert type(restored) is DependencyCycleError
    assert restored.cycle == (Db, int, Db)
    assert restored.context["component"] == "db"
    assert str(restored) == str(cycle)
    settings = pickle.loads(pickle.dumps(SettingsError("bad", path="a.toml", errors=(("x", "y"),))))
    assert (settings.path, settings.errors) == ("a.toml", (("x", "y"),))


def test_request_context_is_captured_at_raise() -> None:
    """Fields bound with bound_contextvars are in the context of an error raised there."""
    with ferrolog.bound_contextvars(request_id="r-1", user_id=7):
        error = PluginError("plugin failed", plugin="acme")
    assert error.context == {"request": {"request_id": "r-1", "user_id": 7}, "plugin": "acme"}
    assert "request" not in PluginError("outside").context


def test_explicit_context_overrides_the_captured_scope() -> None:
    """Keyword context given to the error wins over error_context fields of the same name."""
    with error_context(component="outer", plugin="p"), error_context(component="inner"):
        assert current_error_context() == {"component": "inner", "plugin": "p"}
        error = SinkError("disk full", plugin="explicit")
    assert error.context == {"component": "inner", "plugin": "explicit"}
    assert current_error_context() == {}


async def test_context_survives_await_tasks_and_threads() -> None:
    """Scope and request context follow the code across await, into tasks and to_thread."""

    def in_thread() -> FerrologError:
        assert threading.current_thread() is not threading.main_thread()
        return SinkError("from a thread")

    async def in_task() -> FerrologError:
        await asyncio.sleep(0)
        return NetworkError("from a task")

    with error_context(component="db"), ferrolog.bound_contextvars(request_id="r-9"):
        await asyncio.sleep(0)
        errors = [
            NetworkError("after await"),
            await asyncio.create_task(in_task()),
            await asyncio.to_thread(in_thread),
        ]
    for error in errors:
        assert error.context == {"component": "db", "request": {"request_id": "r-9"}}


async def test_concurrent_requests_capture_their_own_context() -> None:
    """Two tasks with different request ids never see each other's context."""

    async def handle(request_id: str) -> FerrologError:
        with ferrolog.bound_contextvars(request_id=request_id):
            await asyncio.sleep(0)
            return NetworkError("x")

    first, second = await asyncio.gather(handle("a"), handle("b"))
    assert first.context["request"] == {"request_id": "a"}
    assert second.context["request"] == {"request_id": "b"}


async def test_errors_raised_in_a_factory_name_the_container_and_component() -> None:
    """A FerrologError raised while a component is created carries the container id and key."""

    async def failing(container: Container) -> Db:
        raise NetworkError("db unreachable; check DB_URL")

    async with Container.create(NULL) as container:
        container.register(Db, failing)
        with ferrolog.bound_contextvars(request_id="r-2"), pytest.raises(NetworkError) as caught:
            await container.get(Db)
    assert caught.value.context == {
        "container": container.id,
        "component": "Db",
        "request": {"request_id": "r-2"},
    }


async def test_container_errors_carry_the_container_id() -> None:
    """Resolution and close errors say which container (and component) raised them."""
    container = await Container.create(NULL)
    with pytest.raises(ResolutionError) as missing:
        await container.get(Db)
    assert missing.value.context == {"container": container.id, "component": "Db"}

    def bad_close(db: Db) -> None:
        raise SinkError("flush failed")

    async def make(c: Container) -> Db:
        return Db()

    container.register(Db, make, close=bad_close)
    await container.get(Db)
    with pytest.raises(ContainerCloseError) as closing:
        await container.aclose()
    assert closing.value.context["container"] == container.id
    (failure,) = closing.value.errors
    assert isinstance(failure, SinkError)
    assert failure.context == {"container": container.id, "component": "Db"}
    other = await Container.create(NULL)
    assert other.id != container.id
    await other.aclose()
