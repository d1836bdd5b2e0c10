"""An answer whose last write was cancelled before a byte of it went out closes the
connection: a pipelining client must not take the next request's answer for it.

h11 records a response as sent when the server hands it the bytes; a write cancelled
then (the app's scope: a step-down, a stop, a client not reading while a cancel came)
leaves the wire behind h11. The connection cannot serve the next request: its answer
would be read as the unsent one's (HTTP/1.1 matches answers to requests by order).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from symphony.httpd import Scope

from .helpers import exchange, serving

PIPELINED = b"GET /cut HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n"


def _app(headers: list[tuple[bytes, bytes]]) -> Any:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/cut":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"next"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with trio.CancelScope() as cut:
            cut.cancel()  # the answer's end is cancelled before a byte of it is written
            await send({"type": "http.response.body", "body": b"first"})
        # The app goes on (a gate in front of it would answer here: it may not, as it
        # knows the answer began).

    return app


@pytest.mark.parametrize(
    "headers",
    [[(b"content-length", b"5")], []],
    ids=["known-length", "chunked"],
)
async def test_an_answer_cancelled_unsent_closes_the_connection(
    headers: list[tuple[bytes, bytes]],
) -> None:
    async with serving(_app(headers)) as port:
        with trio.fail_after(10):  # the server closes: exchange() ends before its wait
            raw = await exchange(port, PIPELINED, wait=20)
    assert b"next" not in raw, raw  # not taken for the first request's answer
    # Nothing of a known length's answer had gone out; a chunked one's head had.
    assert raw.startswith(b"HTTP/1.1 200 ") if not headers else raw == b"", raw
