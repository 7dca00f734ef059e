"""Generate docs/settings-reference.md from the pydantic models of ferrolog.config.

Every field of `Settings` and of each model under it (sinks by type, the fallback, rules,
sections) becomes a row: its dotted path, type, default, bounds, environment variable and
description (the field's ``description``, else the ``#:`` comment above it in the source).
`make docs` runs this before building; tests/docs/test_settings_reference.py fails when the
committed page differs from what this prints, or when a field is missing from it.

    python docs/_tools/settings_reference.py          # rewrite the page
    python docs/_tools/settings_reference.py --check  # exit 1 when the page is stale
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ferrolog import config
from ferrolog._settings_sources import ENV_DELIMITER, ENV_PREFIX
from ferrolog.units import ByteSize, Duration

PAGE = Path(__file__).resolve().parents[1] / "settings-reference.md"
PREFIX = ENV_PREFIX
DELIMITER = ENV_DELIMITER

_NAMED_TYPES: dict[Any, str] = {ByteSize: "size", Duration: "duration"}


@dataclass(frozen=True)
class Row:
    """One setting: where it is, what it takes and what it does."""

    path: str  # e.g. ring.capacity_bytes, sinks[].path
    env: str  # e.g. FERROLOG_RING__CAPACITY_BYTES, FERROLOG_SINKS__0__PATH
    type: str
    default: str
    bounds: str
    doc: str


@dataclass(frozen=True)
class Section:
    """The settings of one model, e.g. ``ring`` or the ``file`` sink."""

    title: str
    anchor: str
    intro: str
    rows: tuple[Row, ...]


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """The ``#:`` comment above each field of ``model`` and its bases, by field name."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            lines = inspect.getsource(cls).splitlines()
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("#:"):
                pending.append(stripped[2:].strip())
                continue
            match = re.match(r"(\w+)\s*:", stripped)
            if match and pending:
                found[match.group(1)] = " ".join(pending)
            pending = []
    return found


def _from_docstring(model: type[BaseModel]) -> dict[str, str]:
    """What a model's docstring says about its fields: ````name````: text (or ````name````
    (default ...): text), up to the next such marker or the end of the paragraph or item."""
    found: dict[str, str] = {}
    for cls in model.__mro__:
        doc = cls.__dict__.get("__doc__") or ""
        for chunk in re.split(r"\n\s*\n|\n\s*- ", inspect.cleandoc(doc)):
            text = " ".join(chunk.split())
            marks = list(re.finditer(r"``(\w+)``(?: \((?:default )?[^)]*\))?: ", text))
            for i, mark in enumerate(marks):
                end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
                said = text[mark.end() : end].strip().rstrip(".")
                found.setdefault(mark.group(1), said[:1].upper() + said[1:] + ".")
    return found


def _rst_to_md(text: str) -> str:
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    return " ".join(text.split()).replace("|", "\\|")


def _type_name(hint: Any) -> str:
    for known, name in _NAMED_TYPES.items():
        if hint is known:
            return name
    origin = get_origin(hint)
    if origin is Annotated:
        return _type_name(get_args(hint)[0])
    if origin is Literal:
        return " \\| ".join(f'`"{v}"`' if isinstance(v, str) else f"`{v}`" for v in get_args(hint))
    if origin in (Union, types.UnionType):
        return " \\| ".join(_type_name(arg) for arg in get_args(hint))
    if origin in (tuple, list):
        args = [a for a in get_args(hint) if a is not Ellipsis]
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is not None and getattr(origin, "__name__", "") in ("Mapping", "dict"):
        return "table"
    if hint is type(None):
        return "`none`"
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        kind = hint.model_fields.get("type")
        return f"`{kind.default}` table" if kind is not None else "table"
    return getattr(hint, "__name__", str(hint)).replace("SecretStr", "secret string")


def _bounds(info: FieldInfo) -> str:
    parts: list[str] = []
    symbols = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    for item in info.metadata:
        for name, symbol in symbols.items():
            value = getattr(item, name, None)
            if value is not None:
                parts.append(f"{symbol} {_number(value)}")
        for name, label in (("min_length", "length ≥"), ("max_length", "length ≤")):
            value = getattr(item, name, None)
            if value is not None:
                parts.append(f"{label} {value}")
    return ", ".join(parts)


def _number(value: Any) -> str:
    if isinstance(value, int) and value >= 1024 and value % 1024 == 0:
        for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value % size == 0:
                return f"{value // size} {unit}"
    return str(value)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "see below" if not value.model_fields_set else f"`{value.model_dump()}`"
    if isinstance(value, tuple) and value and all(isinstance(v, BaseModel) for v in value):
        shown = [{"type": v.type, **v.model_dump(exclude_defaults=True)} for v in value]
        return "`" + json.dumps(shown) + "`"
    if isinstance(value, (tuple, list)) and not value:
        return "`[]`"
    if hasattr(value, "items") and not dict(value.items()):
        return "`{}`"
    if value is None:
        return "`none`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, int) and value >= 1024:
        return f"`{value}` ({_number(value)})"
    return f"`{value!r}`"


