"""WebSockets: echo, close codes, refusals before the accept (403, or the app's answer)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from wsproto.events import CloseConnection

from symphony.httpd import Scope

from .helpers import exchange, responses, serving, ws_client

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def echo(scope: Scope, receive: Any, send: Any) -> None:
    """Echoes messages; "bye" closes with 4001; "boom" fails the app."""
    if scope["type"] != "websocket":
        raise RuntimeError
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "subprotocol": "chat"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message["text"] == "bye":
            await send({"type": "websocket.close", "code": 4001})
            return
        if message["text"] == "boom":
            raise ValueError("boom")
        await send({"type": "websocket.send", **{k: message[k] for k in ("text", "bytes")}})


async def test_httpd_websocket_echoes_text_and_bytes_and_closes_with_the_apps_code() -> None:
    async with serving(echo) as port, ws_client(port, ["chat"]) as ws:
        assert ws.accepted.subprotocol == "chat"  # type: ignore[attr-defined]
        await ws.send("hello")
        assert await ws.get() == "hello"
        await ws.send(b"\x00\x01" * 40_000)  # more than one read
        assert await ws.get() == b"\x00\x01" * 40_000
        await ws.send("bye")
        closed = await ws.get()
        assert isinstance(closed, CloseConnection) and closed.code == 4001


async def test_httpd_websocket_app_failure_closes_with_1011() -> None:
    async with serving(echo) as port, ws_client(port, ["chat"]) as ws:
        await ws.send("boom")
        closed = await ws.get()
        assert isinstance(closed, CloseConnection) and closed.code == 1011


async def test_httpd_websocket_close_cancelled_unsent_goes_out_as_the_app_ends() -> None:
    """The app's close, cancelled before a byte of it went out (wsproto counts it sent),
    is written as the app ends, instead of the 1011 the server would send."""

    async def cut_close(scope: Scope, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        with trio.CancelScope() as cut:
            cut.cancel()
            await send({"type": "websocket.close", "code": 4002})

    async with serving(cut_close) as port, ws_client(port) as ws:
        with trio.fail_after(0.5):  # less than the server's wait for a reply (CLOSE_WAIT)
            closed = await ws.get()
        assert isinstance(closed, CloseConnection) and closed.code == 4002, closed


async def test_httpd_websocket_refused_before_accept_is_403() -> None:
    async def refuse(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError
        await send({"type": "websocket.close"})

    async with serving(refuse) as port:
        [(status, _, _)] = responses(await exchange(port, UPGRADE))
    assert status == 403


async def test_httpd_websocket_refusal_may_be_the_apps_own_answer() -> None:
    async def refuse(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError
        assert "websocket.http.response" in scope["extensions"]
        headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
        await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": b"{}"})

    async with serving(refuse) as port:
        [(status, headers, body)] = responses(await exchange(port, UPGRADE))
    assert status == 401 and body == b"{}" and headers[b"connection"] == b"close"


async def test_httpd_websocket_client_leaving_is_a_1006_disconnect() -> None:
    codes: list[int] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError
        await receive()
        await send({"type": "websocket.accept"})
        codes.append((await receive())["code"])

    async with serving(app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(UPGRADE)
        assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 101 ")
        await stream.aclose()
        with trio.fail_after(5):
            while not codes:
                await trio.sleep(0.01)
    assert codes == [1006]


async def test_httpd_websocket_without_key_is_400() -> None:
    bad = UPGRADE.replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b"")
    async with serving(echo) as port:
        [(status, _, _)] = responses(await exchange(port, bad))
    assert status == 400


async def _plain(scope: Scope, receive: Any, send: Any) -> None:
    """Accepts without a subprotocol, then waits for the client to leave."""
    if scope["type"] != "websocket":
        raise RuntimeError
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def test_httpd_websocket_subprotocols_not_ascii_are_a_400(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = UPGRADE.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Protocol: \xff\r\n\r\n")
    async with serving(_plain) as port:
        [(status, headers, _)] = responses(await exchange(port, request, wait=2))
    assert status == 400 and headers[b"connection"] == b"close"
    assert not [r for r in caplog.records if r.name == "symphony.httpd" and r.exc_info]


@pytest.mark.parametrize(
    "offer",
    [
        b"permessage-deflate; server_max_window_bits=abc",
        b"permessage-deflate; client_max_window_bits=\xff",
        b"permessage-deflate; client_max_window_bits=99",
    ],
)
async def test_httpd_websocket_extension_offer_with_bad_parameters_is_declined(
    offer: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 7692: an offer with an invalid parameter is declined; the socket opens without."""
    request = UPGRADE.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: " + offer + b"\r\n\r\n")
    async with serving(_plain) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(request)
            raw = b""
            with trio.fail_after(5):
                while b"\r\n\r\n" not in raw:
                    raw += await stream.receive_some(65536)
    assert raw.startswith(b"HTTP/1.1 101 "), raw
    assert b"sec-websocket-extensions" not in raw.lower()
    assert not [r for r in caplog.records if r.name == "symphony.httpd" and r.exc_info]
