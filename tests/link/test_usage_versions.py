"""Per-instance usage in heartbeats is protocol 3; version-2 peers on either side still work.

- A version-2 node (a hand-written peer: hello with version 2, heartbeats without
  ``instances``) is accepted by this Conductor at version 2, and its node usage is
  charted as before.
- This node sends them to the oldest Conductor it speaks to (a hand-written peer on the
  real transport; ``NODE_MIN_PROTOCOL_VERSION``).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.config import NodeConfig
from symphony.pki import client_ssl_context, server_ssl_context
from symphony.wire import (
    Heartbeat,
    Hello,
    HelloAccepted,
    NodeConnection,
    connect_to_conductor,
    negotiate_version,
    receive_hello,
    serve_nodes,
)
from tests.test_wire_support import make_pki, node_files

from .cluster import start_conductor, start_node, wait_for


async def test_link_v2_node_is_accepted_and_its_usage_charted(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        certs = info.cert_dir
        context = client_ssl_context(
            certs / "ca.pem", certs / "node-client.pem", certs / "node-client.key"
        )
        async with connect_to_conductor("localhost", info.node_port, context) as conn:
            hello = Hello(
                protocol_version=2, min_protocol_version=1, node_id="old", heartbeat_sec=1
            )
            await conn.send(hello)
            accepted = await conn.receive()
            assert isinstance(accepted, HelloAccepted) and accepted.protocol_version == 2
            await conn.send(Heartbeat(seq=0, usage={"cpu_percent": 7.0, "ram_used": 5}))
            headers = {"Authorization": f"Bearer {info.api_token}"}
            async with httpx.AsyncClient(base_url=info.http_url, headers=headers) as http:

                async def charted() -> Any:
                    reply = (await http.get("/nodes/old/usage-history")).json()
                    return reply["buckets"]

                (bucket,) = await wait_for(charted)
                assert bucket["cpu_percent"] == 7.0 and bucket["ram_used"] == 5.0
        nursery.cancel_scope.cancel()


async def _old_conductor(
    pki: Any, speaks: int, beats: list[Heartbeat], *, task_status: Any
) -> None:
    """A Conductor that speaks versions 1..``speaks``: it records the heartbeats."""

    async def handler(conn: NodeConnection) -> None:
        hello = await receive_hello(conn, timeout=5)
        version = negotiate_version(
            hello.protocol_version, hello.min_protocol_version, ours=(1, speaks)
        )
        await conn.send(
            HelloAccepted(protocol_version=version, heartbeat_sec=0.2, node_timeout_sec=30)
        )
        while True:
            got = await conn.receive()
            for msg in got if isinstance(got, list) else [got]:
                if isinstance(msg, Heartbeat):
                    beats.append(msg)

    await serve_nodes(
        handler,
        host="127.0.0.1",
        port=0,
        ssl_context=server_ssl_context(pki),
        task_status=task_status,
    )


async def _heartbeats_from_a_node(tmp_path: Path, speaks: int) -> list[Heartbeat]:
    pki = make_pki(tmp_path)
    files = node_files(pki, tmp_path / "node-certs", "n1")
    beats: list[Heartbeat] = []
    async with trio.open_nursery() as nursery:
        port = await nursery.start(functools.partial(_old_conductor, pki, speaks, beats))
        config = NodeConfig(
            node_id="n1",
            conductor_host="localhost",
            conductor_port=port,
            heartbeat_sec=0.2,
            ca_file=files.ca_file,
            cert_file=files.cert_file,
            key_file=files.key_file,
            state_dir=tmp_path / "node",
        )
        await start_node(nursery, config)
        deadline = time.monotonic() + 10
        while len(beats) < 3 and time.monotonic() < deadline:
            await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    assert len(beats) >= 3, "the node sent no heartbeats"
    return beats


async def test_link_node_sends_instance_usage_to_the_oldest_conductor_it_speaks_to(
    tmp_path: Path,
) -> None:
    from symphony.wire import NODE_MIN_PROTOCOL_VERSION

    beats = await _heartbeats_from_a_node(tmp_path, speaks=NODE_MIN_PROTOCOL_VERSION)
    assert all(beat.instances == () for beat in beats)  # it runs nothing: an empty list
