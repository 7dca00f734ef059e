"""Read-only, picklable, hashable containers for validated settings values."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, final

__all__ = ["FrozenMap", "freeze", "thaw"]

_K = TypeVar("_K")
_V = TypeVar("_V")


@final
class FrozenMap(Mapping[_K, _V]):
    """An immutable mapping: no item can be set or removed after construction.

    Unlike ``types.MappingProxyType`` it pickles (settings cross process boundaries) and
    hashes when its values do (so frozen settings can be dictionary keys).
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[_K, _V] | None = None) -> None:
        self._items: dict[_K, _V] = dict(items or {})

    def __getitem__(self, key: _K) -> _V:
        return self._items[key]

    def __iter__(self) -> Iterator[_K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"

    def __reduce__(self) -> tuple[type[FrozenMap[_K, _V]], tuple[dict[_K, _V]]]:
        return (FrozenMap, (self._items,))


def freeze(value: Any) -> Any:
    """A deep read-only copy of JSON-like data: mappings become `FrozenMap`, lists tuples."""
    if isinstance(value, Mapping):
        return FrozenMap({key: freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """The plain (dict/list) form of `freeze`'s output, for serialisation."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, (tuple, frozenset)):
        return [thaw(item) for item in value]
    return value