def _models_in(hint: Any) -> list[type[BaseModel]]:
    """The models a field holds: itself, a list's elements, a union's members."""
    origin = get_origin(hint)
    if origin is Annotated:
        return _models_in(get_args(hint)[0])
    if origin in (Union, types.UnionType, tuple, list):
        return [m for arg in get_args(hint) for m in _models_in(arg)]
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return [hint]
    return []


def _model_summary(hint: Any) -> str:
    """The first paragraph of the docstring of the one model a field holds, if any."""
    models = _models_in(hint)
    if len(models) != 1:
        return ""
    text = inspect.getdoc(models[0]) or ""
    return "" if text == inspect.getdoc(BaseModel) else text.split("\n\n")[0]


def _is_list(hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is Annotated:
        return _is_list(get_args(hint)[0])
    return origin in (tuple, list)


def _sections(
    model: type[BaseModel], path: str, env: str, title: str, intro: str
) -> Iterator[Section]:
    hints = typing.get_type_hints(model, include_extras=True)
    comments = {**_from_docstring(model), **_comments(model)}
    rows: list[Row] = []
    nested: list[tuple[type[BaseModel], str, str, str, str]] = []
    for name, info in model.model_fields.items():
        hint = hints.get(name, info.annotation)
        dotted = f"{path}.{name}" if path else name
        variable = f"{env}{DELIMITER}{name.upper()}" if env != PREFIX else f"{PREFIX}{name.upper()}"
        doc = info.description or comments.get(name, "") or _model_summary(hint)
        if not doc and name == "type" and isinstance(info.default, str):
            doc = f'`"{info.default}"` selects this table\'s kind.'

        rows.append(
            Row(
                path=dotted,
                env=variable,
                type=_type_name(hint),
                default=_default(info),
                bounds=_bounds(info),
                doc=_rst_to_md(doc),
            )
        )
        listed = _is_list(hint)
        for sub in _models_in(hint):
            sub_path = f"{dotted}[]" if listed else dotted
            sub_env = f"{variable}{DELIMITER}0" if listed else variable
            kind = sub.model_fields.get("type")
            label = sub_path
            if kind is not None and isinstance(kind.default, str):
                label = f'{sub_path} with type = "{kind.default}"'
            doc_text = inspect.getdoc(sub) or ""
            if doc_text == inspect.getdoc(BaseModel):
                doc_text = ""
            nested.append((sub, sub_path, sub_env, label, doc_text))
    yield Section(title=title, anchor=_anchor(path or "settings"), intro=intro, rows=tuple(rows))
    seen: set[tuple[type[BaseModel], str]] = set()
    for sub, sub_path, sub_env, label, doc_text in nested:
        if (sub, sub_path) in seen:
            continue
        seen.add((sub, sub_path))
        kind = sub.model_fields.get("type")
        anchor_path = sub_path if kind is None else f"{sub_path}-{kind.default}"
        for section in _sections(sub, sub_path, sub_env, label, doc_text):
            if section.title == label:
                section = Section(section.title, _anchor(anchor_path), section.intro, section.rows)
            yield section


def _anchor(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def rows() -> list[Row]:
    """Every setting, top-level and nested, in page order."""
    return [row for section in sections() for row in section.rows]


def sections() -> list[Section]:
    intro = _rst_to_md((inspect.getdoc(config.Settings) or "").split("\n\n")[0])
    return list(_sections(config.Settings, "", PREFIX, "Top level", intro))


def render() -> str:
    out = [
        "# Settings reference",
        "",
        "<!-- Generated by docs/_tools/settings_reference.py from ferrolog.config: do not edit;",
        "     `make docs` rewrites it and tests/docs/test_settings_reference.py checks it. -->",
        "",
        "Every setting of `ferrolog.Settings`, generated from its pydantic models. A setting's",
        "environment variable is `FERROLOG_` and its path in capitals, `__` between the parts;",
        "a list element is set by its index (`FERROLOG_SINKS__0__PATH`), and a whole table or",
        'list can be given as JSON (`FERROLOG_SINKS=\'[{"type": "stdout"}]\'`). *size* takes',
        'bytes or a unit (`"64 MiB"`, `"4k"`), *duration* seconds or a unit (`"500ms"`, `"2m"`):',
        "see [Configuration](configuration.md) for the sources, their precedence and the units.",
        "",
    ]
    for section in sections():
        out += [f"## {section.title} {{#{section.anchor}}}", ""]
        if section.intro:
            out += [_rst_to_md(section.intro.split("\n\n")[0]), ""]
        out += [
            "| setting and environment variable | type, default, bounds | description |",
            "|---|---|---|",
        ]
        for row in section.rows:
            kind = f"{row.type}<br>default {row.default}"
            if row.bounds:
                kind += f"<br>{row.bounds}"
            cells = [f"`{row.path}`<br>`{row.env}`", kind, row.doc]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.is_file() or PAGE.read_text("utf-8") != text:
            print(f"{PAGE} is stale: run `python docs/_tools/settings_reference.py`")
            return 1
        return 0
    if not PAGE.is_file() or PAGE.read_text("utf-8") != text:
        PAGE.write_text(text, "utf-8")
        print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
