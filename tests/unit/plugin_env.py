"""Real, installed test plugins: distributions written as ``*.dist-info`` directories (with
``METADATA`` and ``entry_points.txt``) and modules on a temporary ``sys.path`` entry, so that
``importlib.metadata.entry_points()`` finds them exactly as it finds pip-installed ones.

Every module gets a name unique to its test, so ``sys.modules`` tells whether it was imported.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

GROUP = "ferrolog.plugins"


def plugin_source(
    name: str,
    *,
    kind: str = "sink",
    api_version: str = ">=1.0,<2",
    requires: tuple[str, ...] = (),
    start: str = "",
    stop: str = "",
    asynchronous: bool = False,
    body: str = "",
    class_name: str = "Plugin",
    events: str | None = None,
) -> str:
    """The source of a module whose class ``class_name`` is a plugin of ``kind``.

    Its ``EVENTS`` list records ``("start"|"stop", name, instance id)`` (the list of the
    module ``events`` when given, shared by several plugins); ``start``/``stop`` add a
    statement run first in those methods (``raise RuntimeError('x')``, say).
    """
    method = {
        "sink": "def write_batch(self, batch):\n"
        "        self.lines.extend(bytes(batch).decode().splitlines())\n"
        "        if self.config.path:\n"
        "            with open(self.config.path, 'a') as out:\n"
        "                out.write(bytes(batch).decode())",
        "filter": "def accept(self, event):\n        return event.get('level') != 'debug'",
        "enricher": "def enrich(self, event):\n        return {'host': self.config.prefix}",
        "redactor": "def redact(self, event):\n        return {**event, 'secret': '***'}",
    }.get(kind, "pass")
    template = textwrap.dedent(
        """\
        import asyncio
        import pydantic

        EVENTS = []
        INSTANCES = []

        class @CLASS@:
            name = @NAME@
            kind = @KIND@
            version = "1.2.3"
            api_version = @API@
            requires = @REQUIRES@

            class Config(pydantic.BaseModel):
                model_config = pydantic.ConfigDict(extra="forbid")
                path: str = ""
                prefix: str = ""
                batch_size: int = 10

            def __init__(self, config):
                import weakref
                self.config = config
                self.lines = []
                INSTANCES.append(weakref.ref(self))

            @ASYNC@def start(self):
                @START@
                EVENTS.append(("start", self.name, id(self)))

            @ASYNC@def stop(self):
                @STOP@
                EVENTS.append(("stop", self.name, id(self)))

            @METHOD@
        """
    )
    replacements = {
        "EVENTS = []": "EVENTS = []" if events is None else f"from {events} import EVENTS",
        "@CLASS@": class_name,
        "@NAME@": repr(name),
        "@KIND@": repr(kind),
        "@API@": repr(api_version),
        "@REQUIRES@": repr(requires),
        "@ASYNC@": "async " if asynchronous else "",
        "@START@": start or "pass",
        "@STOP@": stop or "pass",
        "@METHOD@": method,
    }
    for key, value in replacements.items():
        template = template.replace(key, value)
    return template + textwrap.dedent(body)


class PluginEnv:
    """A temporary site directory on ``sys.path`` holding test distributions and modules."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.site = root / "site"
        self.site.mkdir()
        self.tag = uuid.uuid4().hex[:8]
        self.modules: list[str] = []
        monkeypatch.syspath_prepend(str(self.site))
        self.events_module = self.module("events", "EVENTS = []\n")

    def module_name(self, stem: str) -> str:
        """A module name unique to this test."""
        return f"fl_{stem}_{self.tag}".replace("-", "_")

    def module(self, stem: str, source: str) -> str:
        """Write a module; return its (unique) name."""
        name = self.module_name(stem)
        (self.site / f"{name}.py").write_text(source, "utf-8")
        self.modules.append(name)
        importlib.invalidate_caches()
        return name

    def distribution(
        self, dist: str, entry_points: Mapping[str, str], *, version: str = "1.0.0"
    ) -> None:
        """Install the distribution ``dist`` declaring ``entry_points`` (name -> mod:attr)."""
        info = self.site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", "utf-8"
        )
        lines = [f"[{GROUP}]", *(f"{name} = {target}" for name, target in entry_points.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", "utf-8")
        importlib.invalidate_caches()

    def plugin(self, name: str, **options: object) -> str:
        """Install a one-plugin distribution ``name`` (entry point ``name``); return its module."""
        source = plugin_source(name, events=self.events_module, **options)  # type: ignore[arg-type]
        module = self.module(name, source)
        self.distribution(f"{name}-dist", {name: f"{module}:Plugin"})
        return module

    @property
    def events(self) -> list[tuple[str, str]]:
        """``(start|stop, plugin name)`` of every plugin installed with `plugin`, in order."""
        module = importlib.import_module(self.events_module)
        return [(what, name) for what, name, _ in module.EVENTS]

    def imported(self, module: str) -> bool:
        """Whether ``module`` has been imported."""
        return module in sys.modules

    def loaded(self, module: str) -> object:
        """The imported module ``module``."""
        return sys.modules[module]

    def cleanup(self) -> None:
        for name in self.modules:
            sys.modules.pop(name, None)


def plugin_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginEnv]:
    """A `PluginEnv` whose modules are forgotten after the test (a test module's fixture:
    ``yield from plugin_environment(tmp_path, monkeypatch)``)."""
    env = PluginEnv(tmp_path, monkeypatch)
    yield env
    env.cleanup()
