"""A node reporting an instance it was never given cannot take it from its deployment.

``payroll`` waits for a node of group ``vault``. A node with its own certificate (group
``gpu-1``, no capacity) reports payroll's pending instance as running, in a status and
in its hello. The Conductor adopted it: the instance showed ``running`` on that node,
its placement withdrawn, while it ran nowhere. Now the node is told to stop it, the
instance stays pending, and a node of group ``vault`` that joins later runs it. A node
whose hello says it is in an instance's group still has its report adopted (a Conductor
that went down between a start and its record cannot tell that case apart).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.wire import PROTOCOL_VERSION, Hello, InstanceStatus, StopInstance
from symphony.wire.states import InstanceState

from .cluster import own_cert_node, shared_cert_node, start_conductor, start_node, wait_for
from .hostile import drain, hostile_link

PAYROLL = {
    "name": "payroll",
    "node_group": "vault",
    "capacity_requests": {"Analytic1": 1},
    "config": {"command": ["sleep", "600"]},
}


async def test_a_node_cannot_claim_an_instance_it_was_never_given(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        headers = {"Authorization": f"Bearer {info.api_token}"}
        async with httpx.AsyncClient(base_url=info.http_url, headers=headers) as api:
            created = (await api.post("/deployments", json=PAYROLL, timeout=10)).json()
            pending = created["instances"][0]

            async def payroll() -> dict[str, Any]:
                found = await api.get("/deployments/payroll", timeout=10)
                return dict(found.json()["instances"][0])

            report = InstanceStatus(
                instance_id=pending["id"],
                deployment_id=created["id"],
                state=InstanceState.RUNNING,
                pid=4242,
            )
            mallory = own_cert_node(info, "mallory", tmp_path / "m")
            seen: list[Any] = []
            for hello_lists_it in (False, True):
                hello = Hello(
                    protocol_version=PROTOCOL_VERSION,
                    node_id="mallory",
                    groups=("gpu-1",),
                    instances=(report,) if hello_lists_it else (),
                )
                cert = (mallory.cert_file, mallory.key_file)
                async with hostile_link(info, cert=cert, hello=hello) as conn:
                    nursery.start_soon(drain, conn, seen)
                    if not hello_lists_it:
                        await conn.send(report)

                    stops = 1 + hello_lists_it  # one more each time

                    async def told_to_stop(stops: int = stops) -> bool:
                        return sum(isinstance(m, StopInstance) for m in seen) >= stops

                    await wait_for(told_to_stop)
                    inst = await payroll()
                    assert (inst["state"], inst.get("node_id")) == ("pending", None), inst
            # The instance still waits for a node that fits, and runs once one joins.
            vault = shared_cert_node(info, "vault-1", tmp_path / "v", groups=("vault",))
            await start_node(nursery, vault)

            async def runs_on_vault() -> bool:
                inst = await payroll()
                return inst["state"] == "running" and inst.get("node_id") == "vault-1"

            await wait_for(runs_on_vault, timeout=20)

            # The honest case a hello covers: a Conductor that went down between a start
            # and its record sees the instance in the hello of a node of its group.
            batch = {**PAYROLL, "name": "batch", "node_group": "gpu-1"}
            created = (await api.post("/deployments", json=batch, timeout=10)).json()
            waiting = created["instances"][0]
            ran = InstanceStatus(
                instance_id=waiting["id"],
                deployment_id=created["id"],
                state=InstanceState.RUNNING,
                pid=4343,
            )
            hello = Hello(
                protocol_version=PROTOCOL_VERSION,
                node_id="mallory",
                groups=("gpu-1",),
                instances=(ran,),
            )
            async with hostile_link(info, cert=cert, hello=hello) as conn:
                nursery.start_soon(drain, conn)

                async def adopted() -> bool:
                    found = await api.get("/deployments/batch", timeout=10)
                    inst = found.json()["instances"][0]
                    return inst["state"] == "running" and inst.get("node_id") == "mallory"

                await wait_for(adopted)
        nursery.cancel_scope.cancel()
