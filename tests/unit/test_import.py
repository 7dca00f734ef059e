"""Importing ferrolog is cheap and side-effect free."""

import subprocess
import sys


def test_version_is_exposed() -> None:
    """The package exposes the extension's version string."""
    import ferrolog

    assert ferrolog.__version__.count(".") == 2


def test_import_starts_no_thread() -> None:
    """No thread is started by importing the package."""
    code = "import threading, ferrolog; print(threading.active_count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
