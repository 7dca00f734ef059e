"""Problems found only when the pipeline starts are ferrolog errors that name the cause."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ferrolog import Container, Logger, Settings
from ferrolog._pipeline import PipelineStartError
from ferrolog.config import SettingsError
from ferrolog.errors import ErrorCategory, FerrologError


async def test_a_log_directory_removed_after_create_fails_get_with_a_sink_error(
    tmp_path: Path,
) -> None:
    """The first get raises a PipelineStartError (an OSError and a FerrologError) naming
    the path, when the directory create() checked is gone by then."""
    logs = tmp_path / "logs"
    logs.mkdir()
    settings = Settings(sinks=[{"type": "file", "path": str(logs / "app.log")}])
    async with Container.create(settings) as container:
        shutil.rmtree(logs)
        with pytest.raises(PipelineStartError) as caught:
            await container.get(Logger)
    err = caught.value
    assert isinstance(err, OSError)
    assert isinstance(err, FerrologError)
    assert err.category is ErrorCategory.SINK_IO
    assert "app.log" in str(err)
    assert "does not exist" in str(err)


def test_a_ring_that_cannot_be_allocated_is_a_settings_error() -> None:
    """Under an address-space limit, a 1 GiB ring fails with a SettingsError naming
    capacity_bytes, and the process lives on (no abort)."""
    code = textwrap.dedent(
        """
        import resource
        from ferrolog import Logger, Settings
        from ferrolog.config import SettingsError
        from ferrolog.container import Container
        settings = Settings(ring={"capacity_bytes": 1 << 30}, sinks=[{"type": "null"}])
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (768 << 20, hard))
        container = Container.create_sync(settings)
        try:
            container.get_sync(Logger)
        except SettingsError as exc:
            print("refused:", exc)
        finally:
            container.close()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused:" in out.stdout, out.stdout
    assert "capacity_bytes" in out.stdout, out.stdout


def test_the_start_errors_keep_their_stdlib_types() -> None:
    """Code that caught ValueError / OSError from the pipeline keeps working."""
    assert issubclass(SettingsError, ValueError)
    assert issubclass(PipelineStartError, OSError)
