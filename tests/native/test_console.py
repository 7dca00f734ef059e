"""The console sink: the native writer renders each event for people, on a pipe or a terminal,
coloured per ``colors``, ``NO_COLOR`` and ``FORCE_COLOR``, and never lets an event's text
forge a line or send the terminal an escape sequence."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import termios
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrolog import Pipeline, Settings
from ferrolog._pipeline import default_sinks, pipeline_options
from ferrolog.config import ConsoleSink, SettingsError, StdoutSink

#: ferrolog's own SGR codes: the only escape sequences the console may write.
SGR = {
    "\x1b[0m",
    "\x1b[1m",
    "\x1b[2m",
    "\x1b[31m",
    "\x1b[32m",
    "\x1b[33m",
    "\x1b[34m",
    "\x1b[35m",
    "\x1b[36m",
    "\x1b[1;31m",
}
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")

# A child process: a pipeline with one console sink (a JSON spec in argv[1]) in a schema
# (argv[2]) logs two events and closes.
CHILD = r"""
import json, sys
from ferrolog import Pipeline
p = Pipeline(sinks=[json.loads(sys.argv[1])], schema=sys.argv[2])
log = p.logger("app.db", "debug")
log.info("query done", user_id=7, path="/api", latency_ms=12.5)
log.warning("odd", data={"a": [1, {"b": None}]}, empty="", text="two words")
assert p.close(10.0)
"""

# The zero-config container (no settings at all) logs one event.
ZERO_CONFIG = r"""
import asyncio, json, sys
from ferrolog import Container, Logger
async def main():
    settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else None
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        log.info("hello", k=1)
asyncio.run(main())
"""

Tty = Literal["stdout", "stderr", None]


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    skip = ("NO_COLOR", "FORCE_COLOR", "TERM")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERROLOG_") and k not in skip}
    env["TERM"] = "xterm"
    env.update(extra or {})
    return env


def run(
    code: str, *args: str, tty: Tty = None, env: dict[str, str] | None = None
) -> tuple[bytes, bytes]:
    """Run ``code`` in a child whose stdout or stderr (``tty``) is a terminal (with output
    post-processing off, so the bytes are exactly what was written), the other a pipe;
    return what it wrote to each."""
    master = slave = -1
    streams: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    if tty is not None:
        master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        streams[tty] = slave
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=_env(env), **streams)
    on_tty = b""
    if tty is not None:
        os.close(slave)
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                proc.kill()
                raise AssertionError("the child wrote nothing for 30 s")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            on_tty += chunk
        os.close(master)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")
    if tty == "stdout":
        out = on_tty
    elif tty == "stderr":
        err = on_tty
    return out, err


def console(schema: str = "default", *, tty: Tty = None, **spec: Any) -> bytes:
    env = spec.pop("env", None)
    out, err = run(CHILD, json.dumps({"type": "console", **spec}), schema, tty=tty, env=env)
    return err if spec.get("stream") == "stderr" else out


def untimed(text: bytes) -> str:
    return TIME.sub("TIME", text.decode())


PLAIN = (
    "TIME INFO     app.db       query done               user_id=7 path=/api latency_ms=12.5\n"
    "TIME WARNING  app.db       odd                      "
    'data={"a":[1,{"b":null}]} empty="" text="two words"\n'
)
COLOURED = (
    "\x1b[2mTIME\x1b[0m \x1b[32mINFO\x1b[0m     \x1b[34mapp.db\x1b[0m       "
    "\x1b[1mquery done\x1b[0m               \x1b[36muser_id\x1b[0m=\x1b[35m7\x1b[0m "
    "\x1b[36mpath\x1b[0m=\x1b[35m/api\x1b[0m \x1b[36mlatency_ms\x1b[0m=\x1b[35m12.5\x1b[0m\n"
    "\x1b[2mTIME\x1b[0m \x1b[33mWARNING\x1b[0m  \x1b[34mapp.db\x1b[0m       "
    "\x1b[1modd\x1b[0m                      "
    '\x1b[36mdata\x1b[0m=\x1b[35m{"a":[1,{"b":null}]}\x1b[0m '
    '\x1b[36mempty\x1b[0m=\x1b[35m""\x1b[0m \x1b[36mtext\x1b[0m=\x1b[35m"two words"\x1b[0m\n'
)


def test_on_a_pipe_auto_means_no_colour() -> None:
    assert untimed(console()) == PLAIN


def test_on_a_terminal_auto_means_colour() -> None:
    assert untimed(console(tty="stdout")) == COLOURED


@pytest.mark.parametrize(
    ("tty", "colors", "env", "coloured"),
    [
        ("stdout", "auto", {"NO_COLOR": "1"}, False),
        ("stdout", "auto", {"NO_COLOR": ""}, True),
        ("stdout", "auto", {"TERM": "dumb"}, False),
        ("stdout", "auto", {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
        (None, "auto", {"FORCE_COLOR": "1"}, True),
        (None, "auto", {"FORCE_COLOR": "0"}, False),
        (None, "auto", {"FORCE_COLOR": ""}, False),
        (None, "always", {}, True),
        (None, "always", {"NO_COLOR": "1"}, True),
        ("stdout", "never", {"FORCE_COLOR": "1"}, False),
    ],
)
def test_colour_choice(tty: Tty, colors: str, env: dict[str, str], coloured: bool) -> None:
    got = untimed(console(tty=tty, colors=colors, env=env))
    assert got == (COLOURED if coloured else PLAIN)


def test_the_environment_is_read_when_the_sink_is_created() -> None:
    code = r"""
