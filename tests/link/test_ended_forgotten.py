"""A node forgets an instance that ended for good once the Conductor has its end.

An instance that exited and will not run again (restart ``never``, a run-to-completion
job, a scheduled run) used to stay on its node for good: its supervisor, its record,
its events, reported in every hello and re-adopted after every agent restart. Now the
Conductor, once it has recorded the end, tells the node to forget it; its log files
stay. An instance that ends while the link is down is kept until a hello has told the
Conductor. Real Conductor, real node agent (monitor, jobs) in-process.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.conductor import ConductorInfo
from symphony.node import NodeHandle
from symphony.node.link import GetLinkStatus

from ..api.helpers import sh
from .cluster import node_state, shared_cert_node, start_node, wait_for
from .test_reconnect import conductor_life


@contextlib.asynccontextmanager
async def api(info: ConductorInfo) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
    async with httpx.AsyncClient(base_url=info.http_url, headers=headers, timeout=10) as http:
        yield http


async def instance(http: httpx.AsyncClient, name: str) -> dict[str, Any] | None:
    response = await http.get(f"/deployments/{name}")
    if response.status_code != 200 or not response.json()["instances"]:
        return None
    found: dict[str, Any] = response.json()["instances"][0]
    return found


async def exited(http: httpx.AsyncClient, name: str) -> dict[str, Any] | None:
    """The deployment's instance once the Conductor has it ``exited`` (code 0)."""
    found = await instance(http, name)
    return found if found and (found["state"], found["exit_code"]) == ("exited", 0) else None


async def forgotten(node: NodeHandle) -> bool:
    return not await node.processes.list_instances() and not node.processes.store.load_all()


async def ready(info: ConductorInfo) -> bool:
    return await node_state(info, "n1") == "ready"


async def logs(http: httpx.AsyncClient, name: str) -> str:
    response = await http.get(f"/deployments/{name}/logs")
    assert response.status_code == 200, response.text
    return response.text


async def test_an_ended_instance_is_forgotten_once_the_conductor_has_it(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await nursery.start(
            functools.partial(conductor_life, trio.CancelScope(), tmp_path / "c")
        )
        config = shared_cert_node(info, "n1", tmp_path / "n1")
        async with api(info) as http:
            async with trio.open_nursery() as agent:
                node = await start_node(agent, config)
                assert await wait_for(lambda: node_state(info, "n1")) == "ready"
                spec = sh("echo done and gone", "once", restart_policy={"type": "never"})
                assert (await http.post("/deployments", json=spec)).status_code == 201
                ended = await wait_for(lambda: exited(http, "once"))
                await wait_for(lambda: forgotten(node))
                assert node.processes.events(ended["id"]) == []
                # Its log files stay, readable through the API.
                assert await logs(http, "once") == "done and gone\n"
                agent.cancel_scope.cancel()  # the agent goes (and comes back)
            async with trio.open_nursery() as agent:
                node = await start_node(agent, config)
                # Not re-adopted, so in no hello either.
                assert await node.processes.list_instances() == []
                await wait_for(lambda: ready(info))
                assert await logs(http, "once") == "done and gone\n"
                assert (await instance(http, "once") or {}).get("state") == "exited"
                agent.cancel_scope.cancel()
        nursery.cancel_scope.cancel()


async def test_an_instance_that_ends_while_the_link_is_down_is_kept_until_the_hello(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "go"
    script = f"while [ ! -e {flag} ]; do sleep 0.05; done; echo finished"
    async with trio.open_nursery() as nursery:
        first_life = trio.CancelScope()
        info = await nursery.start(functools.partial(conductor_life, first_life, tmp_path / "c"))
        node = await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n1"))
        assert await wait_for(lambda: node_state(info, "n1")) == "ready"
        async with api(info) as http:
            spec = sh(script, "late", restart_policy={"type": "never"})
            assert (await http.post("/deployments", json=spec)).status_code == 201

            async def running() -> bool:
                return ((await instance(http, "late")) or {}).get("state") == "running"

            await wait_for(running)
        first_life.cancel()  # the Conductor goes away

        async def disconnected() -> bool:
            return bool((await node.link.ask(GetLinkStatus())).state != "connected")

        await wait_for(disconnected, timeout=5)
        flag.touch()  # the job ends now, while nobody hears of it

        async def ended_here() -> bool:
            reports = await node.processes.list_instances()
            return [r.state for r in reports] == ["exited"]

        await wait_for(ended_here)

        async def first_life_over() -> bool:
            return first_life.cancelled_caught

        await wait_for(first_life_over, timeout=10)
        # Still kept: the Conductor has not heard of the end.
        assert [s.final_state for s in node.processes.store.load_all()] == ["exited"]
        again = await nursery.start(
            functools.partial(
                conductor_life, trio.CancelScope(), tmp_path / "c", listen_port=info.node_port
            )
        )
        async with api(again) as http:
            await wait_for(lambda: exited(http, "late"), timeout=15)
            await wait_for(lambda: forgotten(node))
            assert await logs(http, "late") == "finished\n"
        nursery.cancel_scope.cancel()
