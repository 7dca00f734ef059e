"""The marketplace index: its format, read from a file and from a local HTTP server, and the
``ferrolog plugins list|search|info|check`` commands (issue 12, point 6)."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin_env import PluginEnv, plugin_environment

from ferrolog._marketplace import parse_index, read_index
from ferrolog.cli import main
from ferrolog.registry import PluginIndexError


@pytest.fixture
def plugin_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginEnv]:
    """Real test plugins installed on a temporary sys.path entry (see plugin_env.py)."""
    yield from plugin_environment(tmp_path, monkeypatch)


def _entry(**overrides: Any) -> dict[str, Any]:
    entry = {
        "name": "kafka-sink",
        "package": "ferrolog-kafka",
        "version": "2.1.0",
        "kind": "sink",
        "api_version": ">=1.0,<2",
        "summary": "Ship log lines to a Kafka topic",
        "homepage": "https://example.invalid/kafka",
        "sha256": hashlib.sha256(b"wheel").hexdigest(),
    }
    return {**entry, **overrides}


INDEX = {
    "plugins": [
        _entry(),
        _entry(
            name="geoip",
            package="ferrolog-geoip",
            kind="enricher",
            summary="Adds country fields",
            version="0.3.0",
        ),
        _entry(name="legacy", package="ferrolog-legacy", api_version="<1", summary="Old API"),
    ]
}


@pytest.fixture
def index_file(tmp_path: Path) -> Path:
    path = tmp_path / "index.json"
    path.write_text(json.dumps(INDEX), "utf-8")
    return path


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes, float]] = {}

    def do_GET(self) -> None:
        status, body, delay = self.routes.get(self.path, (404, b"not found", 0.0))
        time.sleep(delay)
        self.send_response(status)
        if status in (301, 302):
            self.send_header("Location", body.decode())
            body = b""
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, tuple[int, bytes, float]]]]:
    """A local HTTP server (127.0.0.1, own thread) serving a route table."""
    routes: dict[str, tuple[int, bytes, float]] = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_an_index_file_is_parsed(index_file: Path) -> None:
    """Each entry keeps its fields; compatibility is its api_version against ferrolog's."""
    index = read_index(str(index_file))
    assert [entry.name for entry in index.entries] == ["kafka-sink", "geoip", "legacy"]
    kafka = index.entries[0]
    assert (kafka.package, kafka.version, kafka.kind) == ("ferrolog-kafka", "2.1.0", "sink")
    assert kafka.compatible()
    assert not index.entries[2].compatible()
    assert [entry.name for entry in index.search("COUNTRY")] == ["geoip"]
    assert [entry.name for entry in index.search("sink")] == ["kafka-sink", "legacy"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b'{"plugins": [', r"malformed JSON at line 1 column 14"),
        (b"[]", r'expected a JSON object \{"plugins": \[\.\.\.\]\}, got list'),
        (b'{"plugin": []}', "without a 'plugins' key"),
        (b"\xff", "not UTF-8"),
        (
            json.dumps({"plugins": [_entry(), _entry(sha256="abc")]}).encode(),
            r"plugins\[1\]\.sha256: String should match pattern",
        ),
        (
            json.dumps({"plugins": [_entry(kind="exporter")]}).encode(),
            r"plugins\[0\]\.kind: Input should be 'sink', 'filter', 'enricher' or 'redactor'",
        ),
        (
            json.dumps({"plugins": [_entry(api_version="1.0")]}).encode(),
            r"plugins\[0\]\.api_version: .*has no operator",
        ),
        (
            json.dumps(
                {"plugins": [{k: v for k, v in _entry().items() if k != "package"}]}
            ).encode(),
            r"plugins\[0\]\.package: Field required",
        ),
        (
            json.dumps({"plugins": [_entry(homepage="javascript:alert(1)")]}).encode(),
            r"plugins\[0\]\.homepage: .*http\(s\) URL",
        ),
    ],
)
def test_a_malformed_index_names_the_entry_and_field(document: bytes, message: str) -> None:
    """Malformed JSON says where; a bad entry names its index in the list and the field."""
    with pytest.raises(PluginIndexError, match=message) as info:
        parse_index(document, "idx.json")
    assert "plugin index idx.json" in str(info.value)
    assert info.value.source == "idx.json"