import os
from ferrolog import Pipeline
p = Pipeline(sinks=[{"type": "console"}])
os.environ["FORCE_COLOR"] = "1"
p.logger("a", "info").info("m")
assert p.close(10.0)
"""
    out, _ = run(code)
    assert untimed(out) == "TIME INFO     a            m\n"


def test_stream_stderr_and_its_own_terminal() -> None:
    err = console(stream="stderr", tty="stderr")
    assert untimed(err) == COLOURED
    out, err = run(CHILD, json.dumps({"type": "console", "stream": "stderr"}), "default")
    assert (out, untimed(err)) == (b"", PLAIN)


@pytest.mark.parametrize("schema", ["ecs", "otel"])
def test_every_schema_renders_alike(schema: str) -> None:
    assert untimed(console(schema)) == PLAIN


@pytest.mark.parametrize("schema", ["default", "ecs", "otel"])
def test_exceptions_are_indented_below_the_event(schema: str) -> None:
    code = r"""
import sys
from ferrolog import Pipeline
p = Pipeline(sinks=[{"type": "console", "colors": "never"}], schema=sys.argv[1])
log = p.logger("app", "info")
try:
    raise ValueError("bad\nINFO forged line")
except ValueError:
    log.exception("failed", k=1)
log.info("after")
assert p.close(10.0)
"""
    out, _ = run(code, schema)
    lines = untimed(out).split("\n")
    assert lines[0] == "TIME ERROR    app          failed                   k=1"
    assert lines[1] == "    Traceback (most recent call last):"
    assert "    ValueError: bad" in lines
    assert "    INFO forged line" in lines  # the message's own newline: indented, not an event
    assert lines[-2:] == ["TIME INFO     app          after", ""]
    assert all(line.startswith("    ") for line in lines[1:-2]), lines


def test_a_console_takes_routing_like_any_sink() -> None:
    out = console(min_level="warning")
    assert untimed(out) == PLAIN.split("\n", 1)[1]


def test_hostile_text_cannot_forge_lines_or_escapes_end_to_end() -> None:
    code = r"""
