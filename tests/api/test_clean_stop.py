"""A Conductor that is stopped (its ``run_conductor`` cancelled, as SIGTERM or Ctrl-C
does) answers what it is serving before it stops; it never just cuts the connections.

A real Conductor alone on its store (in this Trio loop), with a node played by the test
over a real link that never answers log requests, so a tail and a followed log wait at
the Conductor; a web UI's ``/live`` stream is open, and a create has sent half its
body. Then the Conductor is cancelled: the streams end at once with a last line or event
saying it is stopping, the create whose rest comes a moment later is still applied (its
``201``), the tail is answered ``503`` once the grace is over, a request that comes
meanwhile is turned away (a ``503`` or a refused connection), and ``run_conductor``
returns soon after. On Trio's virtual clock: the grace and the stop are the Conductor's
own timing, measured exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from symphony.conductor import ConductorInfo
from symphony.conductor.api.stepdown import STOP_GRACE
from symphony.conductor.store import Store
from symphony.wire import PROTOCOL_VERSION, LogRequest
from symphony.wire.errors import ConnectionClosed

from ..link.cluster import start_conductor, wait_for
from .old_node import run_old_node

QUIET = {
    "name": "quiet",
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "config": {"command": ["sleep", "600"]},
}
LATE = json.dumps({**QUIET, "name": "late"}).encode()


async def api(url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.request(method, f"{url}{path}", **kwargs)


async def test_a_stopped_conductor_answers_what_it_is_serving_then_stops(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    answers: dict[str, Any] = {}
    async with trio.open_nursery() as outer:
        running = trio.CancelScope()
        ended = trio.Event()
        seen: list[Any] = []

        async def conductor(*, task_status: trio.TaskStatus[ConductorInfo]) -> None:
            with running:
                async with trio.open_nursery() as nursery:
                    info = await start_conductor(nursery, tmp_path / "c", http_auth="none")
                    task_status.started(info)
            ended.set()

        c = await outer.start(conductor)
        outer.start_soon(_node_until_closed, c, seen)
        await wait_for(lambda: _nodes(c), timeout=10)
        assert (await api(c.http_url, "POST", "/deployments", json=QUIET)).status_code == 201

        async def started() -> bool:
            found = (await api(c.http_url, "GET", "/deployments/quiet")).json()
            return found["instances"][0]["state"] == "running"

        await wait_for(started, timeout=10)
        url = httpx.URL(c.http_url)
        live_open = trio.Event()
        rest = trio.Event()

        async def tail() -> None:  # waits for the node, which never answers
            answers["tail"] = await api(c.http_url, "GET", "/deployments/quiet/logs")

        async def follow() -> None:
            async with (
                httpx.AsyncClient(timeout=10) as client,
                client.stream(
                    "GET", f"{c.http_url}/deployments/quiet/logs", params={"follow": "true"}
                ) as response,
            ):
                got = b"".join([data async for data in response.aiter_bytes()])
            answers["follow"] = (response.status_code, got)

        async def live() -> None:
            async with (
                httpx.AsyncClient(timeout=10) as client,
                client.stream("GET", f"{c.http_url}/live") as response,
            ):
                lines = []
                async for line in response.aiter_lines():
                    lines.append(line)
                    if line.startswith("event: snapshot"):
                        live_open.set()
            answers["live"] = (response.status_code, lines)

        async def create_in_two_parts() -> None:
            stream = await trio.open_tcp_stream(url.host, url.port)
            await stream.send_all(
                f"POST /deployments HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: "
                f"application/json\r\nContent-Length: {len(LATE)}\r\n\r\n".encode()
                + LATE[:5]
            )
            async with stream:
                await rest.wait()
                await stream.send_all(LATE[5:])
                answers["create"] = await _answer(stream)

        async with trio.open_nursery() as waiting:
            waiting.start_soon(tail)
            waiting.start_soon(follow)
            waiting.start_soon(live)
            waiting.start_soon(create_in_two_parts)
            await wait_for(lambda: _asked(seen, 2), timeout=10)  # the tail and the follow
            with trio.fail_after(10):
                await live_open.wait()
            await trio.sleep(0.2)  # the create's head is in
            running.cancel()  # what SIGTERM does to `symphony conductor`
            stopped_at = trio.current_time()
            await trio.sleep(0.3)  # within the grace: the create's rest comes
            rest.set()
            try:  # meanwhile: turned away, nothing applied
                answers["after"] = await api(c.http_url, "GET", "/deployments")
            except httpx.ConnectError:
                answers["after"] = None
        with trio.fail_after(5):
            await ended.wait()
        took = trio.current_time() - stopped_at

    status, body = answers["follow"]  # ended cleanly (httpx raises on a cut stream)
    assert status == 200
    assert body.splitlines()[-1].startswith(b"[symphony] this Conductor is stopping"), body

    status, lines = answers["live"]
    assert status == 200
    assert [line for line in lines if line.startswith("event: ")][-1] == "event: closing"
    last_data = [line for line in lines if line.startswith("data: ")][-1]
    assert "is stopping" in json.loads(last_data[len("data: ") :])["reason"]

    head, _, created = answers["create"].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 "), answers["create"]
    assert json.loads(created)["name"] == "late"

    tail_answer = answers["tail"]  # the node never answered: the grace ran out
    assert tail_answer.status_code == 503, tail_answer.text
    assert tail_answer.headers["retry-after"] == "1"
    assert tail_answer.headers["x-symphony-role"] == "stopping"
    assert tail_answer.json()["error"] == "this Conductor is stopping"
    assert "nothing was applied" in tail_answer.json()["detail"]

    after = answers["after"]
    assert after is None or (after.status_code == 503 and after.headers["retry-after"] == "1")

    # The tail's grace, then a prompt stop (the Conductor's own timing: virtual time).
    assert took == pytest.approx(STOP_GRACE, abs=0.05)
    with Store.open(tmp_path / "c" / "symphony.db") as store:
        assert sorted(d.name for d in store.list_deployments()) == ["late", "quiet"]


async def _node_until_closed(info: ConductorInfo, seen: list[Any]) -> None:
    try:
        await run_old_node(
            info, seen, version=PROTOCOL_VERSION, capacities={"Analytic1": 10}, keep_all=True
        )
    except* ConnectionClosed:
        pass


async def _nodes(info: ConductorInfo) -> bool:
    return bool((await api(info.http_url, "GET", "/nodes")).json())


async def _asked(seen: list[Any], count: int) -> bool:
    return sum(isinstance(m, LogRequest) for m in seen) >= count


async def _answer(stream: trio.SocketStream) -> bytes:
    """One whole HTTP answer of known length (or what came before the connection
    closed)."""
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if body and len(body) >= _length(head):
            break
    await stream.aclose()
    return data


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 30
