"""Importing ferrolog is cheap and side-effect free: it starts no thread, native or Python."""

import subprocess
import sys

import pytest


def test_version_is_exposed() -> None:
    """The package exposes the extension's version string."""
    import ferrolog

    assert ferrolog.__version__.count(".") == 2


def _run(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.split()


def test_import_starts_no_python_thread() -> None:
    """No Python thread is started by importing the package (a fresh interpreter)."""
    code = "import threading, ferrolog; print(threading.active_count())"
    assert _run(code) == ["1"]


@pytest.mark.needs_proc
def test_import_starts_no_os_thread_but_a_pipeline_does() -> None:
    """Counted in /proc/self/task, importing ferrolog adds no OS thread (native ones included),
    while creating a pipeline does: the count is able to see the native writer thread."""
    code = (
        "import os\n"
        "def n(): return len(os.listdir('/proc/self/task'))\n"
        "before = n()\n"
        "import ferrolog\n"
        "after_import = n()\n"
        "p = ferrolog.Pipeline(sinks=[{'type': 'null'}])\n"
        "with_pipeline = n()\n"
        "p.close(5.0)\n"
        "print(before, after_import, with_pipeline)\n"
    )
    before, after_import, with_pipeline = map(int, _run(code))
    assert after_import == before
    assert with_pipeline > after_import
