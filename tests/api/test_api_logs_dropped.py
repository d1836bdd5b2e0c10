"""Followers dropped mid-stream, a hundred at once, cost the node's link nothing.

A client that leaves a followed log makes the Conductor send ``LogCancel``; the node
cancels that follower. It was cancelled wherever it was, also half-way through writing
a log frame to the link: the link's TLS stream was then broken, and the node's link
closed (1006) with every other request, heartbeat and command on it. Dropping a
hundred followers of a chatty job took a node offline nearly every time.
"""

from __future__ import annotations

from pathlib import Path

import trio

from .helpers import PYTHON, cluster, sh

FOLLOWERS = 100
ROUNDS = 3
# ~1 MB/s of lines: every follower has a frame on its way most of the time.
CHATTY = """
import sys, time
line = b"x" * 999 + b"\\n"
while True:
    sys.stdout.buffer.write(line * 100)
    sys.stdout.buffer.flush()
    time.sleep(0.1)
"""


async def _follow_then_drop(url: str, token: str, started: trio.Semaphore) -> None:
    host, port = url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(
            f"GET /deployments/chatty/logs?follow=true HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        received = 0
        while received < 200_000:  # well into the stream: frames are flowing
            data = await stream.receive_some(65536)
            assert data, "the follow ended early"
            received += len(data)
        started.release()
        await trio.sleep_forever()  # until every follower is in; then all drop at once


async def test_dropping_a_hundred_followers_at_once_keeps_the_nodes_link(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        assert c.info.api_token is not None
        await c.http.post("/deployments", json=sh(f"exec {PYTHON} -c '{CHATTY}'", "chatty"))
        await c.wait_running("chatty")
        node = (await c.http.get("/nodes")).json()["nodes"][0]
        for _ in range(ROUNDS):
            started = trio.Semaphore(0)
            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    for _ in range(FOLLOWERS):
                        nursery.start_soon(
                            _follow_then_drop, c.info.http_url, c.info.api_token, started
                        )
                    for _ in range(FOLLOWERS):
                        await started.acquire()
                    nursery.cancel_scope.cancel()  # every client leaves mid-stream
            # The Conductor has cancelled them all at the node: a little later, the
            # link is still the one it was (a reconnect would change connected_at).
            for _ in range(20):  # a broken link shows within a heartbeat or two
                now = (await c.http.get("/nodes")).json()["nodes"][0]
                assert now["state"] == "ready", now["state"]
                assert now["connected_at"] == node["connected_at"], "the link was closed"
                await trio.sleep(0.05)
        # The log is still read through the same link.
        response = await c.http.get("/deployments/chatty/logs?tail=3")
        assert response.status_code == 200 and response.text.count("\n") == 3
        c.nursery.cancel_scope.cancel()
