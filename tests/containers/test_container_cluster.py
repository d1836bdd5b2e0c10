"""Container jobs through a real Conductor: placement by runtime, the pending reason
that names it, runs, logs and pull events. The node is in-process, with the fake
runtime first on its PATH (see ``fakebin/podman``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.api.helpers import cluster

from .fake import IMAGE, FakeRuntime


async def test_container_deployment_placed_where_the_runtime_is_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRuntime(tmp_path)
    fake.publish(IMAGE, cmd=["sh", "-c", "echo hello from $SYMPHONY_NODE_ID; sleep 600"])
    for name in ("PATH", "FAKE_RUNTIME_STATE"):
        monkeypatch.setenv(name, fake.env[name])
    async with cluster(tmp_path) as c:
        (node,) = (await c.http.get("/nodes")).json()["nodes"]
        assert "podman" in node["container_runtimes"]  # (a docker with a daemon may be too)
        spec = {"name": "boxed", "kind": "podman", "config": {"image": IMAGE}}
        created = await c.http.post("/deployments", json=spec)
        assert created.status_code == 201, created.text
        await c.wait_running("boxed", timeout=30)
        with trio.fail_after(30):  # the container's output, in the deployment's logs
            while (await c.http.get("/deployments/boxed/logs")).text != "hello from n1\n":
                await trio.sleep(0.05)
        events = (await c.http.get("/deployments/boxed/events")).json()["events"]
        texts = [e["message"] for e in events]
        assert any(t.endswith(f": pulling image {IMAGE}") for t in texts), texts
        assert any(f": pulled image {IMAGE} in " in t for t in texts), texts

        docker = {"name": "dockered", "kind": "docker", "config": {"image": IMAGE}}
        assert (await c.http.post("/deployments", json=docker)).status_code == 201
        # Pending from its creation ("waiting for a node"), then with the Scheduler's verdict.
        pending = await c.wait_for(
            "dockered",
            lambda d: (
                d["instances"]
                and d["instances"][0]["state"] == "pending"
                and d["instances"][0]["reason"] != "waiting for a node"
            ),
        )
        reason = pending["instances"][0]["reason"]
        assert reason == "no ready node in group gpu-1 has the docker container runtime" or (
            reason == "no ready node has the docker container runtime"
        ), reason
