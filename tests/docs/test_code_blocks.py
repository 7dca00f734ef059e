"""Every code block of the docs and the README does what the page says (tests/docs/README.md).

Programs run in a fresh subprocess each, in a temporary directory; the output a page shows is
compared with what the program printed.
"""

from __future__ import annotations

import doctest
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from docs_blocks import ROOT, Block, pages, parse

TIMEOUT = 60

_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
)
_PID = re.compile(r'("pid":\s*)\d+')


def normalize(text: str) -> str:
    """Timestamps and pids replaced by placeholders; trailing spaces and blank ends dropped."""
    text = _PID.sub(r"\1<PID>", _TIMESTAMP.sub("<TIME>", text))
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"


def _all_blocks() -> list[Block]:
    return [block for page in pages() for block in parse(page)]


BLOCKS = _all_blocks()
PROGRAMS = [block for block in BLOCKS if block.is_program]
FILES = [block for block in BLOCKS if block.file is not None]


def _saved_before(block: Block) -> dict[str, str]:
    """The ``save: NAME`` blocks of the same page above ``block``, by name."""
    return {
        other.directives["save"]: other.code
        for other in BLOCKS
        if other.page == block.page and other.line < block.line and "save" in other.directives
    }


def _environment(block: Block) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("FERROLOG_")}
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    for pair in shlex.split(block.directives.get("env", "")):
        name, _, value = pair.partition("=")
        env[name] = value
    return env


@pytest.mark.parametrize("block", PROGRAMS, ids=[block.where for block in PROGRAMS])
def test_program(block: Block, tmp_path: Path) -> None:
    """The block runs as a complete program and prints what the page shows."""
    if "skip" in block.directives:
        pytest.skip(f"{block.where}: marked skip: {block.directives['skip']}")
    for module in block.directives.get("requires", "").split():
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{block.where}: needs {module!r}, which is not installed here")
    for name, text in _saved_before(block).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, "utf-8")
    if "pytest" in block.directives:
        script = tmp_path / "test_example.py"
        # Without the dev extra's heavier plugins, which no example uses (ferrolog's loads).
        quiet = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark"]
        command = [sys.executable, "-m", "pytest", "-q", *quiet, script.name]
    else:
        script = tmp_path / "example.py"
        command = [sys.executable, script.name]
    script.write_text(block.code, "utf-8")
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=_environment(block),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (
        f"{block.where} exited with {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    if block.output is not None and "pytest" not in block.directives:
        want = normalize(block.output.code.replace("\u2026", "..."))
        got = normalize(done.stdout)
        checker = doctest.OutputChecker()
        assert checker.check_output(want, got, doctest.ELLIPSIS), (
            f"{block.where}: the output shown at {block.output.where} differs\n"
            f"--- shown (normalized)\n{want}--- printed (normalized)\n{got}"
            f"--- stderr\n{done.stderr}"
        )


@pytest.mark.parametrize("block", FILES, ids=[block.where for block in FILES])
def test_file_block_is_the_file(block: Block) -> None:
    """A ``<!-- file: path -->`` block is that repository file, byte for byte."""
    assert block.file is not None
    path = ROOT / block.file
    assert path.is_file(), f"{block.where}: {block.file} does not exist"
    assert block.code == path.read_text("utf-8"), f"{block.where}: differs from {block.file}"


def test_every_output_block_belongs_to_a_program() -> None:
    """A ``title="Output"`` block right after something that is not run would check nothing."""
    linked = {id(block.output) for block in PROGRAMS if block.output is not None}
    orphans = [block.where for block in BLOCKS if block.is_output and id(block) not in linked]
    assert not orphans, f"output blocks not after a program: {orphans}"


def test_the_convention_is_used() -> None:
    """The collector finds the pages and their programs (a parser regression cannot pass)."""
    assert len(PROGRAMS) >= 20
    assert any(block.page.name == "README.md" for block in PROGRAMS)
    assert sum(block.output is not None for block in PROGRAMS) >= 10