def test_an_index_is_read_over_http(server: tuple[str, dict[str, Any]]) -> None:
    """An http URL is fetched; errors name the status; only http(s) is accepted."""
    base, routes = server
    routes["/index.json"] = (200, json.dumps(INDEX).encode(), 0.0)
    routes["/moved"] = (302, b"ftp://127.0.0.1/index.json", 0.0)
    index = read_index(f"{base}/index.json")
    assert len(index.entries) == 3
    with pytest.raises(PluginIndexError, match="the server answered HTTP 404"):
        read_index(f"{base}/missing.json")
    with pytest.raises(PluginIndexError, match="refusing a redirect to ftp://"):
        read_index(f"{base}/moved")
    with pytest.raises(PluginIndexError, match="only http and https URLs"):
        read_index("file:///etc/passwd")


def test_an_index_read_has_a_timeout_and_a_size_cap(
    server: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    """A slow server fails after the timeout; a too-large index is refused, not truncated."""
    base, routes = server
    routes["/slow"] = (200, json.dumps(INDEX).encode(), 2.0)
    routes["/big"] = (200, b" " * 5000 + json.dumps(INDEX).encode(), 0.0)
    started = time.monotonic()
    with pytest.raises(PluginIndexError, match="cannot fetch it"):
        read_index(f"{base}/slow", timeout=0.3)
    assert time.monotonic() - started < 1.9
    with pytest.raises(PluginIndexError, match="larger than 4096 bytes"):
        read_index(f"{base}/big", max_bytes=4096)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 5000)
    with pytest.raises(PluginIndexError, match="larger than 4096 bytes"):
        read_index(str(big), max_bytes=4096)
    with pytest.raises(PluginIndexError, match="cannot read it"):
        read_index(str(tmp_path / "missing.json"))


