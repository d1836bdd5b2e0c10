"""``GET /live`` against a real Conductor and node: a snapshot, then only what changed."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio

from ..link.cluster import shared_cert_node, start_conductor, start_node
from .conftest import _start_up, _wait_ready


class Sse:
    """Server-Sent Events messages, parsed from the lines a reader task hands over."""

    def __init__(self, lines: trio.MemoryReceiveChannel[str]) -> None:
        self.lines = lines
        self.seen: list[tuple[str, Any]] = []
        self.size = 0  # of the last message's data, in bytes

    async def next(self) -> tuple[str, Any]:
        kind, data = "message", []
        async for line in self.lines:
            if line == "":
                if data:
                    text = "\n".join(data)
                    self.size = len(text.encode())
                    message = (kind, json.loads(text))
                    self.seen.append(message)
                    return message
                continue
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        raise EOFError("the stream ended")

    async def until(self, kind: str, check: Callable[[Any], bool], timeout: float = 10) -> Any:
        """The first message of ``kind`` whose data passes ``check``."""
        with trio.fail_after(timeout):
            while True:
                got_kind, data = await self.next()
                if got_kind == kind and check(data):
                    return data


@asynccontextmanager
async def live(
    url: str, token: str | None, **params: str
) -> AsyncIterator[tuple[httpx.Response, Sse]]:
    """Open ``GET /live`` (with query ``params``); its lines are read by a task that is
    cancelled on exit.

    Leaving a stream by cancelling the task that iterates it (not by ``break``) runs the
    cancellation through httpx's nested generators, so the connection is closed.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # Unbounded, and handed over without a checkpoint: the reader is then only ever
    # cancelled inside httpx's generators (never between two lines, which would leave
    # them suspended, to be finalized by the garbage collector with a warning).
    send, receive = trio.open_memory_channel[str](math.inf)

    async def read(response: httpx.Response) -> None:
        async with send:
            async for line in response.aiter_lines():
                send.send_nowait(line)

    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http,
        http.stream("GET", "/live", params=params, timeout=None) as response,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(read, response)
        yield response, Sse(receive)
        nursery.cancel_scope.cancel()


async def test_live_without_or_with_a_wrong_token_is_401(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        for token in (None, "wrong"):
            async with live(info.http_url, token) as (response, sse):
                assert response.status_code == 401
                body = json.loads("".join([line async for line in sse.lines]))
                assert body["error"] == "unauthorized"
        nursery.cancel_scope.cancel()


async def test_live_sends_a_snapshot_then_deployment_changes(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        token = info.api_token
        await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n1"))
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=info.http_url, headers=headers, timeout=10) as api,
            live(info.http_url, token) as (response, sse),
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            kind, snapshot = await sse.next()
            assert kind == "snapshot"
            assert snapshot["deployments"] == []
            assert abs(snapshot["now"] - time.time()) < 5
            spec = {
                "name": "pushed",
                "node_group": "gpu-1",
                "capacity_requests": {"Analytic1": 1},
                "config": {"command": ["sleep", "60"]},
            }
            created = (await api.post("/deployments", json=spec)).json()
            event = await sse.until("event", lambda d: d["event"]["kind"] == "created")
            assert event["event"]["deployment_id"] == created["id"]
            running = await sse.until("deployment", lambda d: d["deployment"]["state"] == "running")
            assert running["deployment"]["name"] == "pushed"
            assert any(k == "event" and d["event"]["kind"] == "started" for k, d in sse.seen)
            assert (await api.delete("/deployments/pushed")).status_code == 200
            await sse.until("removed", lambda d: d["id"] == created["id"])
            # Only changes after the snapshot: no second snapshot, no repeats of a
            # deployment state already sent.
            kinds = [k for k, _ in sse.seen]
            assert kinds.count("snapshot") == 1
            sent = [d["deployment"] for k, d in sse.seen if k == "deployment"]
            assert len(sent) >= 2
            assert all(a != b for a, b in itertools.pairwise(sent)), sent
        nursery.cancel_scope.cancel()


async def test_live_pushes_a_node_that_disconnects(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c", node_timeout_sec=60)
        node_scope = trio.CancelScope()

        async def node(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            with node_scope:
                async with trio.open_nursery() as inner:
                    await start_node(inner, shared_cert_node(info, "n1", tmp_path / "n1"))
                    task_status.started()

        await nursery.start(node)
        async with live(info.http_url, info.api_token) as (_, sse):
            _, snapshot = await sse.next()
            if not snapshot["nodes"]:
                await sse.until("node", lambda d: d["node"]["state"] == "ready")
            node_scope.cancel()  # the node goes away: its link closes
            pushed = await sse.until("node", lambda d: d["node"]["state"] == "disconnected")
            assert pushed["node"]["node_id"] == "n1"
            assert pushed["node"]["capacities_total"] == {"Analytic1": 10}
        nursery.cancel_scope.cancel()


def test_live_stream_ends_when_the_server_stops(tmp_path: Path) -> None:
    """A browser holding /live must not keep ``symphony up`` from stopping on Ctrl-C."""
    proc = _start_up(tmp_path)
    try:
        url, token = _wait_ready(tmp_path, proc)
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=url, headers=headers, timeout=10) as http,
            http.stream("GET", "/live", timeout=10) as response,
        ):
            lines = response.iter_lines()
            assert next(lines) == "event: snapshot"
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            # Read until the server ends the stream; stopping cancels the Conductor, which
            # may cut the connection instead of sending the last chunk: both end it.
            with contextlib.suppress(httpx.RemoteProtocolError):
                for _ in lines:
                    pass
            assert time.monotonic() - started < 8
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
