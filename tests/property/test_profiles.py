"""The Hypothesis profile is chosen from the environment: "ci" (fixed examples) under CI."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings


@pytest.mark.skipif("HYPOTHESIS_PROFILE" in os.environ, reason="profile chosen explicitly")
def test_ci_runs_fixed_examples_and_dev_runs_fresh_ones() -> None:
    """With CI set the loaded profile derandomizes and keeps no database; without, it explores."""
    current = settings()
    if os.environ.get("CI"):
        assert current.derandomize
        assert current.database is None
    else:
        assert not current.derandomize
    assert current.deadline is None
