"""Find the code blocks of a Markdown page and say what the docs tests do with each.

The convention (tests/docs/README.md has it for contributors):

- A ```python block is a complete program. It runs with this interpreter in a fresh
  subprocess, in an empty temporary directory, without any ``FERROLOG_*`` variable, and
  must exit 0 within the timeout.
- A block right after it (blank lines and markers between are fine) whose info string has
  ``title="Output"`` is what the program prints on standard output: compared after both
  sides have timestamps and pids normalized; ``...`` (or ``…``) in the expected text matches
  anything (doctest's ELLIPSIS).
- ``<!-- docs-test: ... -->`` on the line before a block (blank lines between are fine)
  changes what happens to it; several directives are separated by ``;``:
  ``skip: why`` (not run; the reason is reported), ``requires: mod1 mod2`` (skipped with a
  message unless importable), ``pytest`` (the block is a test module run by pytest),
  ``env: NAME=value ...`` (extra environment), ``save: NAME`` (any block, e.g. TOML: written
  as NAME into the directory of every later program of the same page).
- ``<!-- file: path -->`` before a block: the block is that repository file verbatim (its
  own test runs it); checked, not run.
- Blocks in other languages (``pycon``, ``console``, ``bash``, ``toml``, ``json``, ``text``)
  are not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")
_FILE = re.compile(r"^\s*<!--\s*file:\s*(?P<path>\S+)\s*-->\s*$")
_TITLE = re.compile(r'title="(?P<title>[^"]*)"')
RUN_LANGUAGES = {"python", "py", "python3"}


@dataclass
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    title: str
    code: str
    directives: dict[str, str] = field(default_factory=dict)
    file: str | None = None  # <!-- file: path -->
    output: Block | None = None  # the ``title="Output"`` block after a program

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def is_program(self) -> bool:
        runnable = self.language in RUN_LANGUAGES and self.file is None
        return runnable and "save" not in self.directives

    @property
    def is_output(self) -> bool:
        return self.title.strip().lower() == "output"


def _directives(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in text.split(";"):
        name, _, value = part.strip().partition(":")
        if name.strip():
            found[name.strip().lower()] = value.strip()
    return found


def parse(page: Path) -> list[Block]:
    """Every fenced block of ``page``, each program linked to its output block."""
    lines = page.read_text("utf-8").splitlines()
    blocks: list[Block] = []
    pending: dict[str, str] = {}
    pending_file: str | None = None
    previous_end = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        marker, file_marker = _MARKER.match(line), _FILE.match(line)
        if marker:
            pending.update(_directives(marker.group("body")))
            i += 1
            continue
        if file_marker:
            pending_file = file_marker.group("path")
            i += 1
            continue
        fence = _FENCE.match(line)
        if not fence:
            if line.strip():
                pending, pending_file = {}, None
            i += 1
            continue
        indent, mark, info = fence.group("indent"), fence.group("fence"), fence.group("info")
        language = info.strip().split(" ")[0].split("{")[0].lower() if info.strip() else ""
        title_match = _TITLE.search(info)
        body: list[str] = []
        j = i + 1
        closing = re.compile(rf"^[ \t]*{re.escape(mark[0])}{{{len(mark)},}}\s*$")
        while j < len(lines) and not closing.match(lines[j]):
            text = lines[j]
            body.append(text[len(indent) :] if text.startswith(indent) else text.lstrip())
            j += 1
        if j == len(lines):
            raise ValueError(f"{page}:{i + 1}: code block is never closed")
        block = Block(
            page=page,
            line=i + 1,
            language=language,
            title=title_match.group("title") if title_match else "",
            code="\n".join(body) + "\n",
            directives=pending,
            file=pending_file,
        )
        previous = blocks[-1] if blocks else None
        if (
            block.is_output
            and previous is not None
            and previous.is_program
            and previous.output is None
            and _only_blank_or_markers(lines, previous_end, i)
        ):
            previous.output = block
        blocks.append(block)
        previous_end = j + 1
        pending, pending_file = {}, None
        i = j + 1
    return blocks


def _only_blank_or_markers(lines: list[str], start: int, end: int) -> bool:
    return all(not lines[k].strip() or _MARKER.match(lines[k]) for k in range(start, end))


def pages() -> list[Path]:
    """Every Markdown page whose blocks are checked: the README, SECURITY.md, docs/**."""
    found = [ROOT / "README.md", ROOT / "SECURITY.md"]
    found += sorted(p for p in (ROOT / "docs").rglob("*.md") if "_tools" not in p.parts)
    return found
