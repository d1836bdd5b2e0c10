"""A node of an older protocol version, played by the test over a real mTLS link: it
says hello with that version, beats, and reports every instance it is told to start as
running (with a made-up pid), keeping each message it decoded (only the StartInstance
ones unless ``keep_all``); ``answer`` may reply to the others."""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from symphony.pki import client_ssl_context
from symphony.wire import (
    Heartbeat,
    Hello,
    HelloAccepted,
    InstanceStatus,
    StartInstance,
    connect_to_conductor,
)


def _context(info: Any) -> ssl.SSLContext:
    certs = info.cert_dir
    return client_ssl_context(
        certs / "ca.pem", certs / "node-client.pem", certs / "node-client.key"
    )


async def run_old_node(
    info: Any,
    seen: list[Any],
    *,
    version: int,
    capacities: dict[str, int],
    keep_all: bool = False,
    answer: Callable[[Any, Any], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with connect_to_conductor("localhost", info.node_port, _context(info)) as conn:
        hello = Hello(
            protocol_version=version,
            node_id="old",
            groups=("gpu-1",),
            capacities_total=capacities,
            heartbeat_sec=0.5,
            incarnation=f"v{version}-node" if version >= 2 else None,
        )
        await conn.send(hello)
        accepted = await conn.receive()
        assert isinstance(accepted, HelloAccepted) and accepted.protocol_version == version
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
                    if keep_all or isinstance(msg, StartInstance):
                        seen.append(msg)
                    if not isinstance(msg, StartInstance):
                        if answer is not None:
                            await answer(conn, msg)
                        continue
                    running = InstanceStatus(
                        instance_id=msg.instance_id,
                        deployment_id=msg.deployment_id,
                        state="running",
                        pid=4242,
                        at=time.time(),
                    )
                    await conn.send(running)
