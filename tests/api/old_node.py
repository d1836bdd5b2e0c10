"""A node of an older protocol version, faked over a real mTLS link: it says hello with
that version, beats, records every message the Conductor sends and reports every start
as running (pid 4242). What an old node is sent is what these tests check."""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from symphony.pki import client_ssl_context
from symphony.wire import (
    ConductorConnection,
    Heartbeat,
    Hello,
    HelloAccepted,
    InstanceStatus,
    Message,
    StartInstance,
    connect_to_conductor,
)

#: What the fake node also does with a message it was sent (it has recorded it).
Answer = Callable[[ConductorConnection, Message], Awaitable[None]]


def node_context(info: Any) -> ssl.SSLContext:
    """The TLS context of a node with the shared seed certificate of ``info``'s Conductor."""
    certs = info.cert_dir
    return client_ssl_context(
        certs / "ca.pem", certs / "node-client.pem", certs / "node-client.key"
    )


async def old_node(
    info: Any,
    seen: list[Any],
    protocol: int,
    answer: Answer | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run node ``old`` (group gpu-1, Analytic1: 10) speaking only ``protocol``."""
    async with connect_to_conductor("localhost", info.node_port, node_context(info)) as conn:
        hello = Hello(
            protocol_version=protocol,
            node_id="old",
            groups=("gpu-1",),
            capacities_total={"Analytic1": 10},
            heartbeat_sec=0.5,
            incarnation=f"v{protocol}-node" if protocol >= 2 else None,  # 2 added it
        )
        await conn.send(hello)
        accepted = await conn.receive()
        assert isinstance(accepted, HelloAccepted) and accepted.protocol_version == protocol
        task_status.started()
        async with trio.open_nursery() as nursery:

            async def beat() -> None:
                for seq in range(10**6):
                    await conn.send(Heartbeat(seq=seq))
                    await trio.sleep(0.3)

            nursery.start_soon(beat)
            while True:
                received = await conn.receive()
                for msg in received if isinstance(received, list) else [received]:
                    seen.append(msg)
                    if isinstance(msg, StartInstance):
                        running = InstanceStatus(
                            instance_id=msg.instance_id,
                            deployment_id=msg.deployment_id,
                            state="running",
                            pid=4242,
                            at=time.time(),
                        )
                        await conn.send(running)
                    elif answer is not None:
                        await answer(conn, msg)
