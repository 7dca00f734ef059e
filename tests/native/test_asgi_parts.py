"""The native parts of `RequestContextMiddleware`: `request_fields` (headers, request id,
context fields), `begin_request`, `request_id` and `ResponseSend`, checked against the Python
the middleware used before (the reference below) and at their edges."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ferrolog._native import ResponseSend, begin_request, request_fields, request_id

KEY = b"x-request-id"
HEX32 = re.compile(r"[0-9a-f]{32}")

# --------------------------------------------------------------------------- the reference

_VALID_ID = re.compile(r"[A-Za-z0-9._~:/+=@-]{1,128}")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def reference(scope: Mapping[str, Any], key: bytes) -> tuple[str | None, dict[str, Any]]:
    """The middleware's Python before it went native: (the kept client id or None, the
    fields other than request_id)."""
    request_id = None
    traceparent = None
    for name, value in scope.get("headers") or ():
        if name == key:
            if request_id is None:
                candidate = value.decode("latin-1")
                if _VALID_ID.fullmatch(candidate):
                    request_id = candidate
        elif name == b"traceparent" and traceparent is None:
            traceparent = value.decode("latin-1")
    fields: dict[str, Any] = {"method": scope.get("method", ""), "path": scope.get("path", "")}
    client = scope.get("client")
    if client:
        fields["client"] = f"{client[0]}:{client[1]}"
    if traceparent is not None:
        match = _TRACEPARENT.fullmatch(traceparent.strip()[:55])
        if match is not None:
            version, trace_id, span_id, _ = match.groups()
            if version != "ff" and trace_id != "0" * 32 and span_id != "0" * 16:
                fields["trace_id"] = trace_id
                fields["span_id"] = span_id
    return request_id, fields


# --------------------------------------------------------------------------- strategies

_ID_CHARS = "ABCXYZabcxyz0189._~:/+=@-"
# Python's whitespace in latin-1 (what str.strip() removes), and some that is not.
_PADDING = st.sampled_from(
    [b"", b"", b" ", b"\t", b"\x0b\x0c\r\n", b"\x1c\x1f", b"\x85", b"\xa0", b"\x00"]
)


@st.composite
def traceparents(draw: st.DrawFn) -> bytes:
    """Mostly well-formed values, each part sometimes spoiled (all zeros, a digit short or
    long, uppercase), so that valid and invalid ones both come up often."""

    def hexes(n: int) -> str:
        kind = draw(st.sampled_from(["ok"] * 12 + ["zeros", "short", "long", "upper"]))
        size = {"short": n - 1, "long": n + 1}.get(kind, n)
        if kind == "zeros":
            return "0" * n
        text = draw(st.text(alphabet="0123456789abcdef", min_size=size, max_size=size))
        return text.upper() if kind == "upper" else text

    version = draw(st.sampled_from(["00", "00", "00", "ff", "0g", "random"]))
    if version == "random":
        version = hexes(2)
    sep = draw(st.sampled_from(["-", "-", "-", "_"]))
    body = f"{version}-{hexes(32)}{sep}{hexes(16)}-{hexes(2)}"
    tail = draw(st.sampled_from(["", "", "-extra", "0"]))
    return draw(_PADDING) + (body + tail).encode() + draw(_PADDING)


request_ids = st.one_of(
    st.text(alphabet=_ID_CHARS, min_size=1, max_size=130).map(str.encode),
    st.binary(max_size=140),
    st.sampled_from([b"", b"x" * 128, b"x" * 129, b"has space", b"new\nline", b"caf\xe9"]),
)
header_names = st.sampled_from([KEY, b"traceparent", b"host", b"X-Request-ID", b"accept"])


@st.composite
def header_lists(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    out = []
    for name in draw(st.lists(header_names, max_size=6)):
        if name == KEY:
            value = draw(request_ids)
        elif name == b"traceparent":
            value = draw(st.one_of(traceparents(), traceparents(), st.binary(max_size=60)))
        else:
            value = draw(st.binary(max_size=20))
        out.append((name, value))
    return out


clients = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["127.0.0.1", "::1", "h\xe9te"]), st.integers(0, 65535)),
)


# --------------------------------------------------------------------------- request_fields


@settings(max_examples=400, deadline=None)
@given(headers=header_lists(), client=clients, method=st.sampled_from(["GET", "POST", ""]))
def test_request_fields_match_the_python_they_replace(
    headers: list[tuple[bytes, bytes]], client: tuple[str, int] | None, method: str
) -> None:
    scope = {"type": "http", "method": method, "path": "/a/b", "headers": headers}
    if client is not None:
        scope["client"] = client
    kept, expected = reference(scope, KEY)
    fields, echoed, bound = request_fields(scope, KEY)
    rid = fields.pop("request_id")
    assert fields == expected
    assert list(fields) == list(expected)  # the same order, so the same JSON
    if kept is None:
        assert HEX32.fullmatch(rid), rid
    else:
        assert rid == kept
    assert echoed == rid.encode()
    assert type(bound).__name__ == "BoundContextVars"


@settings(max_examples=500, deadline=None)
@given(value=traceparents())
def test_traceparent_values_match_the_python_they_replace(value: bytes) -> None:
    scope = {"headers": [(b"traceparent", value), (b"traceparent", b"00-" + b"1" * 32 + b"-")]}
    _, expected = reference(scope, KEY)
    fields, _, _ = request_fields(scope, KEY)
    assert {k: fields[k] for k in ("trace_id", "span_id") if k in fields} == {
        k: expected[k] for k in ("trace_id", "span_id") if k in expected
    }


def test_the_first_valid_id_is_kept_and_an_invalid_one_skipped() -> None:
    scope = {"headers": [(KEY, b"bad id"), (KEY, b"good-1"), (KEY, b"good-2")]}
    fields, echoed, _ = request_fields(scope, KEY)
    assert fields["request_id"] == "good-1"
    assert echoed == b"good-1"


def test_headers_that_are_not_pairs_of_bytes_are_skipped() -> None:
    """A malformed header list (what a buggy server or test client might pass) does not fail
    the request: the malformed entries are passed over."""
    scope = {
        "headers": [
            ("x-request-id", "str-name"),
            (KEY, "str-value"),
            (KEY, b"a", b"three"),
            (KEY,),
            None,
            [KEY, b"from-a-list"],
        ],
        "client": ("10.0.0.1",),
    }
    fields, _, _ = request_fields(scope, KEY)
    assert fields["request_id"] == "from-a-list"
    assert "client" not in fields  # not a (host, port) pair
    fields, _, _ = request_fields({"headers": iter([(KEY, b"from-an-iterator")])}, KEY)
    assert fields["request_id"] == "from-an-iterator"


def test_a_scope_without_the_optional_keys() -> None:
    fields, echoed, _ = request_fields({}, KEY)
    assert fields == {"request_id": echoed.decode(), "method": "", "path": ""}
    fields, _, _ = request_fields({"method": None, "client": None, "headers": None}, KEY)
    assert fields["method"] is None
    assert "client" not in fields


def test_clients_are_written_as_python_formats_them() -> None:
    class Port(int):
        def __str__(self) -> str:
            return "port-seven"

    for client, text in [
        (("127.0.0.1", 8000), "127.0.0.1:8000"),
        (["::1", 1], "::1:1"),
        (("sock", None), "sock:None"),
        (("h", Port(7)), "h:port-seven"),
        (("h", -1), "h:-1"),
        (("h", 2**70), f"h:{2**70}"),
    ]:
        fields, _, _ = request_fields({"client": client}, KEY)
        assert fields["client"] == text


def test_the_binding_holds_its_own_copy_of_the_fields() -> None:
    """The fields dict goes into scope["state"], where the app may change it: the context
    that is bound does not change with it."""
    from ferrolog._native import context_var

    fields, _, bound = request_fields({"path": "/p", "headers": [(KEY, b"id-1")]}, KEY)
    fields["path"] = "/changed"
    with bound:
        bound_now = context_var.get().as_dict()
    assert bound_now["path"] == "/p"
    assert bound_now["request_id"] == "id-1"
    assert context_var.get(None) is None


# --------------------------------------------------------------------------- begin_request


def test_begin_request_leaves_the_fields_in_the_state_and_binds_a_copy() -> None:
    """The fields are request_fields' (same id echoed); the scope's state is made when
    missing and added to when present; the binding holds its own copy; the path comes back."""
    from ferrolog._native import context_var

    _, send = _recorder()
    headers = [(KEY, b"id-7"), (b"traceparent", b"00-" + b"ab" * 16 + b"-" + b"cd" * 8 + b"-01")]
    scope: dict[str, Any] = {"method": "GET", "path": "/q", "headers": headers}
    path, sender, app_send, bound = begin_request(scope, KEY, send, "ferrolog_request")
    assert path == "/q"
    fields = scope["state"]["ferrolog_request"]
    assert fields == request_fields(scope, KEY)[0]
    assert fields["request_id"] == "id-7"
    assert fields["trace_id"] == "ab" * 16
    fields["path"] = "/changed"
    with bound:
        assert context_var.get().as_dict()["path"] == "/q"
    assert app_send.__self__ is sender

    kept = {"user": 1}
    scope = {"path": "/r", "state": kept}
    path, *_ = begin_request(scope, KEY, send, "k")
    assert scope["state"] is kept
    assert set(kept) == {"user", "k"}
    assert path == "/r"
    assert begin_request({}, KEY, send, "k")[0] == ""  # no path: the field is empty


def test_begin_request_with_a_state_that_is_not_a_mapping_raises() -> None:
    """As `scope.setdefault("state", {})[key] = fields` did: a TypeError, nothing bound."""
    import pytest

    from ferrolog._native import context_var

    _, send = _recorder()
    with pytest.raises(TypeError):
        begin_request({"path": "/p", "state": None}, KEY, send, "k")
    assert context_var.get(None) is None


def test_the_send_begin_request_makes_is_the_sender_called_directly() -> None:
    """Each message through the builtin reaches the wrapped send once, the id is echoed on
    the start, the status and body bytes are kept, and the wrapped send's error and a bad
    message's error come back to the caller."""
    import pytest

    got, send = _recorder()
    _, sender, app_send, _ = begin_request({"headers": [(KEY, b"id-8")]}, KEY, send, "k")

    async def main() -> None:
        await app_send({"type": "http.response.start", "status": 202, "headers": []})
        await app_send({"type": "http.response.body", "body": b"12345"})
        with pytest.raises(TypeError):
            await app_send(None)  # not a message

    asyncio.run(main())
    assert got[0]["headers"] == [(KEY, b"id-8")]
    assert (sender.status, sender.sent) == (202, 5)
    assert len(got) == 2

    async def broken(message: Any) -> None:
        raise OSError("peer went away")

    _, _, app_send, _ = begin_request({}, KEY, broken, "k")
    with pytest.raises(OSError, match="peer went away"):
        asyncio.run(app_send({"type": "http.response.body", "body": b""}))
    with pytest.raises(TypeError):
        app_send()  # type: ignore[call-arg]  # METH_O: exactly one argument
    with pytest.raises(TypeError):
        app_send(1, 2)  # type: ignore[call-arg]


