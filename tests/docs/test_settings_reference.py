"""docs/settings-reference.md is what docs/_tools/settings_reference.py generates from the
models in ferrolog.config, and names every setting with its environment variable."""

from __future__ import annotations

import importlib.util
import os
import sys
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from ferrolog import Settings

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "docs" / "_tools" / "settings_reference.py"
PAGE = ROOT / "docs" / "settings-reference.md"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_reference", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _models(hint: Any) -> list[type[BaseModel]]:
    args = typing.get_args(hint)
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return [hint]
    return [model for arg in args for model in _models(arg)]


def _paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every dotted setting path under ``model``, list elements as ``name[]``."""
    found: set[str] = set()
    hints = typing.get_type_hints(model, include_extras=True)
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        found.add(path)
        hint = hints.get(name, info.annotation)
        origin = typing.get_origin(hint)
        while origin is typing.Annotated:
            hint = typing.get_args(hint)[0]
            origin = typing.get_origin(hint)
        listed = origin in (tuple, list)
        for sub in _models(hint):
            found |= _paths(sub, f"{path}[]." if listed else f"{path}.")
    return found


def test_the_page_is_up_to_date() -> None:
    """The committed page is exactly what the generator prints now."""
    assert PAGE.read_text("utf-8") == _generator().render(), (
        "docs/settings-reference.md is stale: run `python docs/_tools/settings_reference.py` "
        "(or `make docs`) and commit the page"
    )


def test_every_setting_is_on_the_page_with_its_variable() -> None:
    """Each field of Settings and of every model under it has a row naming its variable."""
    text = PAGE.read_text("utf-8")
    paths = _paths(Settings)
    assert {"level", "ring.capacity_bytes", "sinks[].path", "redaction.patterns"} <= paths
    for path in sorted(paths):
        assert f"| `{path}`<br>`FERROLOG_" in text, f"{path} is missing from the page"
    assert "`FERROLOG_RING__CAPACITY_BYTES`" in text
    assert "`FERROLOG_SINKS__0__PATH`" in text


def test_the_variables_shown_are_the_ones_settings_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable named on the page really sets its setting."""
    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)
    rows = {row.path: row.env for row in _generator().rows()}
    monkeypatch.setenv(rows["ring.capacity_bytes"], "8 MiB")
    monkeypatch.setenv(rows["static_fields.service"], "billing")
    monkeypatch.setenv(rows["level"], "warning")
    settings = Settings()
    assert settings.ring.capacity_bytes == 8 << 20
    assert settings.static_fields.service == "billing"
    assert settings.level == 30
