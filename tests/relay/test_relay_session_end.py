"""A node's session that ends ends the relayed WebSockets that went through it.

A relayed stream has a TCP connection of its own from the node, beside the node's
control link: when only the link drops (a NAT forgets it, the node is declared lost),
that connection stays. The visitor's WebSocket (and a port-forward's) then stayed
connected to nothing, holding its slot of the Conductor's and its client address's
limits, until the visitor gave up itself. Now the session's end closes them at once,
1011 with a reason naming the node's link, and the slot is free again; a request
waiting for its answer is answered 502 saying so.

The node here reaches the Conductor through a TCP proxy of the test's own, which cuts
the first connection it carried: the node's control link (its relay connections come
later), leaving the relay connections as they are.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio
import trio_websocket

from symphony.cli._websocket import open_websocket
from symphony.conductor.api.proxy_ws import CLOSE_NODE_GONE

from ..api.helpers import Cluster, cluster
from .helpers import ECHO, ports, wait_served, wait_tunnels, web_experiment


class _LinkProxy:
    """Passes TCP connections on to ``port``; :meth:`cut_link` cuts the first it saw.

    The node's first connection is its control link (its relay connections come only
    once it is connected); the link is known by that identity, not by age among those
    carried now: once a link reconnects, a relay connection may well be the oldest."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.link: trio.CancelScope | None = None  # the first connection carried

    async def serve(self, *, task_status: trio.TaskStatus[int]) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(self._carry, listeners)

    async def _carry(self, near: trio.SocketStream) -> None:
        scope = trio.CancelScope()
        if self.link is None:
            self.link = scope
        try:
            with scope:
                far = await trio.open_tcp_stream("127.0.0.1", self.port)
                async with far, trio.open_nursery() as nursery:
                    nursery.start_soon(_pipe, near, far, nursery.cancel_scope)
                    nursery.start_soon(_pipe, far, near, nursery.cancel_scope)
        finally:
            await trio.aclose_forcefully(near)

    def cut_link(self) -> None:
        assert self.link is not None, "the node has not connected through the proxy"
        self.link.cancel()


async def _pipe(source: trio.SocketStream, sink: trio.SocketStream, done: trio.CancelScope) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    done.cancel()


async def _closed(ws: trio_websocket.WebSocketConnection) -> trio_websocket.CloseReason:
    with contextlib.suppress(trio_websocket.ConnectionClosed):
        while True:
            await ws.get_message()
    assert ws.closed is not None
    return ws.closed


@asynccontextmanager
async def _served_through_proxy(
    tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[Cluster, _LinkProxy, trio.Nursery]]:
    """A cluster whose node ``n1`` reaches it through a :class:`_LinkProxy` and serves
    :func:`web_experiment`'s ``ui``."""
    async with cluster(tmp_path, node=False, **overrides) as c, trio.open_nursery() as nursery:
        proxy = _LinkProxy(c.info.node_port)
        port = await nursery.start(proxy.serve)
        await c.add_node("n1", conductor_port=port, **ports())
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        yield c, proxy, nursery
        nursery.cancel_scope.cancel()


def _auth(c: Cluster) -> list[tuple[bytes, bytes]]:
    return [(b"Authorization", c.http.headers["Authorization"].encode())]


async def test_a_node_link_that_ends_closes_its_relayed_websockets(tmp_path: Path) -> None:
    async with _served_through_proxy(tmp_path, relay_websockets_per_client=1) as (c, proxy, _):
        assert c.info.relay_url is not None
        visit = c.info.relay_url.replace("http://", "ws://") + "/x/web/ui/echo"
        api = c.info.http_url.replace("http://", "ws://")
        forward = api + "/experiments/web/services/ui/forward"
        headers = _auth(c)
        async with (
            open_websocket(visit, extra_headers=headers) as visitor,
            open_websocket(forward, extra_headers=headers) as forwarded,
        ):
            await visitor.send_message("hi")
            assert await visitor.get_message() == "echo:hi"
            proxy.cut_link()  # the node's control link; its relay connections stay
            with trio.fail_after(10):
                for ws in (visitor, forwarded):
                    closed = await _closed(ws)
                    assert closed.code == CLOSE_NODE_GONE, closed
                    assert "link to node n1 is gone" in (closed.reason or ""), closed
            for kind in ("visit", "forward"):  # GET /tunnels says why each ended

                def gone(row: dict[str, Any], kind: str = kind) -> bool:
                    return row["kind"] == kind and "is gone" in (row["last_error"] or "")

                await wait_tunnels(c.http, gone)
            # The slot is free again while this client still holds its closed sockets:
            # once the node is back, a new visitor gets through (the share of one
            # client address is 1: were the slot still held, every try got a 503).
            refused: list[bytes] = []  # bodies of refusals (503s too, while n1 is away)
            with trio.fail_after(30):
                while True:
                    try:
                        async with open_websocket(visit, extra_headers=headers) as again:
                            await again.send_message("back")
                            assert await again.get_message() == "echo:back"
                            break
                    except trio_websocket.ConnectionRejected as error:
                        refused.append(error.body or b"")
                    except trio_websocket.ConnectionClosed:
                        pass
                    await trio.sleep(0.2)
            assert not [b for b in refused if b"you already have" in b], refused