# --------------------------------------------------------------------------- request_id


def test_request_ids_are_hex_and_unique_across_many_pool_refills() -> None:
    ids = [request_id() for _ in range(3000)]  # about 12 refills of the 256-id pool
    assert all(HEX32.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)


_FORK_CHILD = """
import os, sys
from ferrolog._native import request_id

request_id()  # this thread's pool: just filled, 255 ids left in it
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    try:
        os.write(write, "".join(request_id() for _ in range(8)).encode())
    finally:
        os._exit(0)
os.close(write)
data = b""
while chunk := os.read(read, 4096):
    data += chunk
os.waitpid(pid, 0)
child = {data[i : i + 32].decode() for i in range(0, len(data), 32)}
parent = {request_id() for _ in range(255)}
print(len(child), len(child & parent))
"""


def test_a_forked_child_does_not_draw_from_its_parents_pool() -> None:
    """In a fresh interpreter (so the pool's state is known: one id drawn, 255 left), the
    child of a fork must not hand out any of the ids its parent goes on handing out."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _FORK_CHILD], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["8", "0"]


def test_request_ids_from_many_threads_do_not_repeat() -> None:
    import threading

    ids: list[list[str]] = [[] for _ in range(8)]

    def draw(out: list[str]) -> None:
        out.extend(request_id() for _ in range(600))

    threads = [threading.Thread(target=draw, args=(out,)) for out in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in ids for i in out]
    assert len(every) == len(set(every)) == 4800


# --------------------------------------------------------------------------- ResponseSend


def _recorder() -> tuple[list[Any], Any]:
    got: list[Any] = []

    async def send(message: Any) -> None:
        got.append(message)

    return got, send


def _drive(sender: ResponseSend, *messages: Any) -> None:
    async def main() -> None:
        for m in messages:
            await sender(m)

    asyncio.run(main())


def test_response_send_echoes_the_id_and_counts() -> None:
    got, send = _recorder()
    sender = ResponseSend(send, KEY, b"id-9")
    assert (sender.status, sender.sent) == (0, 0)
    start = {"type": "http.response.start", "status": 201, "headers": [(b"a", b"1")]}
    _drive(
        sender,
        start,
        {"type": "http.response.body", "body": b"abc", "more_body": True},
        {"type": "http.response.body", "body": b"de"},
        {"type": "http.response.body"},
    )
    assert got[0]["headers"] == [(b"a", b"1"), (KEY, b"id-9")]
    assert (sender.status, sender.sent) == (201, 5)
    assert len(got) == 4


def test_response_send_keeps_a_header_the_app_set() -> None:
    for headers in (
        [(b"X-Request-ID", b"the-apps")],
        [[b"x-request-id", b"the-apps"]],
    ):
        got, send = _recorder()
        _drive(
            ResponseSend(send, KEY, b"ours"),
            {"type": "http.response.start", "status": 200, "headers": headers},
        )
        assert len(got[0]["headers"]) == 1
        assert list(got[0]["headers"][0])[1] == b"the-apps"


def test_response_send_with_odd_messages() -> None:
    """A message mapping that is not a dict, a status given as text, headers as a tuple or
    missing, and message types it does not look at."""

    class Message(Mapping[str, Any]):
        def __init__(self, **items: Any) -> None:
            self.items_ = items

        def __getitem__(self, key: str) -> Any:
            return self.items_[key]

        def __setitem__(self, key: str, value: Any) -> None:
            self.items_[key] = value

        def __iter__(self) -> Iterator[str]:
            return iter(self.items_)

        def __len__(self) -> int:
            return len(self.items_)

    got, send = _recorder()
    sender = ResponseSend(send, KEY, b"id")
    _drive(
        sender,
        Message(type="http.response.start", status="404", headers=((b"a", b"b"),)),
        Message(type="http.response.body", body=b"xyz"),
        {"type": "http.response.trailers"},
    )
    assert sender.status == 404
    assert sender.sent == 3
    assert got[0]["headers"] == [(b"a", b"b"), (KEY, b"id")]
    got, send = _recorder()
    _drive(ResponseSend(send, KEY, b"id"), {"type": "http.response.start", "status": 200})
    assert got[0]["headers"] == [(KEY, b"id")]


def test_response_send_can_be_read_from_inside_the_send_it_wraps() -> None:
    """The wrapped send (or a message's `__int__`) may read `status` and `sent`: no borrow
    of the sender is held while they run."""
    seen: list[tuple[int, int]] = []
    holder: list[ResponseSend] = []

    async def send(message: Any) -> None:
        seen.append((holder[0].status, holder[0].sent))

    class Status:
        def __int__(self) -> int:
            seen.append((holder[0].status, holder[0].sent))
            return 204

    holder.append(ResponseSend(send, KEY, b"id"))
    _drive(
        holder[0],
        {"type": "http.response.start", "status": Status()},
        {"type": "http.response.body", "body": b"ab"},
    )
    assert seen == [(0, 0), (204, 0), (204, 2)]


def test_response_send_with_extreme_statuses_and_missing_parts() -> None:
    from http import HTTPStatus

    for status, kept in [
        (HTTPStatus.NOT_FOUND, 404),
        (10**30, 2**63 - 1),
        (-(10**30), -(2**63)),
        (True, 1),
    ]:
        got, send = _recorder()
        sender = ResponseSend(send, KEY, b"id")
        _drive(
            sender,
            {"type": "http.response.start", "status": status, "headers": None},
            {"type": "http.response.body", "body": None},
        )
        assert sender.status == kept
        assert sender.sent == 0
        assert got[0]["headers"] == [(KEY, b"id")]


def test_response_send_errors_say_what() -> None:
    sent: list[Any] = []

    def send(message: Any) -> Any:  # records the call itself, awaited or not
        sent.append(message)
        return asyncio.sleep(0)

    sender = ResponseSend(send, KEY, b"id")
    for bad, error in [
        ({}, KeyError),
        ({"type": "http.response.start"}, KeyError),
        ({"type": "http.response.start", "status": "two hundred"}, ValueError),
    ]:
        try:
            sender(bad)
        except error:
            pass
        else:
            raise AssertionError(f"{bad} did not raise {error.__name__}")
    assert sent == []  # a message that failed is not passed on


def test_a_cycle_through_response_send_is_collected() -> None:
    """The wrapped `send` may lead back to the ResponseSend (a server's send holds the scope,
    where an app may keep its request): the collector must be able to free that cycle."""
    import gc

    freed: list[bool] = []

    class Send:
        sender: ResponseSend | None = None

        async def __call__(self, message: Any) -> None:
            return None

        def __del__(self) -> None:
            freed.append(True)

    send = Send()
    send.sender = ResponseSend(send, KEY, b"id")
    del send
    gc.collect()
    assert freed == [True]


def test_the_middleware_with_a_scope_that_is_not_a_dict() -> None:
    """ASGI only promises a mapping: the middleware reads a copy, and leaves the request's
    fields in the mapping it was given."""
    import pytest

    pytest.importorskip("starlette", reason="ferrolog.fastapi needs Starlette")
    from collections import UserDict

    from ferrolog._native import context_var
    from ferrolog.fastapi import RequestContextMiddleware

    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(context_var.get().as_dict())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    got, send = _recorder()
    scope = UserDict({"type": "http", "method": "GET", "path": "/p", "headers": [(KEY, b"ud-1")]})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    asyncio.run(RequestContextMiddleware(app, access_log=False)(scope, receive, send))
    assert seen == {"request_id": "ud-1", "method": "GET", "path": "/p"}
    assert scope["state"]["ferrolog_request"]["request_id"] == "ud-1"
    assert got[0]["headers"] == [(KEY, b"ud-1")]
