"""Real peers for the shipping sinks' tests: an HTTP server the test scripts (slow responses,
500s, 429 with Retry-After, connection resets) and an rsyslogd on loopback with a generated
config. Deadlines here are failures, never paces."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: The longest any wait for a peer may take before the test fails (a loaded 2-core machine).
DEADLINE = 60.0


def wait_for(cond: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Poll ``cond`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Request:
    """One request the server read whole."""

    path: str
    headers: dict[str, str]
    body: bytes  # decoded when gzipped


@dataclass
class HttpPeer:
    """A local HTTP server whose next responses the test scripts.

    ``script`` holds actions for the next requests (``"ok"``, ``"500"``, ``"429:SECONDS"``,
    ``"reset"``, ``"slow:SECONDS"``, ``"401"``); when it is empty, ``default`` applies.
    ``accepted`` holds the requests answered with 2xx, ``seen`` every request read.
    """

    default: str = "ok"
    script: deque[str] = field(default_factory=deque)
    accepted: list[Request] = field(default_factory=list)
    seen: list[Request] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: http.server.ThreadingHTTPServer | None = None
    #: Serve https with this context (the handshake happens at accept).
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        self.gate.set()
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                with peer.lock:
                    action = peer.script.popleft() if peer.script else peer.default
                if action == "reset":
                    # Close with RST before reading the body: nothing was taken.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                request = Request(self.path, dict(self.headers.items()), raw)
                peer.gate.wait(DEADLINE)
                status, extra = 200, {}
                if action.startswith("slow:"):
                    time.sleep(float(action[5:]))
                elif action == "500":
                    status = 500
                elif action == "401":
                    status = 401
                elif action.startswith("429:"):
                    status, extra = 429, {"Retry-After": action[4:]}
                with peer.lock:
                    peer.seen.append(request)
                    if status < 300:
                        peer.accepted.append(request)
                body = b"{}" if status < 300 else b'{"error":"scripted"}'
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        assert self.server is not None
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def lines(self) -> list[bytes]:
        """Every NDJSON line of the accepted requests, in arrival order."""
        with self.lock:
            return [line for r in self.accepted for line in r.body.splitlines() if line]

    def close(self) -> None:
        self.gate.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def make_certificates(directory: Path) -> tuple[Path, Path, Path] | None:
    """A test CA and a server certificate it signed for 127.0.0.1 and localhost, made with
    the openssl command: (ca.pem, server.pem, server.key), or None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    ext = directory / "server.ext"
    ext.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = [
        [openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=ferrolog test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [openssl, "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        [openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ]  # fmt: skip
    for argv in run:
        subprocess.run([str(a) for a in argv], check=True, capture_output=True)
    return ca, cert, key


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on now (TCP and UDP are checked together)."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, other) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def rsyslogd_path() -> str | None:
    """Where rsyslogd is (often /usr/sbin, outside a user's PATH), or None."""
    found = shutil.which("rsyslogd")
    if found:
        return found
    for candidate in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


_TEMPLATE = """
global(workDirectory="{dir}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
input(type="imuxsock" Socket="{dir}/log.sock" UseSpecialParser="off" ParseHostname="on")
template(name="fields" type="list") {{
  property(name="pri") constant(value="|")
  property(name="hostname") constant(value="|")
  property(name="app-name") constant(value="|")
  property(name="procid") constant(value="|")
  property(name="structured-data") constant(value="|")
  property(name="msg") constant(value="\\n")
}}
*.* action(type="omfile" file="{dir}/out.log" template="fields")
"""


@dataclass
class Message:
    """One message as rsyslog parsed it."""

    pri: int
    hostname: str
    app_name: str
    procid: str
    structured_data: str
    msg: str


class Rsyslog:
    """An unprivileged rsyslogd on loopback: UDP and TCP on free ports, a unix socket, every
    message's parsed fields written to a file."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.dir = directory
        self.udp = free_port(socket.SOCK_DGRAM)
        self.tcp = free_port()
        self.socket = str(directory / "log.sock")
        self.out = directory / "out.log"
        self.conf = directory / "rsyslog.conf"
        self.conf.write_text(_TEMPLATE.format(dir=directory, udp=self.udp, tcp=self.tcp))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start rsyslogd and wait until its TCP port and unix socket take connections."""
        pidfile = self.dir / "rsyslogd.pid"
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()
        self.proc = subprocess.Popen(
            [self.binary, "-n", "-f", str(self.conf), "-i", str(pidfile)],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "rsyslogd.err", "ab"),  # noqa: SIM115
        )

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                err = (self.dir / "rsyslogd.err").read_text(errors="replace")
                raise AssertionError(f"rsyslogd exited with {self.proc.returncode}: {err}")
            try:
                socket.create_connection(("127.0.0.1", self.tcp), timeout=1).close()
            except OSError:
                return False
            return os.path.exists(self.socket)

        wait_for(ready, "rsyslogd to listen")

    def stop(self) -> None:
        """Stop rsyslogd (SIGTERM) and wait for it to exit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def messages(self, app_name: str | None = None) -> list[Message]:
        """The messages written so far (those of ``app_name`` only, when given)."""
        try:
            text = self.out.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            parts = line.split("|", 5)
            if len(parts) != 6 or not line.endswith("}"):
                continue  # a line being written
            pri, host, app, procid, sd, msg = parts
            m = Message(int(pri), host, app, procid, sd, msg.lstrip(" "))
            if app_name is None or m.app_name == app_name:
                out.append(m)
        return out
