"""A kept-alive connection serves its next request after any answer the API gives.

Two answers once left a client's connection unusable without telling it:

- ``HEAD`` of a stream (``/live``, a followed log): its head is its whole answer, but
  the stream ran on behind it, holding a task and the connection, and the client's next
  request on that connection waited forever;
- an answer given before the route read a large body (a route that takes none, a 401,
  a 404): the server closed the connection after it without saying so, and the client's
  next request on it was lost (``Server disconnected without sending a response``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import trio

from .helpers import Cluster, cluster, sh

#: Bodies around and past what the server reads to keep a connection, up to the API's limit.
SIZES = (100_000, 300_000, 700_000, 1_000_000)


def _tasks() -> int:
    """Every task of this process's trio run."""
    count, stack = 0, [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        count += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return count


async def _one_connection(c: Cluster, **extra: object) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return httpx.AsyncClient(
        base_url=c.info.http_url, headers=c.http.headers, limits=limits, timeout=10, **extra
    )


async def test_a_head_of_a_stream_ends_it_and_the_connection_serves_the_next(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        await c.http.post("/deployments", json=sh("echo hello; sleep 1000", "talker"))
        await c.wait_running("talker")
        async with await _one_connection(c) as http:
            await http.get("/healthz")
            before = _tasks()
            for path in ("/live", "/deployments/talker/logs?follow=true"):
                for _ in range(20):
                    with trio.fail_after(5):
                        head = await http.head(path)
                        assert head.status_code == 200, path
                        assert head.content == b""
                        # The same connection (one allowed) answers the next request.
                        assert (await http.get("/healthz")).status_code == 200, path
            # No stream runs on behind its HEAD: the tasks are as before (give or take
            # the node's own).
            assert _tasks() < before + 10, (before, _tasks())
        c.nursery.cancel_scope.cancel()


async def _answer(stream: trio.SocketStream) -> tuple[int, dict[str, str]]:
    """The status and headers of the next answer on ``stream`` (its body is read too)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = await stream.receive_some(65536)
        assert more, f"the connection closed before an answer; got {data!r}"
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(rest) < int(headers.get("content-length", "0")):
        rest += await stream.receive_some(65536)
    return int(lines[0].split()[1]), headers


async def test_a_body_left_unread_closes_its_connection_and_the_answer_says_so(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        host, port = c.info.http_url.removeprefix("http://").split(":")
        token = c.http.headers["Authorization"]
        for method, path, auth, kind in (
            ("POST", "/nodes/n1/drain", token, "application/json"),  # takes no body
            ("POST", "/deployments/nope/promote", token, "application/json"),  # 404
            ("DELETE", "/secrets/nope", token, "application/json"),  # 404
            ("PUT", "/deployments", token, "application/json"),  # 405
            ("POST", "/deployments", "Bearer wrong", "application/json"),  # 401
            ("POST", "/deployments", token, "text/plain"),  # 415
        ):
            for size in SIZES:
                body = b'{"x": "' + b"a" * size + b'"}'
                head = (
                    f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: {auth}\r\nContent-Type: {kind}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                stream = await trio.open_tcp_stream(host, int(port))
                with trio.fail_after(10):
                    async with stream, trio.open_nursery() as nursery:
                        sent = trio.Event()
                        nursery.start_soon(_send_quietly, stream, head + body, sent)
                        status, headers = await _answer(stream)
                        assert status < 500, (method, path, size, status)
                        if headers.get("connection") == "close":
                            continue  # the client knows: it sends its next one elsewhere
                        # Kept: the next request on it is answered.
                        await sent.wait()
                        try:
                            await stream.send_all(
                                f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
                            )
                        except trio.BrokenResourceError:
                            raise AssertionError(
                                f"{method} {path} ({size} bytes): the answer kept the "
                                "connection, then the server closed it"
                            ) from None
                        assert (await _answer(stream))[0] == 200, (method, path, size)
        c.nursery.cancel_scope.cancel()


async def _send_quietly(stream: trio.SocketStream, data: bytes, sent: trio.Event) -> None:
    """Send ``data``; a server that closes before taking all of it may (see the test)."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(data)
    sent.set()
