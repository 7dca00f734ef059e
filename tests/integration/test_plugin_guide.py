"""The plugin author's guide (docs/plugins.md) is true: its example sink plugin, built into a
wheel from examples/plugin_sink and installed with pip, works exactly as the guide shows."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugin_sink"
GUIDE = ROOT / "docs" / "plugins.md"


def test_the_guide_shows_the_example_files_verbatim() -> None:
    """Each `<!-- file: ... -->` code block of the guide is that file's exact content."""
    guide = GUIDE.read_text("utf-8")
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", guide, re.DOTALL)
    assert {path for path, _ in blocks} == {
        "examples/plugin_sink/ferrolog_example_sink/__init__.py",
        "examples/plugin_sink/pyproject.toml",
        "examples/plugin_sink/app.py",
    }
    for path, text in blocks:
        assert text == (ROOT / path).read_text("utf-8"), path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _build_wheel(out: Path) -> Path:
    """A wheel of examples/plugin_sink, its metadata and entry points from its pyproject.toml
    (no build backend needed: this machine may be offline)."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text("utf-8"))["project"]
    name, version = project["name"], project["version"]
    dist = f"{name.replace('-', '_')}-{version}"
    files: dict[str, bytes] = {}
    for source in sorted((EXAMPLE / "ferrolog_example_sink").rglob("*.py")):
        files[source.relative_to(EXAMPLE).as_posix()] = source.read_bytes()
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {project['description']}",
        *(f"Requires-Dist: {requirement}" for requirement in project["dependencies"]),
    ]
    files[f"{dist}.dist-info/METADATA"] = ("\n".join(metadata) + "\n").encode()
    files[f"{dist}.dist-info/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: ferrolog-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    entry_points = ""
    for group, points in project["entry-points"].items():
        entry_points += f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    files[f"{dist}.dist-info/entry_points.txt"] = entry_points.encode()
    record = [_record_line(path, data) for path, data in files.items()]
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example plugin pip-installed into a fresh directory; (site directory, wheel)."""
    root = tmp_path_factory.mktemp("plugin_guide")
    wheel = _build_wheel(root)
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        timeout=120,
    )
    return site, wheel


def _env(site: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("FERROLOG_")}
    return {**clean, "PYTHONPATH": str(site)}


def test_the_installed_example_writes_through_the_plugin(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    """`python app.py PATH`, as the guide shows, writes the event to PATH via the plugin."""
    site, _ = installed
    log = tmp_path / "app.log"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "app.py"), str(log)],
        env=_env(site),
        check=True,
        timeout=60,
        cwd=tmp_path,
    )
    lines = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    assert [(line["message"], line["user_id"]) for line in lines] == [
        ("written by a plugin sink", 7)
    ]


def test_the_installed_example_is_listed_checked_and_found_in_an_index(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    """`ferrolog plugins list/check/info` see the pip-installed example plugin as compatible,
    and an index entry with its wheel's sha256 shows it."""
    site, wheel = installed
    command = [sys.executable, "-m", "ferrolog", "plugins"]
    listing = subprocess.run(
        [*command, "list", "--allow", "example-file"],
        env=_env(site),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    line = next(line for line in listing.stdout.splitlines() if line.startswith("example-file"))
    assert "1.0.0 [sink] compatible" in line
    assert "of ferrolog-example-sink 1.0.0" in line
    index = tmp_path / "index.json"
    index.write_text(
        json.dumps(
            {
                "plugins": [
                    {
                        "name": "example-file",
                        "package": "ferrolog-example-sink",
                        "version": "1.0.0",
                        "kind": "sink",
                        "api_version": ">=1.0,<2",
                        "summary": "JSON lines to a file",
                        "homepage": "https://example.invalid/example-file",
                        "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
                    }
                ]
            }
        )
    )
    info = subprocess.run(
        [*command, "info", "example-file", "--index", str(index), "--allow", "example-file"],
        env=_env(site),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert f"sha256: {hashlib.sha256(wheel.read_bytes()).hexdigest()}" in info.stdout
    assert "installed: example-file 1.0.0 [sink] compatible" in info.stdout
    check = subprocess.run(
        [*command, "check", "--allow", "example-file", "--index", str(index)],
        env=_env(site),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_the_guides_invalid_config_message_is_what_create_raises(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    """The error the guide quotes for a bad config is the one Container.create raises."""
    site, _ = installed
    code = (
        "import asyncio, ferrolog\n"
        "settings = {'plugins': {'allow': ['example-file']}, 'sinks': [{'type': 'plugin', "
        "'name': 'example-file', 'config': {'path': 'app.log', 'fsync': 'maybe'}}]}\n"
        "try:\n"
        "    asyncio.run(ferrolog.Container.create(settings).__aenter__())\n"
        "except ferrolog.SettingsError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(site),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=tmp_path,
    )
    quoted = re.search(r"```\n(ferrolog cannot load these plugins:.*?)```", GUIDE.read_text(), re.S)
    assert quoted is not None
    assert result.stdout == quoted.group(1)
