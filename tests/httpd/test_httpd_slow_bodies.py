"""A body that trickles in cannot hold a connection: 408 after ``body_timeout`` plus a
second per ``body_min_rate`` bytes received, whatever the app's own limits; a large
body sent at a fair pace is not cut off."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from symphony.httpd import Message, Scope, ServerSettings

from .helpers import echo_app, responses, serving


async def _send_slowly(port: int, size: int, piece: int, pause: float) -> tuple[bytes, float]:
    """A POST whose ``size``-byte body goes ``piece`` bytes every ``pause`` seconds;
    the raw answer and when the connection ended (virtual seconds after the head)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    head = f"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode()
    async with stream:
        await stream.send_all(head)
        start = ended = trio.current_time()
        raw = b""

        async def read() -> None:
            nonlocal raw, ended
            try:
                while chunk := await stream.receive_some(65536):
                    raw += chunk
            except trio.BrokenResourceError:
                pass
            ended = trio.current_time()
            nursery.cancel_scope.cancel()  # the server closed: stop sending

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            try:
                for sent in range(0, size, piece):
                    await trio.sleep(pause)
                    await stream.send_all(b"x" * min(piece, size - sent))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the server gave up on it and closed
        return raw, ended - start


async def test_httpd_a_body_sent_a_byte_now_and_then_gets_a_408(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[str] = []

    async def patient_app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        while True:  # no timeout of its own
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                seen.append("disconnect")
                return
            if not message.get("more_body"):
                break
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async with serving(patient_app, body_timeout=60, body_min_rate=1024) as port:
        raw, took = await _send_slowly(port, size=100, piece=1, pause=5)
    [(status, headers, _)] = responses(raw, [b"POST"])
    assert status == 408 and headers[b"connection"] == b"close"
    assert seen == ["disconnect"]
    assert 60 <= took < 66  # 60 s, and a second per KiB received (12 bytes)


async def test_httpd_a_large_body_at_a_fair_pace_is_not_cut_off(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serving(echo_app, body_timeout=5, body_min_rate=1000) as port:
        # 20 s for 20,000 bytes: longer than body_timeout, faster than the rate.
        raw, _ = await _send_slowly(port, size=20_000, piece=1_000, pause=0.9)
    [(status, _, body)] = responses(raw, [b"POST"])
    assert status == 200 and body == b"POST /up " + b"x" * 20_000


def test_httpd_a_body_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="body_min_rate"):
        ServerSettings(body_min_rate=0)
