"""Redaction in the native encoder: denied field names at any depth, value patterns, secrets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pydantic
import pytest

from conftest import FileLog
from ferrolog import Container, Logger, Pipeline, bound_contextvars
from ferrolog._native import DEFAULT_REDACTED_FIELDS, REDACTION_PATTERNS
from ferrolog.config import Settings, SettingsError
from ferrolog.redaction import DEFAULT_FIELDS, PRESETS

R = "[REDACTED]"
ALL_PATTERNS = {"builtin": list(REDACTION_PATTERNS)}
CARD = "4111 1111 1111 1111"
SECRETS = {
    "card": CARD,
    "email": "bob@example.com",
    "bearer": "Bearer abc.DEF-123_xyz",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "url_credentials": "postgres://admin:hunter2@db.internal:5432/app",
    "ssn": "123-45-6789",
}
#: What of each secret must not reach the output.
LEAKS = {**SECRETS, "url_credentials": "admin:hunter2", "bearer": "abc.DEF-123_xyz"}


def test_the_default_deny_list_is_on_with_zero_configuration(file_log: FileLog) -> None:
    """Every default name is masked in a call with no settings; the key stays, the value goes."""
    file_log.logger.info("m", **{name: f"v-{name}" for name in DEFAULT_REDACTED_FIELDS}, ok=1)
    event = file_log.one()
    for name in DEFAULT_REDACTED_FIELDS:
        assert event[name] == R, name
    assert event["ok"] == 1
    assert "v-" not in file_log.path.read_text()
    assert tuple(DEFAULT_FIELDS) == DEFAULT_REDACTED_FIELDS


def test_names_match_in_any_case_at_any_depth(file_log: FileLog) -> None:
    """Nested dict keys, dicts in lists and tuples, dataclass-like dumps: case-insensitive."""
    payload = {
        "user": {"Password": "p1", "profile": [{"API_KEY": "k1"}, ({"Set-Cookie": "c1"},)]},
        "headers": {"Authorization": {"scheme": "Basic", "value": "a1"}},
    }
    file_log.logger.info("m", payload=payload, Token="t1")
    event = file_log.one()
    assert event["payload"]["user"]["Password"] == R
    assert event["payload"]["user"]["profile"][0]["API_KEY"] == R
    assert event["payload"]["user"]["profile"][1][0]["Set-Cookie"] == R
    assert event["payload"]["headers"]["Authorization"] == R  # the whole value, even a dict
    assert event["Token"] == R
    text = file_log.path.read_text()
    for leak in ("p1", "k1", "c1", "a1", "t1"):
        assert f'"{leak}"' not in text


def test_bound_and_context_fields_are_redacted(file_log: FileLog) -> None:
    """Fields bound with bind() and bound_contextvars() are masked like call fields."""
    log = file_log.logger.bind(session="s-1", meta={"secret": "s-2"}, ok="yes")
    with bound_contextvars(cookie="c-1", ctx={"PASSWD": "c-2"}):
        log.info("m", n=1)
    event = file_log.one()
    assert (event["session"], event["meta"], event["cookie"], event["ctx"]) == (
        R,
        {"secret": R},
        R,
        {"PASSWD": R},
    )
    assert event["ok"] == "yes"
    text = file_log.path.read_text()
    assert "s-1" not in text
    assert "s-2" not in text
    assert "c-1" not in text
    assert "c-2" not in text


def test_clashing_fields_are_redacted_too(file_log: FileLog) -> None:
    """The merged path (a call field replacing a bound one) masks denied names as well."""
    with bound_contextvars(token="ctx"):
        file_log.logger.bind(token="bound").info("m", token="call")
    assert file_log.one()["token"] == R
    assert "call" not in file_log.path.read_text()


def test_redaction_can_be_turned_off(make_file_log: Callable[..., FileLog]) -> None:
    """redaction={"enabled": False} writes every field as it is."""
    log = make_file_log(redaction={"enabled": False})
    log.logger.bind(token="b").info("m", password="p", nested={"secret": "s"})
    assert log.one() | {"timestamp": 0} == {
        "timestamp": 0,
        "level": "info",
        "logger": "test",
        "message": "m",
        "token": "b",
        "password": "p",
        "nested": {"secret": "s"},
    }


def test_custom_fields_and_replacement(make_file_log: Callable[..., FileLog]) -> None:
    """The configured names replace the list; the configured replacement is written."""
    log = make_file_log(redaction={"fields": ["customer_ref"], "replacement": "<hidden>"})
    with bound_contextvars(customer_ref="ctx-ref"):
        log.logger.info("m", Customer_Ref="x", password="visible")
    event = log.one()
    assert event["Customer_Ref"] == "<hidden>"
    assert event["customer_ref"] == "<hidden>"
    assert event["password"] == "visible"


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_value_patterns_mask_secrets_in_values_and_messages(
    make_file_log: Callable[..., FileLog], kind: str
) -> None:
    """Each built-in pattern masks its secret in a message, a value and a nested value."""
    log = make_file_log(redaction={"builtin": [kind]})
    secret = SECRETS[kind]
    log.logger.info(f"saw {secret} here", note=f"x {secret} y", deep={"a": [secret]})
    event = log.one()
    assert LEAKS[kind] not in log.path.read_text()
    assert event["message"].startswith("saw ")
    assert R in event["message"]
    assert R in event["note"]
    assert R in event["deep"]["a"][0]


def test_patterns_are_off_by_default(file_log: FileLog) -> None:
    """Without presets or patterns, values are not scanned (field names only)."""
    file_log.logger.info(f"mail {SECRETS['email']}", card=CARD)
    event = file_log.one()
    assert event["message"] == f"mail {SECRETS['email']}"
    assert event["card"] == CARD


def test_card_numbers_need_the_luhn_check(make_file_log: Callable[..., FileLog]) -> None:
    """Digit runs that fail the Luhn check (order numbers) are left alone."""
    log = make_file_log(redaction={"builtin": ["card"]})
    log.logger.info("m", good="5500-0000-0000-0004", bad="4111 1111 1111 1112", short="1234 5678")
    event = log.one()
    assert event["good"] == R
    assert event["bad"] == "4111 1111 1111 1112"
    assert event["short"] == "1234 5678"


def test_url_credentials_keep_the_rest_of_the_url(make_file_log: Callable[..., FileLog]) -> None:
    """Only user:password is replaced; scheme and host stay readable."""
    log = make_file_log(redaction={"builtin": ["url_credentials"]})
    log.logger.info("m", dsn=SECRETS["url_credentials"])
    assert log.one()["dsn"] == f"postgres://{R}@db.internal:5432/app"


def test_user_patterns_and_exception_messages(make_file_log: Callable[..., FileLog]) -> None:
    """User regexes apply to exception messages and tracebacks as well."""
    log = make_file_log(redaction={"patterns": [r"acct-\d{6}"]})
    try:
        raise ValueError("cannot charge acct-123456")
    except ValueError:
        log.logger.exception("failed for acct-654321")
    event = log.one()
    text = log.path.read_text()
    assert "123456" not in text
    assert "654321" not in text
    assert event["exception"]["message"] == f"cannot charge {R}"


def test_an_invalid_native_pattern_names_its_index() -> None:
    """Pipeline(redaction=...) refuses a bad regex, naming redaction.patterns[i]."""
    with pytest.raises(ValueError, match=r"redaction\.patterns\[1\]"):
        Pipeline(sinks=[{"type": "null"}], redaction={"patterns": ["ok", "(unclosed"]})
    with pytest.raises(ValueError, match="unknown built-in pattern"):
        Pipeline(sinks=[{"type": "null"}], redaction={"builtin": ["nope"]})
    with pytest.raises(ValueError, match="no setting"):
        Pipeline(sinks=[{"type": "null"}], redaction={"field": ["x"]})


def test_settings_refuse_invalid_patterns_and_contradictions() -> None:
    """A regex the native encoder cannot compile (look-around) is a settings error by index."""
    with pytest.raises(SettingsError, match=r"redaction\.patterns\[1\]"):
        Settings(redaction={"patterns": ["fine", "(?<=x)y"]})
    with pytest.raises(SettingsError, match="enabled is false"):
        Settings(redaction={"enabled": False, "fields": ["x"]})
    with pytest.raises(SettingsError):
        Settings(redaction={"presets": ["nope"]})


async def test_presets_from_settings(tmp_path: Path) -> None:
    """presets=["pci", "credentials"] through Container.create masks their names and patterns."""
    path = tmp_path / "app.log"
    settings = {
        "sinks": [{"type": "file", "path": str(path)}],
        "redaction": {"presets": ["pci", "credentials"], "fields": ["internal_note"]},
    }
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        log.info(f"paid with {CARD}", cvc="123", access_token="at", internal_note="n", ok=1)
        await log.flush()
    event = json.loads(path.read_text())
    assert event["message"] == f"paid with {R}"
    assert (event["cvc"], event["access_token"], event["internal_note"], event["ok"]) == (
        R,
        R,
        R,
        1,
    )
    assert "pan" in PRESETS["pci"].fields
    assert "card" in PRESETS["pci"].patterns


async def test_redaction_disabled_from_settings(tmp_path: Path) -> None:
    """redaction.enabled = false in Settings turns the default deny-list off."""
    path = tmp_path / "app.log"
    settings = {"sinks": [{"type": "file", "path": str(path)}], "redaction": {"enabled": False}}
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        log.info("m", password="visible")
        await log.flush()
    assert json.loads(path.read_text())["password"] == "visible"


def test_context_fields_follow_each_pipelines_rules(
    make_file_log: Callable[..., FileLog],
) -> None:
    """One request context, two pipelines with different rules: each applies its own."""
    default = make_file_log("a.log")
    custom = make_file_log("b.log", redaction={"fields": ["tenant"], "replacement": "?"})
    with bound_contextvars(tenant="acme", token="t"):
        for _ in range(2):  # the second call reuses the context encoded for `custom`
            default.logger.info("m")
            custom.logger.info("m")
    assert [(e["tenant"], e["token"]) for e in default.lines()] == [("acme", R)] * 2
    assert [(e["tenant"], e["token"]) for e in custom.lines()] == [("?", "t")] * 2


class _Spy(pydantic.SecretStr):
    def get_secret_value(self) -> str:
        raise AssertionError("the encoder read the secret")


class _SpyBytes(pydantic.SecretBytes):
    def get_secret_value(self) -> bytes:
        raise AssertionError("the encoder read the secret")


class _Holder(pydantic.BaseModel):
    key: pydantic.SecretBytes


def test_secret_types_are_masked_without_reading_them(
    make_file_log: Callable[..., FileLog],
) -> None:
    """SecretStr and SecretBytes are masked even with redaction off, never unwrapped."""
    log = make_file_log(redaction={"enabled": False})
    log.logger.info(
        "m",
        s=_Spy("hunter2"),
        b=_SpyBytes(b"hunter3"),
        model=_Holder(key=pydantic.SecretBytes(b"hunter4")),
    )
    event = log.one()
    assert (event["s"], event["b"], event["model"]) == (
        "**********",
        "**********",
        {"key": "**********"},
    )
    assert "hunter" not in log.path.read_text()


@pytest.mark.parametrize("text", ["{0.__class__}", "%s %d", "{user_id}", "%(user_id)s", "{}"])
def test_message_text_is_never_interpreted(file_log: FileLog, text: str) -> None:
    """A message that looks like a format string is written verbatim, args-like fields or not."""
    file_log.logger.info(text, user_id=7, args=(1, 2), kwargs={"user_id": 8})
    file_log.logger.log("info", text, args=("x",))
    assert [e["message"] for e in file_log.lines()] == [text, text]


def test_the_public_logger_redacts_by_default(tmp_path: Path) -> None:
    """ferrolog's zero-config container masks the default deny-list."""
    path = tmp_path / "app.log"
    with Container.create_sync({"sinks": [{"type": "file", "path": str(path)}]}) as container:
        container.get_sync(Logger).info("login", user="ann", password="hunter2")
        assert container.get_sync(Pipeline).flush(10.0)
    assert json.loads(path.read_text())["password"] == R


def test_a_loggers_repr_masks_denied_bound_fields(file_log: FileLog) -> None:
    """repr(logger) shows denied bound fields masked: it may itself be logged."""
    log = file_log.logger.bind(password="hunter2", user="ann")
    assert "hunter2" not in repr(log)
    assert "ann" in repr(log)
