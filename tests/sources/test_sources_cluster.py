"""The seed's example spec, verbatim but for a real URL, on a real Conductor and node:
the image is fetched over HTTP, unpacked into the instance's directory, and run inside
the named environment; what no node has waits, saying so; git refs are pinned."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from symphony.node.sources import prepare

from ..api.helpers import Cluster
from ..link.cluster import shared_cert_node, start_conductor, start_node
from .helpers import bare_repo, commit_more, git, http_server, sha256, zip_file
from .test_envs import make_venv

# Writes which Python runs it (the venv's) and from where, then stays up.
MAIN = """import os, sys, time
open("out.txt", "w").write(sys.prefix + "\\n" + os.getcwd() + "\\n")
time.sleep(600)
"""


def seed_spec(url: str) -> dict[str, Any]:
    """The first seed's example spec; only the URL is a real one."""
    return {
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "kind": "exec",
        "config": {
            "image": url,
            "env_name": "conda-env1",
            "command": ["python3", "main.py"],
            "env": {"LOG_LEVEL": "info"},
        },
        "restart_policy": {"type": "on-failure", "backoff_seconds": 10},
    }


@contextlib.asynccontextmanager
async def sources_cluster(tmp: Path) -> AsyncIterator[Cluster]:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp / "conductor")
        headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
        async with httpx.AsyncClient(base_url=info.http_url, headers=headers, timeout=30) as http:
            node = shared_cert_node(info, "n1", tmp / "n1", envs_dir=tmp / "envs")
            await start_node(nursery, node)
            yield Cluster(info, http, nursery, tmp)
        nursery.cancel_scope.cancel()


async def test_sources_seed_spec_runs_image_in_its_env_and_waits_for_missing_envs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare, "ENV_SCAN_INTERVAL", 0.2)
    site = tmp_path / "site"
    site.mkdir()
    zip_file(site / "image.zip", {"main.py": MAIN})
    (tmp_path / "envs").mkdir()
    with http_server(site) as server:
        async with sources_cluster(tmp_path) as c:
            created = await c.http.post("/deployments", json=seed_spec(f"{server.url}/image.zip"))
            assert created.status_code == 201, created.text
            name = created.json()["name"]
            # No node has conda-env1 (yet): pending, naming the environment.
            waiting = await c.wait_for(
                name, lambda d: "conda-env1" in (d["instances"][0]["reason"] or ""), timeout=20
            )
            assert waiting["instances"][0]["state"] == "pending"
            venv = make_venv(tmp_path / "envs", "conda-env1")  # the node gets it later
            running = await c.wait_running(name, timeout=30)
            (inst,) = running["instances"]
            work = tmp_path / "n1" / "jobs" / "work" / inst["id"]
            with trio.fail_after(20):
                while not (work / "out.txt").exists():
                    await trio.sleep(0.05)
            prefix, cwd = (work / "out.txt").read_text().split()
            assert prefix == str(venv) and Path(cwd) == work
            nodes = (await c.http.get("/nodes")).json()["nodes"]
            assert nodes[0]["envs"] == ["conda-env1"]
            events = (await c.http.get(f"/deployments/{name}/events")).json()
            assert any("downloading the image" in str(e) for e in events["events"]), events


async def test_sources_bad_image_fails_the_instance_with_the_reason(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    archive = zip_file(site / "image.zip", {"main.py": MAIN})
    with http_server(site) as server:
        async with sources_cluster(tmp_path) as c:
            spec = {
                "name": "wrong-digest",
                "node_group": "gpu-1",
                "config": {"image": f"{server.url}/image.zip", "sha256": "0" * 64,
                           "command": ["python3", "main.py"]},
                "reschedule": {"attempts": 0},
            }  # fmt: skip
            assert (await c.http.post("/deployments", json=spec)).status_code == 201
            failed = await c.wait_for(
                "wrong-digest", lambda d: d["instances"][0]["state"] == "failed", timeout=30
            )
            reason = failed["instances"][0]["reason"]
            assert "sha256 mismatch" in reason and sha256(archive) in reason, reason
            bad = {**spec, "name": "bad-url", "config": {**spec["config"], "image": "ftp://x/y"}}
            refused = await c.http.post("/deployments", json=bad)
            assert refused.status_code == 422 and "config.image" in refused.text


async def test_sources_git_ref_resolved_once_per_spec_version(tmp_path: Path) -> None:
    bare, first = bare_repo(tmp_path)
    async with sources_cluster(tmp_path) as c:
        spec = {
            "name": "from-git",
            "node_group": "gpu-1",
            "replicas": 2,
            "config": {"git": {"repo": f"file://{bare}", "ref": "main"},
                       "command": ["sh", "-c", "cat main.py; sleep 600"]},
        }  # fmt: skip
        created = await c.http.post("/deployments", json=spec)
        assert created.status_code == 201, created.text
        assert created.json()["spec"]["config"]["git"]["commit"] == first
        second = commit_more(tmp_path, bare, "main.py", "print('two')\n")
        # Scaling is not a new version of the code: the recorded commit stays.
        scaled = await c.http.patch("/deployments/from-git", json={"replicas": 3})
        assert scaled.json()["spec"]["config"]["git"]["commit"] == first
        running = await c.wait_for(
            "from-git",
            lambda d: sum(i["state"] == "running" for i in d["instances"]) == 3,
            timeout=30,
        )
        for inst in running["instances"]:  # every replica runs the same commit
            work = tmp_path / "n1" / "jobs" / "work" / inst["id"]
            assert git("rev-parse", "HEAD", cwd=work) == first
        git("tag", "v2", second, cwd=bare)
        moved = await c.http.patch("/deployments/from-git", json={"config": {"git": {"ref": "v2"}}})
        assert moved.json()["spec"]["config"]["git"]["commit"] == second
        missing = {**spec, "name": "no-ref", "config": {**spec["config"],
                   "git": {"repo": f"file://{bare}", "ref": "no-such-branch"}}}  # fmt: skip
        refused = await c.http.post("/deployments", json=missing)
        assert refused.status_code == 422 and "no-such-branch" in refused.text, refused.text
