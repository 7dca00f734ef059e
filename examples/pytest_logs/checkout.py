"""A module that logs through a logger made once, at import: the cached case that the
`logs` fixture still captures."""

from __future__ import annotations

from ferrolog import Container, Logger

_container = Container.create_sync({"sinks": [{"type": "null"}]})
log = _container.get_sync(Logger)


def charge(order: int, amount: float) -> None:
    if amount <= 0:
        log.warning("refused", order=order, amount=amount)
        return
    log.info("charged", order=order, amount=amount)
