"""A log request in flight when its node's link drops is answered at once.

Real processes (a Conductor and a node as ``symphony`` commands): the node is frozen
(SIGSTOP) so it answers no log request, and the Conductor closes its link when it
declares it lost (1.5 s without heartbeats). A tail waiting for the node then gets a 503
that says the link closed, at once, rather than a 504 at the tail's own 30 s limit; a
tail by time (``since``) gets the same 503, not the 409 that means "this node cannot
serve times"; a follow ends its stream with a line that says why.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from . import procs
from .helpers import eventually, job, running
from .test_failures import _stop_all, start_cluster

#: Seconds an answer may take after the node was declared lost (its link closed then).
PROMPT = 2.0


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    yield procs.free_port(), procs.free_port()


async def test_log_requests_in_flight_are_answered_when_the_link_drops(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    conductor, nodes, api = await start_cluster(tmp_path, ports, ["frozen"])
    try:
        assert (await api.post(job("quiet"))).status_code == 201

        async def started() -> bool:
            return bool(running(await api.get("quiet")))

        await eventually(started)
        nodes["frozen"].signal(signal.SIGSTOP)  # the link stays open; nothing answers
        answered: dict[str, tuple[float, int, str]] = {}
        lost_at: list[float] = []

        async def ask(name: str, params: dict[str, str]) -> None:
            response = await api.http.get("/deployments/quiet/logs", params=params, timeout=60)
            answered[name] = (trio.current_time(), response.status_code, response.text)

        async def follow() -> None:
            got = b""
            async with api.http.stream(
                "GET", "/deployments/quiet/logs", params={"follow": "true"}, timeout=60
            ) as response:
                async for data in response.aiter_bytes():
                    got += data
            answered["follow"] = (trio.current_time(), response.status_code, got.decode())

        async def lost() -> None:
            async def is_lost() -> bool:
                return (await api.nodes())[0]["state"] == "lost"

            await eventually(is_lost, timeout=20, interval=0.02)
            lost_at.append(trio.current_time())

        with trio.fail_after(40):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ask, "tail", {})
                nursery.start_soon(ask, "since", {"since": "1h", "timestamps": "true"})
                nursery.start_soon(follow)
                nursery.start_soon(lost)
        for name in ("tail", "since"):
            at, status, text = answered[name]
            assert status == 503, (name, status, text)
            assert "link" in text and "closed" in text and "'frozen'" in text, text
            assert at - lost_at[0] < PROMPT, (name, at - lost_at[0])
        at, status, text = answered["follow"]
        assert status == 200
        assert "[symphony] the link to node 'frozen' closed" in text, text
        assert at - lost_at[0] < PROMPT
    finally:
        _stop_all(conductor, nodes)
        await api.aclose()
