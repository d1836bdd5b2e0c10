"""Generated hostile input against the real server: it answers well-formed or closes,
never hangs, never fails in its own code, and serves the next client right after."""

from __future__ import annotations

import contextlib
import itertools
import logging

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fuzzing import Captured, fuzz_app, parse_answers, payloads, server_thread
from .helpers import serving

GOOD = b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
#: Real seconds a client waits for the server to answer and close after its EOF: far
#: less than the timeouts, so a server that waits for one instead of the EOF is caught.
BOUND = 3.0
#: Virtual seconds a client that stays may wait: a head's timeout, the app's wait for a
#: body, the keep-alive timeout, for each of three pipelined requests, and some.
STAYING_BOUND = 3 * (10 + 5 + 5) + 10
#: 501 is HTTP's answer to a Transfer-Encoding it does not implement, not a failure.
SERVER_FAILURES = range(500, 600)
NOT_IMPLEMENTED = 501


async def _read_to_close(stream: trio.SocketStream) -> tuple[bytes, bool]:
    """All the server sends until it closes; whether the connection was reset."""
    raw = b""
    try:
        with trio.fail_after(BOUND):
            while chunk := await stream.receive_some(65536):
                raw += chunk
    except trio.BrokenResourceError:
        return raw, True
    return raw, False


async def _hostile(port: int, pieces: list[bytes], abort_at: int | None) -> tuple[bytes, bool]:
    """Send ``pieces`` one by one; abort after ``abort_at`` of them, or end with EOF and
    read the answer. What was read, and whether the connection broke on the way."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        for n, piece in enumerate(pieces):
            if n == abort_at:
                return b"", True
            try:
                await stream.send_all(piece)
            except trio.BrokenResourceError:  # the server answered and closed early
                break
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_eof()
        return await _read_to_close(stream)


async def _good(port: int) -> list[int]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(GOOD)
        raw, reset = await _read_to_close(stream)
    statuses, rest = parse_answers(raw)
    assert not reset and not rest and statuses == [200], raw
    assert raw.endswith(b"GET /ok "), raw
    return statuses


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % len(data) for c in cuts} | {0, len(data)}) if data else [0, 0]
    return [data[a:b] for a, b in itertools.pairwise(points)]


@pytest.mark.parametrize(
    "limits",
    [{}, {"read_size": 7, "max_head_size": 2048}],
    ids=["defaults", "tiny-reads"],  # tiny reads: every head and body parsed in pieces
)
def test_httpd_hostile_input_is_answered_or_closed_and_the_server_still_serves(
    limits: dict[str, int],
) -> None:
    with server_thread(head_timeout=10, keep_alive_timeout=10, **limits) as (port, log):

        @settings(
            max_examples=300,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            database=None,
        )
        @given(
            payload=payloads,
            cuts=st.lists(st.integers(0, 10_000), max_size=6),
            abort=st.one_of(st.none(), st.integers(0, 6)),
        )
        def check(payload: bytes, cuts: list[int], abort: int | None) -> None:
            pieces = _split(payload, cuts)
            raw, broken = trio.run(_hostile, port, pieces, abort)
            statuses, rest = parse_answers(raw)
            if not broken:  # a reset may cut an answer short; otherwise all is whole
                assert not rest, (raw, rest)
            failures = [s for s in statuses if s in SERVER_FAILURES and s != NOT_IMPLEMENTED]
            assert not failures, raw  # the app never fails
            trio.run(_good, port)
            assert log.take() == []

        check()
        assert log.take() == []


async def _staying(pieces: list[bytes]) -> None:
    """A client that sends ``pieces`` and then only reads, never closing: each server's
    own, on a virtual clock, which the server's timeouts and the app's must end."""
    async with serving(fuzz_app, head_timeout=10, keep_alive_timeout=5) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            for piece in pieces:
                try:
                    await stream.send_all(piece)
                except trio.BrokenResourceError:
                    break
            raw, reset = b"", False
            start = trio.current_time()
            with trio.fail_after(STAYING_BOUND):
                try:
                    while chunk := await stream.receive_some(65536):
                        raw += chunk
                except trio.BrokenResourceError:
                    reset = True
            elapsed = trio.current_time() - start
        statuses, rest = parse_answers(raw)
        assert reset or not rest, (raw, rest)
        failures = [s for s in statuses if s in SERVER_FAILURES and s != NOT_IMPLEMENTED]
        assert not failures, raw
        assert elapsed < STAYING_BOUND, elapsed
        await _good(port)


def test_httpd_hostile_input_from_a_client_that_never_closes_ends_in_bounded_time() -> None:
    """Keep-alive, pipelining, the disconnect watch, a body that never comes whole: all
    end by a timeout, the server's or the app's, with whole answers (virtual seconds)."""
    handler = Captured()
    logger = logging.getLogger("symphony.httpd")
    logger.addHandler(handler)
    try:

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            database=None,
        )
        @given(payload=payloads, cuts=st.lists(st.integers(0, 10_000), max_size=6))
        def check(payload: bytes, cuts: list[int]) -> None:
            clock = trio.testing.MockClock(autojump_threshold=0)
            trio.run(_staying, _split(payload, cuts), clock=clock)
            assert handler.take() == []

        check()
    finally:
        logger.removeHandler(handler)
