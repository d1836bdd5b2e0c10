"""What a proxied WebSocket may hold in the Conductor is bounded, whatever its peers read.

Quart-Trio's WebSocket read up to ten messages ahead of the route, and the service's side
queued four more: a browser sending big messages to a service that reads nothing filled
the Conductor with a dozen of them (16 MiB each allowed), on each such WebSocket. Now a
message is read only once the route asks for it (having passed the last one on), and a
Conductor relays a bounded number of WebSockets (503 past it).
"""

from __future__ import annotations

import shlex
import sys
import tracemalloc
from pathlib import Path

import httpx
import pytest
import trio
import trio_websocket

from symphony.conductor import ConductorInfo
from symphony.conductor.api import proxy_ws
from symphony.conductor.relay import hub

from ..api.helpers import Cluster, cluster
from .helpers import ports, wait_served, web_experiment
from .test_port_forward import echo_experiment
from .test_port_forward_stop import _forward, _wait_echo

#: The size of each message sent to the service that reads nothing.
SIZE = 4 * 1024 * 1024
#: A send that takes longer than this has stalled: every buffer on the way is full.
STALL = 5.0
#: Seconds the Conductor waits for a silent service's answer to the upgrade in these
#: tests (10 by default): each 504 takes that long. Well above a local node's time to
#: open a stream, whose own 504 would say something else.
SILENT_WAIT = 5.0

UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


async def test_a_service_that_reads_nothing_leaves_few_messages_held(tmp_path: Path) -> None:
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        url = _relay_ws(c.info) + "/x/web/ui/sink"  # where browsers open it
        token = c.http.headers["Authorization"].encode()
        data = b"m" * SIZE
        async with trio_websocket.open_websocket_url(
            url, extra_headers=[(b"Authorization", token)]
        ) as ws:
            # Only what is allocated from here on is counted (this process is the
            # Conductor, its node and this client, which holds the one message it sends).
            tracemalloc.start()
            try:
                sent = 0
                with trio.fail_after(120):
                    while True:
                        with trio.move_on_after(STALL) as wait:
                            await ws.send_message(data)
                            sent += 1
                        if wait.cancelled_caught:
                            break
                held, _ = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert sent > 0
            # At first ~14 messages (ten read ahead of the route, the reader's, the
            # route's, the server's next, the client's); then 4.05 (the reader's next
            # one, the route's, its frame twice: masked, then with its header); now
            # 3.06: the next message stays in the client's socket until the route asks.
            assert held < 3.5 * SIZE, f"{held / SIZE:.2f} messages held after {sent} sent"
            c.nursery.cancel_scope.cancel()


async def test_a_conductor_relays_a_bounded_number_of_websockets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proxy_ws, "MAX_SERVICE_WEBSOCKETS", 1)
    monkeypatch.setattr(proxy_ws, "MAX_FORWARDS", 1)
    async with cluster(tmp_path, node_overrides=ports()) as c:
        for spec in (web_experiment(), echo_experiment()):
            assert (await c.http.post("/experiments", json=spec)).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        await _wait_echo(c.info)
        base = c.info.http_url.replace("http://", "ws://")
        token = c.http.headers["Authorization"].encode()
        forward_url, forward_headers = _forward(c.info)
        with trio.fail_after(30):
            for path, url, headers, what in (
                (
                    "/x/web/ui/sink",
                    _relay_ws(c.info) + "/x/web/ui/sink",  # the limit spans both ports
                    [(b"Authorization", token)],
                    "services",
                ),
                (forward_url.removeprefix(base), forward_url, forward_headers, "port-forward"),
            ):
                async with trio_websocket.open_websocket_url(url, extra_headers=headers):
                    refused = await c.http.get(path, headers=UPGRADE)
                    assert refused.status_code == 503, refused.text
                    assert refused.json()["error"] == "too many WebSockets"
                    assert what in refused.json()["detail"], refused.text
                # Closed, its place is free again (once the route has noticed the close).
                while True:
                    try:
                        async with trio_websocket.open_websocket_url(url, extra_headers=headers):
                            break
                    except trio_websocket.ConnectionRejected:
                        await trio.sleep(0.05)
        c.nursery.cancel_scope.cancel()


SILENT = (
    "import socket, sys, time\n"
    "s = socket.create_server(('127.0.0.1', int(sys.argv[1])))\n"
    "held = []\n"
    "while True: held.append(s.accept())\n"
)


