"""A change to a deployment being deleted is refused (409), not answered 200 and lost.

A DELETE waits for every process group to stop (a job that ignores SIGTERM holds it
for its stop timeout). A PATCH, rollback or promote meanwhile was answered 200 with
the changed deployment (replicas 5, running), and the change then vanished with it.
"""

from __future__ import annotations

from pathlib import Path

import trio

from .helpers import cluster, sh


async def test_a_change_while_the_deployment_is_deleted_is_a_409(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        spec = sh("trap '' TERM; while true; do sleep 0.05; done", "stubborn", replicas=2)
        spec["stop_timeout_seconds"] = 3
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        await c.wait_running("stubborn")
        deleted: list[int] = []

        async def delete() -> None:
            deleted.append((await c.http.delete("/deployments/stubborn")).status_code)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(delete)
            await c.wait_for("stubborn", lambda d: d["state"] == "stopping")
            for body in ({"replicas": 5}, {"desired_state": "running"}):
                response = await c.http.patch("/deployments/stubborn", json=body)
                assert response.status_code == 409, (body, response.text)
                assert "being deleted" in response.json()["detail"]
            response = await c.http.post("/deployments/stubborn/rollback", json={})
            assert response.status_code == 409, response.text
            assert not deleted  # all of it while the DELETE waited
        assert deleted == [200]
        assert (await c.http.get("/deployments/stubborn")).status_code == 404
        c.nursery.cancel_scope.cancel()
