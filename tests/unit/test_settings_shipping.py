"""Settings of the shipping sinks: defaults, validation errors that name the field, secrets
kept secret, and the native specs they become."""

from __future__ import annotations

import pytest

from ferrolog import Settings
from ferrolog._pipeline import pipeline_options
from ferrolog.config import HttpSink, SettingsError, SyslogSink


def test_syslog_defaults_to_the_local_socket() -> None:
    """Without an address the sink writes to /dev/log over a unix socket, facility user."""
    sink = Settings(sinks=[{"type": "syslog"}]).sinks[0]
    assert isinstance(sink, SyslogSink)
    assert (sink.address, sink.transport, sink.facility, sink.format) == (
        "/dev/log",
        None,
        "user",
        "rfc5424",
    )


@pytest.mark.parametrize(
    ("sink", "where"),
    [
        ({"type": "syslog", "address": "localhost", "transport": "tcp"}, "host:port"),
        ({"type": "syslog", "address": "h:99999", "transport": "udp"}, "host:port"),
        ({"type": "syslog", "address": "h:514", "transport": "unix"}, "socket path"),
        ({"type": "syslog", "facility": "local9"}, "facility"),
        ({"type": "syslog", "facility": 24}, "facility"),
        ({"type": "http", "url": "ftp://h/"}, "url"),
        ({"type": "http", "url": "http://h/", "format": "xml"}, "format"),
        ({"type": "http", "url": "http://h/", "headers": {"Bad Name": "v"}}, "header name"),
        ({"type": "http", "url": "http://h/", "headers": {"X": "a\r\nY: b"}}, "line breaks"),
        ({"type": "http", "url": "http://h/", "max_buffer_bytes": 10}, "max_buffer_bytes"),
        ({"type": "http", "url": "http://h/", "surprise": 1}, "surprise"),
    ],
)
def test_invalid_settings_name_the_problem(sink: dict[str, object], where: str) -> None:
    """Each invalid value is a SettingsError that names it."""
    with pytest.raises(SettingsError, match=where):
        Settings(sinks=[sink])


def test_http_specs_keep_secrets_as_secretstr() -> None:
    """The native spec carries the token and header values as SecretStr objects (read by the
    native side), so the options' repr never shows them."""
    settings = Settings(
        sinks=[
            {
                "type": "http",
                "url": "http://collector:4318",
                "format": "otlp",
                "token": "tok-123",
                "headers": {"DD-API-KEY": "key-456"},
                "resource": {"service.name": "svc", "replicas": 3},
            }
        ]
    )
    sink = settings.sinks[0]
    assert isinstance(sink, HttpSink)
    assert sink.verify_tls is True
    (spec,) = pipeline_options(settings)["sinks"]
    assert spec["type"] == "http"
    assert spec["resource"] == {"service.name": "svc", "replicas": 3}
    shown = repr(spec)
    assert "tok-123" not in shown
    assert "key-456" not in shown
    assert spec["token"].get_secret_value() == "tok-123"
