"""An obedient node on a real link that runs no processes: it reports what it is told.

It speaks the node side of the wire protocol over real mTLS to a real Conductor, and
answers commands the way the node agent's contract says, without spawning anything:

- :class:`StartInstance` -> ``running`` (unless a stop for that id came first: then it
  never starts, as the node agent promises);
- :class:`StopInstance` -> ``stopped`` (final), also for an id it never heard of.

Cheap enough to run hundreds of "instances" on a busy test machine, so scheduling and
deployment bookkeeping can be hammered without the noise of real processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from symphony.pki import client_ssl_context
from symphony.wire import (
    PROTOCOL_VERSION,
    ConnectionClosed,
    Heartbeat,
    Hello,
    InstanceStatus,
    StartInstance,
    StatusBatch,
    StopInstance,
    client_hello,
    connect_to_conductor,
)


@dataclass(eq=False)
class EchoNode:
    """One obedient node; ``running`` maps instance id -> deployment id."""

    node_id: str
    port: int
    cert_dir: Path
    capacities: Mapping[str, int]
    groups: tuple[str, ...] = ("gpu-1",)
    heartbeat_sec: float = 0.5
    running: dict[str, str] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)

    def hello(self) -> Hello:
        return Hello(
            protocol_version=PROTOCOL_VERSION,
            node_id=self.node_id,
            groups=self.groups,
            capacities_total=dict(self.capacities),
            heartbeat_sec=self.heartbeat_sec,
            instances=tuple(
                InstanceStatus(instance_id=i, deployment_id=d, state="running", pid=1)
                for i, d in self.running.items()
            ),
        )

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Connect once and follow commands until cancelled or the link closes."""
        ctx = client_ssl_context(
            self.cert_dir / "ca.pem",
            self.cert_dir / "node-client.pem",
            self.cert_dir / "node-client.key",
        )
        async with connect_to_conductor("127.0.0.1", self.port, ctx, timeout=10) as conn:
            await client_hello(conn, self.hello(), timeout=10)
            task_status.started()
            with contextlib.suppress(ConnectionClosed):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._heartbeats, conn)
                    while True:
                        received = await conn.receive()
                        batch = received if isinstance(received, list) else [received]
                        replies = [r for msg in batch if (r := self._follow(msg)) is not None]
                        if replies:
                            await conn.send(StatusBatch(updates=tuple(replies)))

    def _follow(self, msg: Any) -> InstanceStatus | None:
        if isinstance(msg, StartInstance):
            if msg.instance_id in self.stopped:
                return None  # a stop came first: never start it
            self.running[msg.instance_id] = msg.deployment_id
            return InstanceStatus(
                instance_id=msg.instance_id,
                deployment_id=msg.deployment_id,
                state="running",
                pid=1,
            )
        if isinstance(msg, StopInstance):
            self.stopped.add(msg.instance_id)
            deployment = self.running.pop(msg.instance_id, None)
            return InstanceStatus(
                instance_id=msg.instance_id,
                deployment_id=deployment or "unknown",
                state="stopped",
                final=True,
            )
        return None

    async def _heartbeats(self, conn: Any) -> None:
        seq = 0
        while True:
            await conn.send(Heartbeat(seq=seq, usage={}))
            seq += 1
            await trio.sleep(self.heartbeat_sec)