async def test_a_node_link_that_ends_answers_its_relayed_request_502(tmp_path: Path) -> None:
    async with _served_through_proxy(tmp_path) as (c, proxy, nursery):
        answers: list[httpx.Response] = []

        async def ask() -> None:
            answers.append(await c.http.get("/x/web/ui/hang", timeout=60))

        nursery.start_soon(ask)
        await wait_tunnels(c.http, lambda r: r["kind"] == "visit" and r["active"] == 1)
        proxy.cut_link()  # the node's control link; the request's stream stays
        with trio.fail_after(10):
            while not answers:
                await trio.sleep(0.05)
        assert answers[0].status_code == 502, answers[0].text
        assert answers[0].json()["error"] == "bad gateway"  # its status's, not a 503's
        assert "link to node n1 is gone" in answers[0].json()["detail"]


async def test_a_node_link_that_ends_during_the_upgrade_answers_502_at_once(
    tmp_path: Path,
) -> None:
    """The service holds the upgrade unanswered when the link drops: the visitor is
    refused 502 naming the link, not 504 once the upgrade's bound (10 s) has passed."""
    async with _served_through_proxy(tmp_path) as (c, proxy, nursery):
        assert c.info.relay_url is not None
        visit = c.info.relay_url.replace("http://", "ws://") + "/x/web/ui/mute"
        headers = _auth(c)
        refusals: list[trio_websocket.ConnectionRejected] = []

        async def visit_it() -> None:
            try:
                async with open_websocket(visit, extra_headers=headers):
                    raise AssertionError("the mute service's upgrade was accepted")
            except trio_websocket.ConnectionRejected as refused:
                refusals.append(refused)

        nursery.start_soon(visit_it)
        with trio.fail_after(30):  # the upgrade has reached the service
            while (await c.http.get("/x/web/ui/muted")).text != "1":
                await trio.sleep(0.05)
        proxy.cut_link()
        with trio.fail_after(30):  # generous under load: the status tells 502 from 504
            while not refusals:
                await trio.sleep(0.05)
        assert refusals[0].status_code == 502, refusals[0]
        refused = json.loads(refusals[0].body or b"{}")
        assert refused["error"] == "bad gateway", refused
        assert "link to node n1 is gone" in refused["detail"], refused


HOLD = Path(__file__).with_name("hold_client.py")


async def _appears(path: Path, timeout: float) -> None:
    with trio.fail_after(timeout):
        while not path.exists():
            await trio.sleep(0.05)


async def test_a_node_link_that_ends_ends_the_tunnels_from_it(tmp_path: Path) -> None:
    """A tunnel's own end comes through its node's session as well: a process on ``na``
    (whose link drops) holds a connection to a service on ``nb`` (whose link stays)."""
    out = tmp_path / "out"
    out.mkdir()
    spec = {
        "name": "tun",
        "network": "relay",  # through the Conductor, though both run on this machine
        "processes": [
            {
                "name": "server",
                "node_group": "nb",
                "binds": ["echo"],
                "cmds": [f"exec {sys.executable} {ECHO} $SYMPH_ECHO_PORT"],
            },
            {
                "name": "holder",
                "node_group": "na",
                "connects": ["echo"],
                "cmds": [f"exec {sys.executable} {HOLD} {out / 'held'}"],
            },
        ],
    }
    async with cluster(tmp_path, node=False) as c, trio.open_nursery() as nursery:
        proxy = _LinkProxy(c.info.node_port)
        port = await nursery.start(proxy.serve)
        await c.add_node("nb", groups=("nb",), **ports())
        await c.add_node("na", groups=("na",), conductor_port=port, **ports())
        answer = await c.http.post("/experiments", json=spec)
        assert answer.status_code == 201, answer.text
        await _appears(out / "held.open", 90)
        await wait_tunnels(c.http, lambda r: r["kind"] == "tunnel" and r["active"] == 1)
        proxy.cut_link()  # na's control link; its relay connection stays
        await _appears(out / "held.closed", 10)
        nursery.cancel_scope.cancel()