from ferrolog import Pipeline
p = Pipeline(sinks=[{"type": "console"}])
evil = "x\n2026-01-01 00:00:00.000 CRITICAL root hacked\r\x1b[2J\x1b]0;t\x07\x9b31m\u202e"
log = p.logger(evil, "debug")
log.info(evil, **{evil: evil, "nested": {evil: [evil]}})
log.log(evil, evil)
assert p.close(10.0)
"""
    for tty in ("stdout", None):
        out, _ = run(code, tty=tty)
        text = out.decode()
        assert text.count("\n") == 2, text
        assert not set(text) & {"\r", "\x07", "\x9b", "\u202e"}
        assert set(re.findall(r"\x1b\[[0-9;]*m", text)) <= SGR
        assert re.sub(r"\x1b\[[0-9;]*m", "", text).count("\x1b") == 0
        assert ("\x1b" in text) == (tty == "stdout")
        assert r"x\n2026-01-01 00:00:00.000 CRITICAL root hacked\r\x1b[2J\x1b]0;t\x07" in text


def test_zero_config_on_a_terminal_is_the_console() -> None:
    out, _ = run(ZERO_CONFIG, tty="stdout")
    assert re.fullmatch(
        r"\x1b\[2mTIME\x1b\[0m \x1b\[32mINFO\x1b\[0m +\x1b\[34mapp\x1b\[0m +"
        r"\x1b\[1mhello\x1b\[0m +\x1b\[36mk\x1b\[0m=\x1b\[35m1\x1b\[0m\n",
        untimed(out),
    ), out


def test_zero_config_on_a_pipe_is_json() -> None:
    out, _ = run(ZERO_CONFIG)
    event = json.loads(out)
    assert (event["message"], event["k"]) == ("hello", 1)


def test_explicit_stdout_on_a_terminal_stays_json() -> None:
    out, _ = run(ZERO_CONFIG, json.dumps({"sinks": [{"type": "stdout"}]}), tty="stdout")
    assert json.loads(out)["message"] == "hello"
    out, _ = run(ZERO_CONFIG, tty="stdout", env={"FERROLOG_SINKS": '[{"type": "stdout"}]'})
    assert json.loads(out)["message"] == "hello"


def test_default_sinks_keep_settings_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "isatty", lambda fd: fd == 1)
    assert Settings().sinks == (StdoutSink(),)  # what `ferrolog config check` sees
    assert default_sinks(Settings()) == (ConsoleSink(),)
    assert default_sinks(Settings(sinks=[{"type": "stdout"}])) == (StdoutSink(),)
    monkeypatch.setattr(os, "isatty", lambda fd: False)
    assert default_sinks(Settings()) == (StdoutSink(),)


def test_settings_and_native_spec() -> None:
    settings = Settings(
        sinks=[{"type": "console", "colors": "always", "stream": "stderr", "min_level": "info"}]
    )
    assert pipeline_options(settings)["sinks"] == [
        {"type": "console", "colors": "always", "stream": "stderr", "min_level": "info"}
    ]
    with pytest.raises(SettingsError, match="colors"):
        Settings(sinks=[{"type": "console", "colors": "sometimes"}])
    with pytest.raises(SettingsError, match="stream"):
        Settings(sinks=[{"type": "console", "stream": "stdin"}])
    with pytest.raises(ValueError, match=r"sinks\[0\]\.colors must be"):
        Pipeline(sinks=[{"type": "console", "colors": "sometimes"}])
    with pytest.raises(ValueError, match=r"sinks\[0\]\.stream must be"):
        Pipeline(sinks=[{"type": "console", "stream": "stdin"}])
    with pytest.raises(TypeError, match=r"sinks\[0\]\.colors must be a str"):
        Pipeline(sinks=[{"type": "console", "colors": True}])


_HOSTILE = st.lists(
    st.one_of(
        st.sampled_from(
            [
                *("\x1b", "\x1b[31m", "\n", "\r", "\r\n", "\t", "\x00", "\x7f", "\x85"),
                *("\x9b", "\u2028", "\u202e", '"', "\\", "=", " ", "[", "é", "😀"),
            ]
        ),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    message=_HOSTILE,
    key=_HOSTILE,
    value=_HOSTILE,
    logger=_HOSTILE,
    colors=st.sampled_from(["never", "always"]),
)
def test_hostile_text_property(
    capfdbinary: pytest.CaptureFixture[bytes],
    message: str,
    key: str,
    value: str,
    logger: str,
    colors: str,
) -> None:
    """For any text in the message, a key, a value and the logger's name: one `\\n` per event
    (its end); no ESC without colours; with colours, every ESC starts one of ferrolog's SGR
    codes; no other control character at all."""
    capfdbinary.readouterr()
    p = Pipeline(sinks=[{"type": "console", "colors": colors}])
    log = p.logger(logger or "app", "debug")
    log.info(message, **{f"k{key}": value, "nested": {key: [value]}})
    log.warning(message)
    assert p.close(10.0)
    text = capfdbinary.readouterr().out.decode()
    assert text.count("\n") == 2, text
    assert text.endswith("\n"), text
    stripped = re.sub(r"\x1b\[[0-9;]*m", "", text)
    if colors == "never":
        assert stripped == text
    else:
        assert set(re.findall(r"\x1b\[[0-9;]*m", text)) <= SGR
    body = stripped.replace("\n", "")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in body), body
    assert not set(body) & {"\u2028", "\u2029", "\u202e"}


def test_the_documented_console_example_runs() -> None:
    """examples/console_demo.py (docs/console.md) on a pipe: no colours, the documented shape."""
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "console_demo.py"
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    done = subprocess.run(
        [sys.executable, str(example)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert "\x1b" not in done.stdout
    assert " INFO " in lines[0]
    assert "app.db" in lines[0]
    assert "query done" in lines[0]
    assert "user_id=7 path=/api latency_ms=12.5" in lines[0]
    assert " WARNING " in lines[1]
    assert 'params={"id":[1,2]}' in lines[1]
    assert " ERROR " in lines[2]
    assert 'path="/api/items x"' in lines[2]
    assert any(line.startswith("    ") and "KeyError" in line for line in lines[3:])
