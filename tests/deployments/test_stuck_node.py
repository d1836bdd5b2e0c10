"""A node that stops reading its link stalls nothing but itself.

A node whose agent hangs (or whose network stalls) stops taking data while its link
stays open. The Conductor keeps sending it start commands; once the socket buffers are
full, writing to that node blocks. That must not block the Scheduler: before, the
node's session blocked in the write, its mailbox filled, and the Scheduler's next
``tell`` to it waited too, so no instance was placed on any node (and asks to the
Scheduler went unanswered) until the node was declared lost.

Real parts: a Conductor in this process, a healthy node (:class:`EchoNode`) and a
stuck one, both over real mTLS WebSockets. The stuck one says hello and then never
reads. Afterwards the same node id comes back as a reading node: the starts that never
reached it are sent again from its hello, so nothing was lost for good.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import trio

from symphony.pki import client_ssl_context
from symphony.wire import PROTOCOL_VERSION, Hello, client_hello, connect_to_conductor

from ..link.cluster import start_conductor
from .echonode import EchoNode
from .helpers import Api, eventually, running

#: Large start commands fill the socket buffers quickly; then many small ones fill the
#: session's mailbox (64) behind them.
BIG, SMALL = 3, 80


def spec(name: str, group: str, replicas: int, env_bytes: int) -> dict[str, Any]:
    return {
        "name": name,
        "node_group": group,
        "replicas": replicas,
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["true"], "env": {"PAD": "x" * env_bytes}},
    }


async def _stuck_node(port: int, cert_dir: Path, *, task_status: Any) -> None:
    """Say hello as node ``stuck``, then never read again (the link stays open)."""
    ctx = client_ssl_context(
        cert_dir / "ca.pem", cert_dir / "node-client.pem", cert_dir / "node-client.key"
    )
    async with connect_to_conductor("127.0.0.1", port, ctx, timeout=10) as conn:
        _small_receive_buffer(conn)
        hello = Hello(
            protocol_version=PROTOCOL_VERSION,
            node_id="stuck",
            groups=("slow",),
            capacities_total={"Analytic1": 10_000},
        )
        await client_hello(conn, hello, timeout=10)
        task_status.started()
        await trio.sleep_forever()


def _small_receive_buffer(conn: Any) -> None:
    """Keep the kernel from buffering tens of megabytes for a reader that never reads
    (receive buffers autotune up to ``net.ipv4.tcp_rmem``'s maximum), so that the
    Conductor's writes block after a few megabytes, as with a real stalled peer."""
    # The WebSocket -> its TLS stream -> the TLS socket, which is the TCP socket's
    conn._ws._stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)


async def test_a_node_that_stops_reading_does_not_stall_placement(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c", node_timeout_sec=300.0)
        api = Api(info.http_url, info.api_token)
        healthy = EchoNode("healthy", info.node_port, info.cert_dir, {"Analytic1": 10_000})
        await nursery.start(healthy.run)
        stuck = trio.CancelScope()

        async def stuck_node(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            with stuck:
                await _stuck_node(info.node_port, info.cert_dir, task_status=task_status)

        await nursery.start(stuck_node)

        # Megabytes of starts for the stuck node, then many separate placements.
        for i in range(BIG):
            response = await api.post(spec(f"big-{i}", "slow", 200, 15_000))
            assert response.status_code == 201, response.text
        for i in range(SMALL):
            assert (await api.post(spec(f"small-{i}", "slow", 1, 10))).status_code == 201

        # Placement for the healthy node keeps flowing; the Scheduler keeps answering.
        assert (await api.post(spec("fine", "gpu-1", 50, 10))).status_code == 201
        slowest = 0.0

        async def fine_running() -> bool:
            nonlocal slowest
            began = time.monotonic()
            assert (await api.http.get("/metrics")).status_code == 200  # asks the Scheduler
            slowest = max(slowest, time.monotonic() - began)
            return len(running(await api.get("fine"))) == 50

        await eventually(fine_running, timeout=30, interval=0.1)
        assert slowest < 1.0, slowest

        # The stuck link was failed and closed (it did not wait for the node timeout).
        async def stuck_disconnected() -> bool:
            nodes = {n["node_id"]: n["state"] for n in await api.nodes()}
            return nodes["stuck"] == "disconnected"

        await eventually(stuck_disconnected, timeout=60, interval=0.2)
        stuck.cancel()

        # The node comes back reading: every start it missed is sent again from its hello.
        back = EchoNode("stuck", info.node_port, info.cert_dir, {"Analytic1": 10_000})
        back.groups = ("slow",)
        await nursery.start(back.run)

        async def all_started() -> bool:
            return len(back.running) == BIG * 200 + SMALL

        await eventually(all_started, timeout=60, interval=0.2)
        await api.http.aclose()
        nursery.cancel_scope.cancel()
