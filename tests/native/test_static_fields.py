"""Static fields (service, env, version, host, pid and extra ones) on every event, encoded
once per logger; an event's own field of the same name wins."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

import ferrolog
from ferrolog import Container, Logger, Pipeline


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_static_fields_from_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "s.log"
    settings = {
        "sinks": [{"type": "file", "path": str(path)}],
        "static_fields": {
            "service": "checkout",
            "env": "prod",
            "version": "1.4.2",
            "host": True,
            "pid": True,
            "extra": {"region": "eu-west-1"},
        },
    }
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        log.info("plain")
        log.child("db").bind(user=1).info("child")
        log.new(only="this").info("new() keeps the static fields")
        log.info("override", env="staging", pid="mine")
    events = _events(path)
    for event in events:
        assert event["service"] == "checkout"
        assert event["version"] == "1.4.2"
        assert event["host"] == socket.gethostname()
        assert event["region"] == "eu-west-1"
    assert [e["env"] for e in events] == ["prod", "prod", "prod", "staging"]
    assert [e["pid"] for e in events] == [os.getpid()] * 3 + ["mine"]
    assert events[2]["only"] == "this"
    raw = path.read_text().splitlines()
    assert all(line.count('"pid"') == 1 and line.count('"env"') == 1 for line in raw)


def test_a_pid_field_in_context_or_bound_wins(tmp_path: Path) -> None:
    path = tmp_path / "p.log"
    p = Pipeline(sinks=[{"type": "file", "path": str(path)}], static_pid=True)
    log = p.logger("x")
    log.bind(pid=1).info("bound")
    with ferrolog.bound_contextvars(pid=2):
        log.info("ctx")
    log.info("static")
    assert p.close(10.0)
    assert [e["pid"] for e in _events(path)] == [1, 2, os.getpid()]


@pytest.mark.needs_fork
def test_the_pid_is_the_childs_after_fork(tmp_path: Path) -> None:
    path = tmp_path / "f.log"
    p = Pipeline(sinks=[{"type": "file", "path": str(path)}], static_pid=True)
    log = p.logger("x")
    log.info("parent")
    assert p.flush(10.0)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        log.info("child")
        p.close(10.0)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    p.close(10.0)
    by_message = {e["message"]: e["pid"] for e in _events(path)}
    assert by_message == {"parent": os.getpid(), "child": pid}


def test_static_field_keys_must_be_str() -> None:
    with pytest.raises(TypeError, match="static_fields keys must be str"):
        Pipeline(sinks=[{"type": "null"}], static_fields={1: "x"})  # type: ignore[dict-item]
