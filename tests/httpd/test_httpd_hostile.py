"""Hostile and broken clients fail only their own connection, with the status HTTP says."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
import trio

from symphony.httpd import Scope

from .helpers import echo_app, exchange, responses, serving

GOOD = b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET /%FF%FE HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # not UTF-8 once decoded
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 3000 + b"\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        # Framed two ways: a proxy in front may have taken the other (smuggling).
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        # A tunnel: h11 would switch protocols on the app's 2xx, then refuse its body.
        (b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 501),
    ],
    ids=[
        "line",
        "no-colon",
        "name",
        "no-host",
        "length",
        "two-lengths",
        "utf8",
        "big",
        "long-url",
        "many-headers",
        "negative-length",
        "length-and-chunks",
        "connect",
    ],
)
async def test_httpd_malformed_request_is_refused_in_json_and_others_are_served(
    request_bytes: bytes, status: int
) -> None:
    async with serving(echo_app) as port:
        with trio.fail_after(2):  # at once: no timeout of the server's is waited for
            raw = await exchange(port, request_bytes)
        [(got, headers, body)] = responses(raw)
        assert got == status and headers[b"connection"] == b"close"
        assert headers[b"content-type"] == b"application/json"
        answer = json.loads(body)
        assert set(answer) == {"error", "detail"} and answer["detail"], answer
        assert responses(await exchange(port, GOOD))[0][2] == b"GET /ok "


async def test_httpd_a_refused_head_request_gets_no_body() -> None:
    async with serving(echo_app) as port:
        raw = await exchange(port, b"HEAD /%FF HTTP/1.1\r\nHost: x\r\n\r\n")
    [(status, headers, body)] = responses(raw, [b"HEAD"])
    assert status == 400 and body == b"" and int(headers[b"content-length"]) > 0
    assert raw.endswith(b"\r\n\r\n")  # nothing after the head


async def test_httpd_body_framed_two_ways_closes_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """RFC 9112 6.3: such a request may be smuggling one in its body; the connection
    closes after the answer, here at once (it was answered, and kept open)."""
    async with serving(echo_app, keep_alive_timeout=5) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        request = (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        await stream.send_all(request + GOOD)
        raw = b""
        with trio.fail_after(1):  # virtual seconds
            while chunk := await stream.receive_some(65536):
                raw += chunk
        assert [status for status, _, _ in responses(raw)] == [400]
        await stream.aclose()


async def test_httpd_a_length_past_what_the_app_takes_closes_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The app refuses a body by its declared length, unread: the connection closes after
    the answer, which says so, without waiting for a body it would not read anyway."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        headers = [(b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body"})

    async with serving(app, head_timeout=10) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"
        )
        raw = b""
        with trio.fail_after(1):  # virtual seconds
            while chunk := await stream.receive_some(65536):
                raw += chunk
        [(status, headers, _)] = responses(raw, [b"POST"])
        assert status == 413 and headers[b"connection"] == b"close"
        await stream.aclose()


async def test_httpd_bad_chunked_framing_is_400() -> None:
    async with serving(echo_app) as port:
        raw = await exchange(
            port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n"
        )
        assert responses(raw)[0][0] == 400
        assert responses(await exchange(port, GOOD))[0][0] == 200


async def test_httpd_client_closing_mid_body_is_a_disconnect() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        while True:
            message = await receive()
            if scope["method"] == "POST":
                seen.append(message["type"])
            if not message.get("more_body"):
                return

    async with serving(app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        await trio.sleep(0.2)
        await stream.aclose()
        await trio.sleep(0.2)
        assert responses(await exchange(port, GOOD))[0][0] == 500  # the app gave no answer
    assert seen == ["http.request", "http.disconnect"]


async def test_httpd_slow_request_head_is_timed_out(autojump_clock: trio.testing.MockClock) -> None:
    async with serving(echo_app, head_timeout=10) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET / HTTP/1.1\r\nHost")
        with trio.fail_after(11):  # virtual seconds
            raw = b""
            while chunk := await stream.receive_some(65536):
                raw += chunk
        assert responses(raw)[0][0] == 408
        await stream.aclose()


async def test_httpd_idle_connection_is_closed(autojump_clock: trio.testing.MockClock) -> None:
    async with serving(echo_app, keep_alive_timeout=5) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        start = trio.current_time()
        assert await stream.receive_some(10) == b""
        assert 5 <= trio.current_time() - start < 6
        await stream.aclose()


async def test_httpd_app_failure_before_its_answer_is_500_and_close() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        raise ValueError("boom")

    async with serving(app) as port:
        raw = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + GOOD)
    [(status, headers, _)] = responses(raw)  # the pipelined second is not answered
    assert status == 500 and headers[b"connection"] == b"close"


async def test_httpd_app_failure_after_its_answer_began_closes_the_connection() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise ValueError("boom")

    async with serving(app) as port:
        raw = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200") and b"part" in raw
    assert responses(raw) == []  # the chunked body never ends: the client sees it cut


async def test_httpd_app_failure_after_a_head_not_yet_written_is_500() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        raise ValueError("boom")  # before its body: the head waits for it, unwritten

    async with serving(app) as port:
        [(status, _, _)] = responses(await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 500


async def test_httpd_early_answer_to_a_large_body_reaches_the_client() -> None:
    """As httpx does: the whole body sent (or its sending broken) before the answer is
    read. A socket closed with the body unread would be reset, the answer lost."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        headers = [(b"content-length", b"0")]  # refused without reading the body
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body"})

    async with serving(app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            body = b"x" * (1 << 20)
            head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
            with contextlib.suppress(trio.BrokenResourceError), trio.move_on_after(2):
                await stream.send_all(head.encode() + body)
            raw = b""
            with trio.fail_after(5):
                while b"\r\n\r\n" not in raw:
                    raw += await stream.receive_some(65536)
    assert raw.startswith(b"HTTP/1.1 413 ")
