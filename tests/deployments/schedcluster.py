"""A Conductor built in-process with an injected wall clock, and one real node: tests
of scheduled deployments fire runs through the clock or tell the Deployments manager
what the Timetable would."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.actors import Supervisor, spawn
from symphony.conductor import ConductorInfo, build_tree
from symphony.conductor.api.server import GetUrl
from symphony.conductor.deployments.messages import FireRun, RestartDue, SchedulesChanged
from symphony.conductor.nodes.gateway import GetPort
from symphony.conductor.service import api_token_of, load_pki
from symphony.conductor.store import Store
from symphony.pki import ensure_private_dir

from ..link.cluster import conductor_config, shared_cert_node, start_node


@dataclass
class SchedCluster:
    tree: Supervisor
    http: httpx.AsyncClient
    store: Store

    async def fire(self, name: str, at: float, *, restart: bool = False) -> None:
        """Do what the Timetable does when ``name``'s schedule is due at ``at``."""
        record = self.store.get_deployment(name)
        assert record is not None
        message = RestartDue(record.id, at, at) if restart else FireRun(record.id, at, at)
        await self.tree.child("deployments").tell(message)

    def poke(self) -> None:
        """Make the Timetable look at the clock now (as a change of a deployment does)."""
        self.tree.child("timetable").tell_nowait(SchedulesChanged())

    async def get(self, path: str) -> Any:
        response = await self.http.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    async def until(self, path: str, check: Callable[[Any], bool], timeout: float = 20) -> Any:
        """GET ``path`` until ``check`` holds for its answer (real time: real processes)."""
        last = None
        with trio.move_on_after(timeout):
            while True:
                last = await self.get(path)
                if check(last):
                    return last
                await trio.sleep(0.05)
        raise AssertionError(f"{path}: condition not met in {timeout} s; last: {last}")


@contextlib.asynccontextmanager
async def sched_cluster(tmp_path: Path, now: Callable[[], float]) -> AsyncIterator[SchedCluster]:
    config = conductor_config(tmp_path / "conductor")
    ensure_private_dir(config.state_dir)
    pki = load_pki(config)
    store = Store.open(config.state_dir / "symphony.db")
    tree = build_tree(config, pki, store, now=now)
    try:
        async with trio.open_nursery() as nursery:
            await spawn(nursery, tree, name="conductor")
            info = ConductorInfo(
                node_port=await tree.child("gateway").ask(GetPort()),
                http_url=await tree.child("http").ask(GetUrl()),
                ca_fingerprint=pki.ca_fingerprint,
                cert_dir=pki.cert_dir,
                state_dir=config.state_dir,
                api_token=api_token_of(config),
            )
            await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n1"))
            headers = {"Authorization": f"Bearer {info.api_token}"}
            async with httpx.AsyncClient(base_url=info.http_url, headers=headers) as http:
                cluster = SchedCluster(tree, http, store)
                await cluster.until(
                    "/nodes", lambda a: [n["state"] for n in a["nodes"]] == ["ready"]
                )
                yield cluster
            nursery.cancel_scope.cancel()
    finally:
        store.close()
