"""Slow and stuck clients cost only their own connection: others are served at once."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from symphony.httpd import Scope

from .helpers import echo_app, exchange, responses, serving

GOOD = b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
HEAD = b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 200 + b"\r\n\r\n"


async def _dribble(port: int, answers: list[bytes]) -> None:
    """A slowloris: a request head one byte a (virtual) second, then read the answer."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        try:
            for n in range(len(HEAD)):
                await stream.send_all(HEAD[n : n + 1])
                await trio.sleep(1)
        except trio.BrokenResourceError:  # the server gave up on it and closed
            pass
        raw = b""
        try:
            while chunk := await stream.receive_some(65536):
                raw += chunk
        except trio.BrokenResourceError:
            pass
        answers.append(raw)


async def test_httpd_many_stalled_heads_do_not_delay_a_good_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    answers: list[bytes] = []
    async with serving(echo_app, head_timeout=10) as port, trio.open_nursery() as nursery:
        for _ in range(150):
            nursery.start_soon(_dribble, port, answers)
        silent = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(50)]
        await trio.sleep(2.5)  # all of them mid-head (or not begun) by now
        start = trio.current_time()
        assert responses(await exchange(port, GOOD))[0][2] == b"GET /ok "
        assert trio.current_time() - start < 1  # served at once, no timeout waited for
        with trio.fail_after(10):  # the head timeout ends every slow head
            while len(answers) < 150:
                await trio.sleep(0.5)
        assert trio.current_time() - start < 10
        for stream in silent:
            await stream.aclose()
    assert all(raw == b"" or responses(raw)[0][0] == 408 for raw in answers)
    assert sum(1 for raw in answers if raw) > 100  # those the reset did not cut short


async def test_httpd_a_client_that_never_reads_its_stream_does_not_block_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Its response stops in the socket's buffers; the others, and the stop, go on."""
    sent: list[int] = []
    total = 256 << 20

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        if scope["path"] != "/big":
            await echo_app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        part = b"x" * 65536
        while sum(sent) < total:
            await send({"type": "http.response.body", "body": part, "more_body": True})
            sent.append(len(part))
        await send({"type": "http.response.body", "body": b""})

    async with serving(app, graceful_timeout=1, write_timeout=60) as port:
        reader = await trio.open_tcp_stream("127.0.0.1", port)
        await reader.send_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        with trio.fail_after(30):
            before = -1
            while sum(sent) != before:  # until a (virtual) second passes with no way made
                before = sum(sent)
                await trio.sleep(1)
        assert sent
        for n in range(5):
            raw = await exchange(port, f"GET /{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), wait=1)
            assert responses(raw)[0][2] == f"GET /{n} ".encode()
        assert sum(sent) < total
        stop_at = trio.current_time()
    assert trio.current_time() - stop_at < 2  # the stop cut the stuck response off
    await reader.aclose()


async def test_httpd_a_client_that_stops_reading_is_cut_off_after_write_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A write that makes no way for ``write_timeout`` ends the connection: the app's
    later sends go nowhere and its ``receive()`` says the client left."""
    finished = trio.Event()
    seen: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        part = b"x" * 65536
        for _ in range(4096):  # 256 MiB: far more than the socket buffers hold
            await send({"type": "http.response.body", "body": part, "more_body": True})
        seen.append((await receive())["type"])
        finished.set()

    async with serving(app, write_timeout=30) as port:
        reader = await trio.open_tcp_stream("127.0.0.1", port)
        await reader.send_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        start = trio.current_time()
        with trio.fail_after(60):
            await finished.wait()
        assert 30 <= trio.current_time() - start < 32
        assert seen == ["http.disconnect"]
        await reader.aclose()


async def test_httpd_an_accepted_websocket_has_no_write_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A tunnel's reader may pause: its socket waits, it is not cut off."""
    sent: list[int] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError("no lifespan here")
        await receive()
        await send({"type": "websocket.accept"})
        for _ in range(4096):  # 256 MiB
            await send({"type": "websocket.send", "bytes": b"x" * 65536})
            sent.append(1)
        done.set()

    upgrade = (
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    async with serving(app, write_timeout=1, graceful_timeout=1) as port:
        reader = await trio.open_tcp_stream("127.0.0.1", port)
        await reader.send_all(upgrade)
        before = -1
        while len(sent) != before:  # until a (virtual) second passes with no way made
            before = len(sent)
            await trio.sleep(1)
        await trio.sleep(30)
        assert len(sent) == before and not done.is_set()  # waiting, not cut off
        await reader.aclose()
