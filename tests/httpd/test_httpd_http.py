"""The HTTP/1.1 cycle: keep-alive, pipelining, HEAD, 100-continue, chunked, the scope."""

from __future__ import annotations

from typing import Any

import trio

from symphony.httpd import Message, Scope

from .helpers import echo_app, exchange, responses, serving


async def test_httpd_pipelined_requests_are_answered_in_order() -> None:
    async with serving(echo_app) as port:
        raw = await exchange(
            port,
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    assert [r[2] for r in responses(raw)] == [b"GET /a ", b"POST /b hello", b"GET /c "]


async def test_httpd_keep_alive_serves_one_request_after_another() -> None:
    async with serving(echo_app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            for n in range(3):
                await stream.send_all(f"GET /{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                raw = await stream.receive_some(65536)
                assert responses(raw)[0][2] == f"GET /{n} ".encode()


async def test_httpd_http10_is_answered_then_closed() -> None:
    async with serving(echo_app) as port:
        raw = await exchange(port, b"GET /old HTTP/1.0\r\n\r\n", wait=2)
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b"GET /old ")


async def test_httpd_head_sends_no_body() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        headers = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})

    async with serving(app) as port:
        raw = await exchange(
            port,
            b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    (head, got) = responses(raw, [b"HEAD", b"GET"])
    assert head[0] == 200 and head[1][b"content-length"] == b"5" and head[2] == b""
    assert got[2] == b"hello"


async def test_httpd_chunked_request_and_streamed_response() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:  # each part of the body goes back as it came, unframed: chunked
            message = await receive()
            await send({"type": "http.response.body", "body": message["body"], "more_body": True})
            if not message["more_body"]:
                break
        await send({"type": "http.response.body", "body": b"!"})

    async with serving(app) as port:
        raw = await exchange(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
    [(status, headers, body)] = responses(raw)
    assert status == 200 and headers[b"transfer-encoding"] == b"chunked" and body == b"abcde!"


async def test_httpd_expect_100_continue_when_the_app_reads_the_body() -> None:
    async with serving(echo_app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(
                b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
            )
            assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 100 ")
            await stream.send_all(b"ok")
            raw = await stream.receive_some(65536)
    assert responses(raw)[0][2] == b"POST /up ok"


async def test_httpd_scope_has_the_fields_hypercorn_fills() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
                scope["state"]["ready"] = True
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body"})

    async with serving(app) as port:
        await exchange(
            port, b"GET /a%20b/%C3%A9?x=1&y HTTP/1.1\r\nHost: h\r\nX-Up: V\r\n\r\n", wait=0.5
        )
    [scope] = seen
    assert scope["type"] == "http" and scope["asgi"]["version"] == "3.0"
    assert scope["http_version"] == "1.1" and scope["method"] == "GET"
    assert scope["scheme"] == "http" and scope["root_path"] == ""
    assert scope["path"] == "/a b/é" and scope["raw_path"] == b"/a%20b/%C3%A9"
    assert scope["query_string"] == b"x=1&y"
    assert scope["headers"] == [(b"host", b"h"), (b"x-up", b"V")]
    assert scope["client"][0] == "127.0.0.1" and scope["server"] == ("127.0.0.1", port)
    assert scope["state"] == {"ready": True}


async def test_httpd_app_sees_the_client_leave_while_it_streams() -> None:
    left = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        message: Message = await receive()
        assert message == {"type": "http.request", "body": b"", "more_body": False}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        assert (await receive())["type"] == "http.disconnect"  # waits for the client
        left.set()

    async with serving(app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = b""
        while b"first" not in raw:  # the head comes at once, the part after it
            raw += await stream.receive_some(65536)
        await stream.aclose()
        with trio.fail_after(5):
            await left.wait()


async def test_httpd_stream_head_is_sent_before_its_first_part() -> None:
    go = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await go.wait()  # an event stream with nothing to say yet
        await send({"type": "http.response.body", "body": b"data: 1\n\n"})

    async with serving(app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
            with trio.fail_after(5):
                head = await stream.receive_some(65536)
            assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
            go.set()
            assert b"data: 1" in await stream.receive_some(65536)
