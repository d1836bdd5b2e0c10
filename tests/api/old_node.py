"""A node of an older protocol version, faked over a real mTLS link: it says hello with
that version, beats, records every message the Conductor sends and reports every start
as running (pid 4242). What an old node is sent is what these tests check."""

from __future__ import annotations

import time
from typing import Any

import trio

from symphony.wire import (
    Heartbeat,
    Hello,
    HelloAccepted,
    InstanceStatus,
    StartInstance,
    connect_to_conductor,
)

from .test_api_logs_v1_node import _context


async def old_node(
    info: Any, seen: list[Any], protocol: int, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """Run node ``old`` (group gpu-1, Analytic1: 10) speaking only ``protocol``."""
    async with connect_to_conductor("localhost", info.node_port, _context(info)) as conn:
        hello = Hello(
            protocol_version=protocol,
            node_id="old",
            groups=("gpu-1",),
            capacities_total={"Analytic1": 10},
            heartbeat_sec=0.5,
            incarnation=f"v{protocol}-node",
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