# -- the command line ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["plugins"],
        ["plugins", "list"],
        ["plugins", "search"],
        ["plugins", "info"],
        ["plugins", "check"],
    ],
)
def test_every_plugins_subcommand_has_help(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """--help on each plugins subcommand prints its usage (with --index) and exits 0."""
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ferrolog plugins")
    if len(argv) > 1:
        assert "--index FILE_OR_URL" in out


def test_search_finds_entries_and_fails_without_a_match(
    capsys: pytest.CaptureFixture[str], index_file: Path
) -> None:
    """`plugins search TERM` prints matching entries with compatibility; none: exit 1."""
    status, out, _ = _run(capsys, "plugins", "search", "kafka", "--index", str(index_file))
    assert status == 0
    assert out.splitlines() == [
        "kafka-sink 2.1.0 [sink] (compatible) ferrolog-kafka: Ship log lines to a Kafka topic"
    ]
    status, out, _ = _run(capsys, "plugins", "search", "old api", "--index", str(index_file))
    assert "legacy 2.1.0 [sink] (incompatible: needs '<1')" in out
    status, out, err = _run(capsys, "plugins", "search", "nothing", "--index", str(index_file))
    assert status == 1
    assert "no plugin in" in err
    status, _, err = _run(capsys, "plugins", "search", "kafka")
    assert status == 1
    assert "no plugin index: pass --index FILE_OR_URL or set plugins.index" in err


def test_commands_read_the_index_over_http_and_from_the_setting(
    capsys: pytest.CaptureFixture[str],
    server: tuple[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--index takes a URL; without it, the plugins.index setting is used."""
    base, routes = server
    routes["/index.json"] = (200, json.dumps(INDEX).encode(), 0.0)
    status, out, _ = _run(capsys, "plugins", "search", "geoip", "--index", f"{base}/index.json")
    assert (status, out.split()[0]) == (0, "geoip")
    monkeypatch.setenv("FERROLOG_PLUGINS__INDEX", f"{base}/index.json")
    status, out, _ = _run(capsys, "plugins", "info", "kafka-sink")
    assert status == 0
    assert "install: pip install ferrolog-kafka==2.1.0" in out
    assert "installed: no (plugin API 1.0)" in out
    routes["/bad.json"] = (200, b'{"plugins": [{"name": 3}]}', 0.0)
    status, _, err = _run(capsys, "plugins", "check", "--index", f"{base}/bad.json")
    assert status == 1
    assert "plugins[0].name: Input should be a valid string" in err


def test_list_shows_installed_plugins_and_compatibility(
    capsys: pytest.CaptureFixture[str], plugin_env: PluginEnv
) -> None:
    """`plugins list` shows allowed plugins' compatibility and leaves others unimported."""
    plugin_env.plugin("good-sink")
    plugin_env.plugin("future-sink", api_version=">=2")
    hidden = plugin_env.plugin("other-sink")
    status, out, _ = _run(
        capsys, "plugins", "list", "--allow", "good-sink", "--allow", "future-sink"
    )
    assert status == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "1.2.3 [sink] compatible" in lines["good-sink"]
    assert "incompatible" in lines["future-sink"]
    assert "needs plugin API '>=2', ferrolog provides 1.0" in lines["future-sink"]
    assert "not loaded" in lines["other-sink"]
    assert not plugin_env.imported(hidden)
    status, out, _ = _run(capsys, "plugins", "list", "--json", "--allow", "future-sink")
    records = {record["name"]: record for record in map(json.loads, out.splitlines())}
    assert records["future-sink"]["requires"] == ">=2"
    assert records["future-sink"]["provides"] == "1.0"
    assert records["future-sink"]["state"] == "incompatible"


def test_check_fails_on_an_allowed_incompatible_plugin(
    capsys: pytest.CaptureFixture[str], plugin_env: PluginEnv, index_file: Path
) -> None:
    """`plugins check` exits 1 naming an incompatible allowed plugin; 0 when all fit."""
    plugin_env.plugin("good-sink")
    plugin_env.plugin("future-sink", api_version=">=2")
    status, out, _ = _run(
        capsys, "plugins", "check", "--allow", "good-sink", "--index", str(index_file)
    )
    assert status == 0
    assert "1 allowed plugin(s) are compatible" in out
    assert "note: index entry legacy 2.1.0 needs plugin API '<1'" in out
    status, _, err = _run(capsys, "plugins", "check", "--allow", "future-sink")
    assert status == 1
    assert "future-sink: incompatible: needs plugin API '>=2'" in err


def test_check_and_config_check_load_the_settings_plugins(
    capsys: pytest.CaptureFixture[str], plugin_env: PluginEnv, tmp_path: Path
) -> None:
    """A settings file whose plugin sink cannot load fails `plugins check` and `config check`."""
    plugin_env.plugin("good-sink")
    settings = tmp_path / "settings.json"
    settings.write_text(
        json.dumps(
            {
                "sinks": [{"type": "plugin", "name": "good-sink", "config": {"batch_size": "x"}}],
                "plugins": {"allow": ["good-sink"]},
            }
        )
    )
    status, _, err = _run(capsys, "plugins", "check", "--settings", str(settings))
    assert status == 1
    assert "sinks.0.config: plugin 'good-sink': invalid config" in err
    status, _, err = _run(capsys, "config", "check", str(settings))
    assert status == 1
    assert "config.batch_size:" in err


def test_info_of_an_unknown_plugin_fails(
    capsys: pytest.CaptureFixture[str], index_file: Path
) -> None:
    """`plugins info NAME` exits 1 when neither the index nor the installed plugins know it."""
    status, _, err = _run(capsys, "plugins", "info", "nope", "--index", str(index_file))
    assert status == 1
    assert "plugin 'nope' is neither installed nor listed in" in err
    status, _, err = _run(capsys, "plugins", "info", "nope", "--index", "ftp://x/i.json")
    assert status == 1
    assert "only http and https URLs" in err
