"""Followers that fall behind: memory stays bounded, the job and the link are not held up.

A job writes ~4 MB/s of numbered lines. Four HTTP clients follow its log and never read;
one more reads, stops for a while, then reads again. The Conductor and the node run in
this process, so its RSS is what both hold for the followers.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import trio

from .helpers import PYTHON, cluster, sh

RATE = 4_000_000  # bytes per second the job writes
STALLED = 4
GROWTH_LIMIT = 64 * 2**20  # the flood is ~4 MB/s: unbounded buffers pass this in seconds
NUMBERED = re.compile(rb"^(\d{10}) x+$")

WRITER = f"""
import sys, time
out, line, i, start = sys.stdout.buffer, b"x" * 988, 0, time.monotonic()
while True:
    for _ in range(100):
        out.write(b"%010d %s\\n" % (i, line))
        i += 1
    out.flush()
    time.sleep(max(0.0, start + i * 1000 / {RATE} - time.monotonic()))
"""


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _stalled_follower(url: str, token: str | None) -> trio.socket.SocketType:
    """Open ``GET .../logs?follow=true`` and never read (a tiny receive buffer, so the
    kernel does not read for us)."""
    parts = urlsplit(url)
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect((parts.hostname, parts.port))
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = (
        "GET /deployments/flood/logs?follow=true&tail=10 HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n{auth}\r\n"
    )
    await sock.send(request.encode())
    return sock


async def test_logs_followers_that_do_not_read_stay_bounded_and_hold_up_nothing(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        spec = sh("", "flood")
        spec["config"]["command"] = [PYTHON, "-c", WRITER]
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        await c.wait_running("flood")
        log_dir = tmp_path / "n1" / "jobs" / "logs"
        with trio.fail_after(10):
            while not _written(log_dir):
                await trio.sleep(0.05)
        stalled = [
            await _stalled_follower(c.info.http_url, c.info.api_token) for _ in range(STALLED)
        ]
        try:
            baseline = _rss()
            written_before = _written(log_dir)
            began = time.monotonic()
            got_marker, newer = await _slow_reader(c, baseline)
            # The job was never held up by its followers: it wrote at its own pace.
            written = _written(log_dir) - written_before
            assert written > 0.5 * RATE * (time.monotonic() - began), written
            assert got_marker and newer
            # Nor was the node's control link: a start goes through, heartbeats flow.
            start = time.monotonic()
            quick = sh("sleep 30", "quick")
            assert (await c.http.post("/deployments", json=quick)).status_code == 201
            await c.wait_running("quick", timeout=10)
            assert time.monotonic() - start < 5
            await _heartbeats_flow(c)
            assert _rss() - baseline < GROWTH_LIMIT
        finally:
            for sock in stalled:
                sock.close()


async def _slow_reader(c, baseline: int) -> tuple[bool, bool]:
    """Follow, read a little, stop reading for 3 s, then read on until the dropped marker
    and lines after it. Watches the RSS all along (fails as soon as it grows too much)."""
    got_marker = newer = False
    first: int | None = None
    with trio.fail_after(60):
        async with c.http.stream(
            "GET", "/deployments/flood/logs", params={"follow": "true", "tail": 0}, timeout=None
        ) as response:
            assert response.status_code == 200
            with trio.CancelScope() as reading:
                async for line in response.aiter_lines():
                    assert _rss() - baseline < GROWTH_LIMIT, "followers' memory keeps growing"
                    match = NUMBERED.match(line.encode())
                    if first is None and match:
                        first = int(match.group(1))
                        for _ in range(30):  # stop reading: the followers' buffers fill up
                            await trio.sleep(0.1)
                            assert _rss() - baseline < GROWTH_LIMIT, "memory keeps growing"
                    elif re.fullmatch(r"\[symphony\] \d+ lines dropped.*", line):
                        got_marker = True
                    elif got_marker and match and int(match.group(1)) > (first or 0):
                        newer = True
                        reading.cancel()
    return got_marker, newer


async def _heartbeats_flow(c) -> None:
    """The node's next heartbeats arrive while the followers still stall: two more within
    5 s (10 of its 0.5 s intervals). A link held up by the followers' bytes sends none;
    an age bound instead failed on a loaded machine with the link flowing (2.2 s)."""
    seen = (await c.http.get("/nodes")).json()["nodes"][0]["last_heartbeat"]
    with trio.fail_after(5):
        for _ in range(2):
            while (
                now := (await c.http.get("/nodes")).json()["nodes"][0]["last_heartbeat"]
            ) == seen:
                await trio.sleep(0.05)
            seen = now


def _written(log_dir: Path) -> int:
    """Bytes the job has written so far, from the number of its newest line."""
    live = next(log_dir.glob("*/stdout.log"), None)
    if live is None:
        return 0
    with open(live, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 4000))
        numbers = [int(m.group(1)) for m in map(NUMBERED.match, f.read().split(b"\n")) if m]
    return (numbers[-1] + 1) * 1000 if numbers else 0
