"""The package keeps no module-level mutable state (DESIGN.md section 6)."""

from __future__ import annotations
import __future__

import contextvars
import dataclasses
import enum
import importlib
import pkgutil
import re
import types
import typing
import weakref

import ferrolog

_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), range, re.Pattern)
_TYPING_OBJECTS = (typing.TypeVar, types.GenericAlias, types.UnionType)
_CODE_OBJECTS = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    staticmethod,
    classmethod,
    property,
)


def _is_immutable(value: object) -> bool:
    if isinstance(value, _IMMUTABLE) or value is Ellipsis:
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_is_immutable(item) for item in value)
    if isinstance(value, types.MappingProxyType):
        return all(_is_immutable(k) and _is_immutable(v) for k, v in value.items())
    if (
        dataclasses.is_dataclass(value)
        and not isinstance(value, type)
        and value.__dataclass_params__.frozen  # type: ignore[attr-defined]
    ):
        # A frozen dataclass (a compliance rule): immutable when its fields are constants.
        return all(_is_allowed(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


def _is_allowed(value: object) -> bool:
    # Enum members are constants, `__future__` features come from `from __future__ import`,
    # and a ContextVar's value lives in each context, not in the module.
    allowed_types = (
        *_CODE_OBJECTS,
        *_TYPING_OBJECTS,
        enum.Enum,
        __future__._Feature,
        contextvars.ContextVar,
    )
    return (
        _is_immutable(value)
        or isinstance(value, allowed_types)
        or type(value).__module__ in {"typing", "typing_extensions"}
        # A pytest fixture (ferrolog.testing's `logs`): a function wrapped by pytest.
        or type(value).__module__.startswith("_pytest.")
    )


def _modules() -> list[types.ModuleType]:
    names = [ferrolog.__name__]
    for info in pkgutil.walk_packages(ferrolog.__path__, prefix="ferrolog."):
        if info.name.rsplit(".", 1)[-1] != "__main__":  # importing it would run the CLI
            names.append(info.name)
    return [importlib.import_module(name) for name in names]


def test_no_module_holds_mutable_state() -> None:
    """Module globals are classes, functions, constants or ContextVars, and at most one WeakSet."""
    offenders: list[str] = []
    weak_sets: list[str] = []
    modules = _modules()
    assert {"ferrolog.config", "ferrolog.container"} <= {m.__name__ for m in modules}
    for module in modules:
        for name, value in vars(module).items():
            if name.startswith("__") and name.endswith("__"):
                continue
            if isinstance(value, weakref.WeakSet):
                weak_sets.append(f"{module.__name__}.{name}")
            elif not _is_allowed(value):
                offenders.append(f"{module.__name__}.{name} ({type(value).__name__})")
    assert offenders == []
    assert len(weak_sets) <= 1, weak_sets


def test_the_checker_flags_mutable_globals() -> None:
    """The check above recognises lists, dicts, sets and plain instances as mutable state."""
    for value in ([], {}, set(), object(), types.SimpleNamespace()):
        assert not _is_allowed(value)
    assert _is_allowed(types.MappingProxyType({"INFO": 20}))
    assert not _is_allowed(types.MappingProxyType({"x": []}))