async def silent_service_listening(c: Cluster) -> httpx.Response:
    """Launch experiment "silent" (a service that takes connections and never answers the
    upgrade) and return the first 504 its /x/ WebSocket gets: refused (502) until it
    listens."""
    spec = {
        "name": "silent",
        "processes": [
            {
                "name": "app",
                "cmds": [f"exec {sys.executable} -c {shlex.quote(SILENT)} $SYMPH_UI_PORT"],
                "exposes": ["ui"],
            }
        ],
    }
    assert (await c.http.post("/experiments", json=spec)).status_code == 201
    while True:
        answer = await c.http.get("/x/silent/ui/ws", headers=UPGRADE, timeout=30)
        if answer.status_code == 504:
            return answer
        assert answer.status_code == 502, answer.text
        await trio.sleep(0.2)


async def test_a_service_that_never_answers_the_upgrade_gets_a_504_and_frees_its_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service that takes the connection and never answers the WebSocket upgrade (a
    hung server, a raw TCP port exposed under a name) used to hold the visitor's
    WebSocket, and one of the Conductor's few slots, for as long as it stayed so."""
    monkeypatch.setattr(proxy_ws, "MAX_SERVICE_WEBSOCKETS", 1)
    monkeypatch.setattr(hub, "OPEN_TIMEOUT", SILENT_WAIT)
    async with cluster(tmp_path, node_overrides=ports()) as c:
        with trio.fail_after(60):
            answer = await silent_service_listening(c)
            assert "did not answer the WebSocket upgrade" in answer.json()["detail"]
            # Its slot is free again: the next one is refused for the same reason.
            again = await c.http.get("/x/silent/ui/ws", headers=UPGRADE, timeout=30)
            assert again.status_code == 504, again.text
        c.nursery.cancel_scope.cancel()


async def test_a_visitor_leaving_during_the_hand_off_frees_its_slot_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the Conductor waits for the service's answer to the upgrade (up to 10 s), a
    visitor that left used to keep its slot until then: the next visitor got a 503."""
    monkeypatch.setattr(proxy_ws, "MAX_SERVICE_WEBSOCKETS", 1)
    monkeypatch.setattr(hub, "OPEN_TIMEOUT", SILENT_WAIT)
    async with cluster(tmp_path, node_overrides=ports()) as c:
        with trio.fail_after(60):
            await silent_service_listening(c)
        host, port = c.info.http_url.removeprefix("http://").rsplit(":", 1)
        token = c.http.headers["Authorization"]
        request = "".join(f"{k}: {v}\r\n" for k, v in {**UPGRADE, "Authorization": token}.items())
        stream = await trio.open_tcp_stream(host, int(port))
        await stream.send_all(
            f"GET /x/silent/ui/ws HTTP/1.1\r\nHost: {host}\r\n{request}\r\n".encode()
        )
        await trio.sleep(1.0)  # the Conductor now waits for the service's answer
        await stream.aclose()
        # Its slot is free at once: the next visitor is not refused (503) but waits for
        # the service's answer in turn (cut here after 3 s, before that wait's 5 s ends:
        # the 504 comes 5 s after the Conductor took the request, sent after this clock).
        try:
            refused = await c.http.get("/x/silent/ui/ws", headers=UPGRADE, timeout=3)
        except httpx.ReadTimeout:
            pass
        else:
            raise AssertionError(f"the slot was still held: {refused.status_code} {refused.text}")
        c.nursery.cancel_scope.cancel()


async def test_a_service_refusing_the_websocket_gives_a_502(tmp_path: Path) -> None:
    """A service that answers the upgrade with an HTTP status (404: no WebSocket at that
    path) was a 500 "internal error": trio-websocket's reader raised the refusal in the
    proxy's nursery, past the handler meant for it."""
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        answer = await c.http.get("/x/web/ui/no-such-socket", headers=UPGRADE)
        assert answer.status_code == 502, answer.text
        assert "the service refused the WebSocket" in answer.json()["detail"]
        c.nursery.cancel_scope.cancel()


def _relay_ws(info: ConductorInfo) -> str:
    """The relay port's WebSocket address (services' own origin)."""
    assert info.relay_url is not None
    return info.relay_url.replace("http://", "ws://")
