"""A port-forward's WebSocket takes messages of at most 1 MiB (close 1009 past it).

The Conductor's WebSocket layer reads up to ten messages ahead of a route, each up to
the server's limit for any WebSocket (16 MiB, for a service's own through ``/x/``). A
forward to a service that reads nothing then held about ten 16 MiB messages per
connection: four such forwards grew the Conductor (with its node, in one process) from
82 to 906 MiB. ``symphony port-forward`` sends at most 256 KiB a message; the forward
route now tells the server its own limit, so a forward holds ~10 MiB at most.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import trio
import trio_websocket

from symphony.cli._websocket import open_websocket
from symphony.conductor.api.proxy_ws import FORWARD_MESSAGE

from ..api.helpers import cluster
from .helpers import ports
from .test_port_forward import echo_experiment
from .test_port_forward_stop import _forward, _wait_echo


async def test_a_forward_refuses_a_message_over_its_limit(tmp_path: Path) -> None:
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=echo_experiment())).status_code == 201
        await _wait_echo(c.info)
        url, headers = _forward(c.info)
        async with open_websocket(url, extra_headers=headers) as ws:
            with trio.fail_after(10):
                data = b"a" * (256 * 1024)  # what the command sends at most
                await ws.send_message(data)
                got = b""
                while len(got) < len(data):
                    got += await ws.get_message()
                assert got == data
                await ws.send_message(b"b" * (FORWARD_MESSAGE + 1))
                with contextlib.suppress(trio_websocket.ConnectionClosed):
                    while True:
                        await ws.get_message()
                assert ws.closed is not None
                assert ws.closed.code == 1009, ws.closed  # message too big
        c.nursery.cancel_scope.cancel()
