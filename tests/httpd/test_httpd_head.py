"""A plain answer's head is written by the server: the bytes h11 writes, without h11's
send; anything else (HEAD, 204, a stream, an app's Connection header, a body of another
length, a request that closes or upgrades, a bad header) still goes through h11. A plain
request's body received whole with its head is taken without h11's body events."""

from __future__ import annotations

from typing import Any

import h11
import pytest
import trio
import trio.testing

from symphony.httpd import Scope
from symphony.httpd._head import plain_head

from .helpers import exchange, responses, serving

DATE = (b"date", b"Fri, 27 Nov 2026 18:00:00 GMT")


def h11_bytes(
    request: bytes, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> bytes:
    """What h11 writes for this answer to ``request``."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(request)
    while not isinstance(conn.next_event(), h11.EndOfMessage):
        pass
    out = conn.send(h11.Response(status_code=status, headers=headers)) or b""
    out += conn.send(h11.Data(data=body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (201, [(b"content-type", b"application/json"), (b"content-length", b"5"), DATE]),
        (200, [(b"Content-Length", b"5"), (b"X-Thing", b"a  b\tc"), DATE]),
        (404, [(b"content-length", b"5"), (b"www-authenticate", b'Bearer realm="x"')]),
        (599, [(b"content-length", b"5"), (b"x-empty", b"")]),
    ],
)
def test_httpd_a_plain_head_is_what_h11_writes(
    status: int, headers: list[tuple[bytes, bytes]]
) -> None:
    request = b"POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    plain = plain_head(status, headers)
    assert plain is not None
    head, length = plain
    assert length == 5
    assert head + b"hello" == h11_bytes(request, status, headers, b"hello")


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (200, [(b"x", b"a\r\nInjected: 1"), (b"content-length", b"0")]),
        (200, [(b"x", b" padded"), (b"content-length", b"0")]),
        (200, [(b"bad name", b"v"), (b"content-length", b"0")]),
        (200, [(b"x", b"nul\x00"), (b"content-length", b"0")]),
        (200, [(b"content-length", b"1"), (b"content-length", b"1")]),
        (200, [(b"content-length", b"-1")]),
        (200, [(b"content-length", b"0"), (b"connection", b"close")]),
        (200, [(b"transfer-encoding", b"chunked")]),
        (200, [(b"content-type", b"text/plain")]),  # a stream
        (204, [(b"content-length", b"0")]),
        (304, [(b"content-length", b"0")]),
        (101, [(b"content-length", b"0")]),
        (200, [[b"content-length", b"0"]]),  # not pairs as ASGI has them: h11 takes them
        (200, [("content-length", "0")]),
    ],
)
def test_httpd_other_answers_are_left_to_h11(status: int, headers: list[Any]) -> None:
    assert plain_head(status, headers) is None
    assert plain_head(status, headers) is None  # a line checked once is not let through


class Sends:
    """Counts a server's h11 ``Connection.send`` calls and the events its
    ``next_event`` gives (h11's own code runs unchanged)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self.events: list[str] = []
        original, original_next = h11.Connection.send, h11.Connection.next_event

        def send(conn: h11.Connection, event: Any) -> Any:
            if conn.our_role is h11.SERVER:
                self.calls.append(type(event).__name__)
            return original(conn, event)

        def next_event(conn: h11.Connection) -> Any:
            event = original_next(conn)
            if conn.our_role is h11.SERVER and event is not h11.NEED_DATA:
                self.events.append(type(event).__name__)
            return event

        monkeypatch.setattr(h11.Connection, "send", send)
        monkeypatch.setattr(h11.Connection, "next_event", next_event)


async def plain_app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise RuntimeError("no lifespan here")
    while (await receive()).get("more_body"):
        pass
    body = scope["path"].encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    if scope["path"] == "/close":
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if scope["path"] == "/parts":
        await send({"type": "http.response.body", "body": b"/pa", "more_body": True})
        await send({"type": "http.response.body", "body": b"rts"})
    elif scope["path"] in ("/ended", "/toomuch"):  # ended as Quart ends every answer
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        rest = b"!" if scope["path"] == "/toomuch" else b""
        await send({"type": "http.response.body", "body": rest})
    else:
        await send({"type": "http.response.body", "body": body})


async def test_httpd_plain_answers_on_a_kept_connection_skip_h11_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sends = Sends(monkeypatch)
    requests = [
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /ended HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    async with serving(plain_app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            for request in requests:  # one after another, and then pipelined
                await stream.send_all(request)
                raw = await stream.receive_some(65536)
                while not responses(raw):
                    raw += await stream.receive_some(65536)
                assert responses(raw)[0][2] == request.split(b" ")[1]
        raw = await exchange(port, b"".join(requests) + b"GET /end HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [r[2] for r in responses(raw)] == [b"/a", b"/ended", b"/b", b"/c", b"/end"]
    assert sends.calls == []
    assert set(sends.events) <= {"Request", "ConnectionClosed"}  # bodies taken as they are


async def test_httpd_a_body_taken_whole_then_an_answer_through_h11(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sends = Sends(monkeypatch)
    post = b"POST /parts HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    async with serving(plain_app) as port:
        raw = await exchange(port, post + post + b"POST /close HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [r[2] for r in responses(raw)] == [b"/parts", b"/parts", b"/close"]
    assert set(sends.events) <= {"Request", "ConnectionClosed"}
    assert sends.calls.count("Response") == 3


async def test_httpd_a_body_not_all_in_is_read_through_h11(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    sends = Sends(monkeypatch)
    async with serving(plain_app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe")
            await trio.sleep(1)  # the server has read the first part
            await stream.send_all(b"lloGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
            raw = b""
            while len(responses(raw or b"x")) < 2:
                raw += await stream.receive_some(65536)
    assert [r[2] for r in responses(raw)] == [b"/b", b"/c"]
    assert "Data" in sends.events


@pytest.mark.parametrize(
    ("request_", "via_h11"),
    [
        (b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"GET /parts HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", True),
        (b"GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", True),
        (b"GET /old HTTP/1.0\r\n\r\n", True),
        (b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", False),
    ],
)
async def test_httpd_answers_that_are_not_plain_go_through_h11(
    monkeypatch: pytest.MonkeyPatch, request_: bytes, via_h11: bool
) -> None:
    sends = Sends(monkeypatch)
    async with serving(plain_app) as port:
        raw = await exchange(port, request_ + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n", wait=2)
    method = request_.split(b" ")[0]
    answers = responses(raw, [method, b"GET"])
    path = request_.split(b" ")[1]
    assert answers[0][0] == 200 and answers[0][2] == (b"" if method == b"HEAD" else path)
    assert ("Response" in sends.calls) == via_h11


async def test_httpd_more_body_than_declared_after_a_plain_one_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving(plain_app) as port:
        raw = await exchange(
            port, b"GET /toomuch HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\n\r\n"
        )
    assert [r[2] for r in responses(raw)] == [b"/toomuch"]  # and closed: /a not answered
    assert "more body than the Content-Length declared" in caplog.text
