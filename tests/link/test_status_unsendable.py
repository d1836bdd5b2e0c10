"""A status update the node cannot send fails itself, never the link.

The link queues status updates and removes a batch only once it is sent. A batch whose
frame cannot be made (one update holding a string UTF-8 cannot carry, or 500 updates
that are each fine but together exceed the frame limit) raised out of the session:
the link dropped, and after the next hello the same batch went first again, so the
link dropped again, forever (the Conductor saw the node flap, and no update behind the
bad one ever arrived). Now an over-large batch is split, and an update that cannot be
encoded alone is dropped with a log line; the link stays the one it was.

A real Conductor and node; the updates are told to the node's link as any part of the
node tells them, here about the one real instance (and instances the Conductor does
not know, which it drops), so that the API shows what arrived.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.node.link import GetLinkStatus
from symphony.wire import InstanceStatus, StatusBatch
from tests.link.cluster import shared_cert_node, start_conductor, start_node, wait_for

LONG = "€" * 4000  # a reason the wire accepts (4,000 characters, 12,000 bytes)


async def _running(http: httpx.AsyncClient) -> dict[str, Any] | None:
    body = (await http.get("/deployments/steady")).json()
    found = next((i for i in body["instances"] if i["state"] == "running"), None)
    return None if found is None else {**found, "deployment": body["id"]}


def _about(instance: dict[str, Any], reason: str) -> InstanceStatus:
    """The instance as it is (running), with ``reason``."""
    return InstanceStatus(
        instance_id=instance["id"],
        deployment_id=instance["deployment"],
        state="running",
        pid=instance["pid"],
        started_at=instance["started_at"],
        reason=reason,
        at=time.time(),
    )


def _ghost(k: int, reason: str) -> InstanceStatus:
    # Final, of an instance the Conductor does not know: dropped there, no stop back.
    return InstanceStatus(
        instance_id=f"ghost-{k}", deployment_id="ghost", state="stopped", reason=reason, final=True
    )


async def test_link_unsendable_statuses_are_split_or_dropped_not_resent_forever(
    tmp_path: Path,
) -> None:
    spec = {
        "name": "steady",
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["sleep", "1000"]},
    }
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, tmp_path / "c")
            node = await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n"))
            headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
            async with httpx.AsyncClient(
                base_url=info.http_url, headers=headers, timeout=10
            ) as http:
                assert (await http.post("/deployments", json=spec)).status_code == 201
                instance = await wait_for(lambda: _running(http), timeout=30)

                # One update UTF-8 cannot carry (a lone surrogate), then one that can.
                await node.link.tell(_ghost(0, "bad \udcff byte"))
                await node.link.tell(_about(instance, "after the bad one"))

                async def reason_is(text: str) -> bool:
                    found = await _running(http)
                    return found is not None and found["reason"] == text

                await wait_for(lambda: reason_is("after the bad one"), timeout=15)

                # 500 updates of 12 kB each: fine one by one, too big as one frame.
                batch = [_ghost(k, LONG) for k in range(1, 500)] + [_about(instance, LONG)]
                await node.link.tell(StatusBatch(updates=tuple(batch)))
                await wait_for(lambda: reason_is(LONG), timeout=15)

                status = await node.link.ask(GetLinkStatus())
                assert (status.state, status.connects) == ("connected", 1)
            await node.processes.shutdown_monitor(kill_jobs=True)
            nursery.cancel_scope.cancel()
