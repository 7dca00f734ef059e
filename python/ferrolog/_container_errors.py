"""The errors a `Container` raises (resolution, registration, closing).

Each is a `ferrolog.errors.FerrologError` of category ``container`` and keeps the stdlib base
it always had (``LookupError``, ``ValueError``, ``RuntimeError``), so existing handlers work.
"""

from __future__ import annotations

from ferrolog._hierarchy import ErrorCategory, FerrologError

__all__ = [
    "ContainerCloseError",
    "ContainerClosedError",
    "ContainerError",
    "DependencyCycleError",
    "RegistrationError",
    "ResolutionError",
    "component_name",
]


def component_name(key: object) -> str:
    """How errors name a component key: its qualified name, else its repr."""
    return getattr(key, "__qualname__", None) or repr(key)


class ContainerError(FerrologError):
    """Base class of the container's errors."""

    category = ErrorCategory.CONTAINER


class ResolutionError(ContainerError, LookupError):
    """A component could not be resolved: nothing is registered, or its creation failed."""


class DependencyCycleError(ResolutionError):
    """Factories depend on each other in a cycle; ``.cycle`` lists it, first key repeated."""

    def __init__(self, cycle: tuple[object, ...]) -> None:
        self.cycle = cycle
        path = " -> ".join(component_name(key) for key in cycle)
        super().__init__(
            f"dependency cycle: {path}; break it by making one factory not need the other",
            cycle=[component_name(key) for key in cycle],
        )


class RegistrationError(ContainerError, ValueError):
    """A registration was refused (bad scope, or the singleton was already resolved)."""


class ContainerClosedError(ContainerError, RuntimeError):
    """The container was closed; create a new one."""


class ContainerCloseError(ContainerError):
    """One or more components failed to close; ``.errors`` holds each failure in close order.

    ``.components`` names the component of each error, at the same index.
    """

    def __init__(self, failures: list[tuple[object, BaseException]]) -> None:
        self.components = tuple(component_name(key) for key, _ in failures)
        self.errors = tuple(error for _, error in failures)
        lines = [f"{len(failures)} component(s) failed to close:"]
        lines += [
            f"  {name}: {type(error).__name__}: {error}"
            for name, error in zip(self.components, self.errors, strict=True)
        ]
        super().__init__("\n".join(lines), failed=list(self.components))
