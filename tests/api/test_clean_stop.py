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

from ..inflight import QUIET, InFlight, asked, deploy_quiet, silent_node
from ..link.cluster import start_conductor, wait_for

LATE = json.dumps({**QUIET, "name": "late"}).encode()


async def api(url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.request(method, f"{url}{path}", **kwargs)


async def test_a_stopped_conductor_answers_what_it_is_serving_then_stops(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
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
        outer.start_soon(silent_node, c, seen)
        await wait_for(lambda: _nodes(c), timeout=10)
        await deploy_quiet(c.http_url)
        flight = InFlight()
        async with trio.open_nursery() as waiting:
            waiting.start_soon(flight.tail, c.http_url, "quiet")  # waits for the node
            waiting.start_soon(flight.follow, c.http_url, "quiet")
            waiting.start_soon(flight.live, c.http_url)
            waiting.start_soon(flight.create_in_parts, c.http_url, LATE)
            await wait_for(lambda: asked(seen, 2), timeout=10)  # the tail and the follow
            await flight.opened()
            running.cancel()  # what SIGTERM does to `symphony conductor`
            stopped_at = trio.current_time()
            await trio.sleep(0.3)  # within the grace: the create's rest comes
            flight.rest.set()
            await flight.after(c.http_url)  # meanwhile: turned away, nothing applied
        with trio.fail_after(5):
            await ended.wait()
        took = trio.current_time() - stopped_at

    answers = flight.answers
    status, body = answers["follow"]  # ended cleanly (httpx raises on a cut stream)
    assert status == 200
    assert body.splitlines()[-1].startswith(b"[symphony] this Conductor is stopping"), body

    status, event, data = flight.live_ended()
    assert status == 200
    assert event == "event: closing"
    assert "is stopping" in data["reason"]

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


async def _nodes(info: ConductorInfo) -> bool:
    return bool((await api(info.http_url, "GET", "/nodes")).json())
