"""A node flooding statuses for instances it was never given: the Conductor reads them
only as fast as it applies them, so what waits stays bounded (``nodes/window.py``), and
another node's link stays up. Each status is for an instance of a real deployment that
the node never ran: it is answered with a stop, and nothing of that deployment changes,
not even when the node says the one instance it names that exists (it runs on the
other node) has ended.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from symphony.wire import InstanceStatus

from .cluster import node_state, shared_cert_node, start_conductor, start_node, wait_for
from .hostile import drain, frame, hostile_link, live_objects, send_raw

FRAMES, PER_FRAME = 30, 10_000
WEB = {
    "name": "web",
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "config": {"command": ["sleep", "600"]},
}


async def test_a_status_flood_is_read_at_the_pace_it_is_applied(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await start_node(nursery, shared_cert_node(info, "bystander", tmp_path / "n"))
        assert await wait_for(lambda: node_state(info, "bystander")) == "ready"
        headers = {"Authorization": f"Bearer {info.api_token}"}
        async with httpx.AsyncClient(base_url=info.http_url, headers=headers) as api:
            created = await api.post("/deployments", json=WEB, timeout=10)
            assert created.status_code == 201, created.text
            web = created.json()
        async with hostile_link(info) as conn:
            nursery.start_soon(drain, conn)  # it reads the stops it is answered with
            # The one instance it names that exists runs on the bystander: saying it
            # ended changes nothing.
            ended = {
                "instance_id": web["instances"][0]["id"],
                "deployment_id": web["id"],
                "state": "exited",
                "exit_code": 1,
                "final": True,
            }
            await send_raw(conn, frame({"t": "instance_status", **ended}))
            with trio.move_on_after(6):
                for f in range(FRAMES):
                    updates = [
                        {"instance_id": f"x{f}-{i}", "deployment_id": web["id"], "state": "running"}
                        for i in range(PER_FRAME)
                    ]
                    await send_raw(conn, frame({"t": "status_batch", "updates": updates}))
            # What was read and not yet applied is all the Conductor holds of them: a
            # window's worth, and the frame being read (it held 200,000 and more).
            waiting = live_objects(InstanceStatus)
            assert waiting < 4 * PER_FRAME, waiting
            assert await node_state(info, "bystander") == "ready"
        async with httpx.AsyncClient(base_url=info.http_url, headers=headers) as api:
            found = (await api.get("/deployments/web", timeout=10)).json()
        assert [i["id"] for i in found["instances"]] == [i["id"] for i in web["instances"]]
        assert {i.get("node_id") or i.get("node") for i in found["instances"]} == {"bystander"}
        assert {i["state"] for i in found["instances"]} == {"running"}
        nursery.cancel_scope.cancel()
