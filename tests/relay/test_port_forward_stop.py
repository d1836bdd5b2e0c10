"""A Conductor that stops closes its port-forwards itself, with a code and a reason.

A port-forward's WebSocket is an endless stream, like a followed log; the stop's gate
(``symphony/conductor/api/stepdown.py``) once let it run until the node links ended,
and it then closed as a service's own end would (1000, no reason): the user could not
tell a stop from the service closing. Now the gate closes it as the stop begins: 1001
(going away) with the stop's reason.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import trio
import trio_websocket

from symphony.cli._websocket import open_websocket
from symphony.conductor import ConductorInfo
from symphony.conductor.api.stepdown import CLOSE_STOPPING, STOPPING_WHY

from ..link.cluster import shared_cert_node, start_conductor, start_node
from .helpers import ports
from .test_port_forward import echo_experiment

FORWARDS = 3


def _forward(info: ConductorInfo) -> tuple[str, list[tuple[bytes, bytes]]]:
    url = info.http_url.replace("http://", "ws://") + "/experiments/fw/services/echo/forward"
    return url, [(b"Authorization", f"Bearer {info.api_token}".encode())]


async def _wait_echo(info: ConductorInfo) -> None:
    """Until a forward to the echo service echoes (its process starts, then listens)."""
    url, headers = _forward(info)
    with trio.fail_after(30):
        while True:
            try:
                async with open_websocket(url, extra_headers=headers) as ws:
                    await ws.send_message(b"ping")
                    if await ws.get_message() == b"ping":
                        return
            except (trio_websocket.ConnectionRejected, trio_websocket.ConnectionClosed):
                pass
            await trio.sleep(0.2)


async def test_a_stop_closes_the_port_forwards_with_its_reason(tmp_path: Path) -> None:
    async with trio.open_nursery() as outer:
        running = trio.CancelScope()
        ended = trio.Event()

        async def conductor(*, task_status: trio.TaskStatus[ConductorInfo]) -> None:
            with running:
                async with trio.open_nursery() as nursery:
                    info = await start_conductor(nursery, tmp_path / "c")
                    node = shared_cert_node(info, "n1", tmp_path / "n1", **ports())
                    await start_node(nursery, node)
                    task_status.started(info)
            ended.set()

        info: ConductorInfo = await outer.start(conductor)
        headers = {"Authorization": f"Bearer {info.api_token}"}
        async with httpx.AsyncClient(base_url=info.http_url, headers=headers) as http:
            created = await http.post("/experiments", json=echo_experiment())
            assert created.status_code == 201, created.text
        await _wait_echo(info)
        url, ws_headers = _forward(info)
        async with contextlib.AsyncExitStack() as stack:
            forwards = []
            for _ in range(FORWARDS):
                ws = await stack.enter_async_context(open_websocket(url, extra_headers=ws_headers))
                await ws.send_message(b"ping")
                assert await ws.get_message() == b"ping"
                forwards.append(ws)
            running.cancel()  # what SIGTERM does to `symphony conductor`
            with trio.fail_after(5):
                for ws in forwards:
                    with contextlib.suppress(trio_websocket.ConnectionClosed):
                        while True:
                            await ws.get_message()
                    assert ws.closed is not None
                    assert ws.closed.code == CLOSE_STOPPING, ws.closed
                    assert ws.closed.reason == STOPPING_WHY, ws.closed
                await ended.wait()
