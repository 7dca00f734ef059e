"""The documentation site builds in strict mode: no broken link, anchor or reference, and no
page missing from the nav. Needs the `docs` extra (`make docs` installs it); skipped without."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None
    or importlib.util.find_spec("mkdocstrings_handlers") is None,
    reason="the docs extra is not installed (`make docs` installs it and builds the site)",
)
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for page in ("index.html", "settings-reference/index.html", "security/index.html"):
        assert (site / page).is_file(), page
    performance = (site / "performance" / "index.html").read_text("utf-8")
    assert "<!-- readme:performance -->" not in performance
    assert "bench-results/latest.png" in performance
