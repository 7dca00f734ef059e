"""Every exception class the package defines joins the FerrologError hierarchy (issue 11, 9)."""

from __future__ import annotations

import importlib
import pkgutil
import types

import ferrolog
from ferrolog.errors import ErrorCategory, FerrologError, Severity


def _modules() -> list[types.ModuleType]:
    names = [ferrolog.__name__]
    for info in pkgutil.walk_packages(ferrolog.__path__, prefix="ferrolog."):
        if info.name.rsplit(".", 1)[-1] != "__main__":  # importing it would run the CLI
            names.append(info.name)
    return [importlib.import_module(name) for name in names]


def _package_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module in _modules():
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException):
                found.add(value)
    # Also classes no module exposes by name (nested, or private and unexported).
    pending: list[type[BaseException]] = [BaseException]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        found.add(cls)
    return {cls for cls in found if cls.__module__.split(".")[0] == "ferrolog"}


def test_every_package_exception_is_a_ferrolog_error_with_a_category() -> None:
    """Each exception class defined in ferrolog subclasses FerrologError and has a category."""
    classes = _package_exceptions()
    assert len(classes) >= 20, sorted(cls.__qualname__ for cls in classes)
    offenders = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in classes
        if not issubclass(cls, FerrologError)
        or not isinstance(cls.category, ErrorCategory)
        or not isinstance(cls.severity, Severity)
        or not isinstance(cls.retryable, bool)
    ]
    assert offenders == []


def test_the_walk_finds_the_known_errors() -> None:
    """The walk sees the settings, container, retry, circuit and audit errors (it can fail)."""
    names = {cls.__qualname__ for cls in _package_exceptions()}
    assert {
        "SettingsError",
        "UnsupportedSettingError",
        "ContainerError",
        "ContainerClosedError",
        "ContainerCloseError",
        "ResolutionError",
        "DependencyCycleError",
        "RegistrationError",
        "RetryExhaustedError",
        "CircuitOpenError",
        "AuditError",
        "_CreatorCancelled",
    } <= names
