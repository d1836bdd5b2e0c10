"""A node reconnects by itself after the Conductor restarts; the view recovers."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import trio

from symphony.node.link import GetLinkStatus

from .cluster import get_nodes, node_state, shared_cert_node, start_conductor, start_node, wait_for


async def conductor_life(
    scope: trio.CancelScope, state: Path, *, task_status: Any, **overrides: Any
) -> None:
    """Run a Conductor until ``scope`` is cancelled."""
    with scope:
        async with trio.open_nursery() as nursery:
            task_status.started(await start_conductor(nursery, state, **overrides))
            await trio.sleep_forever()


async def test_link_reconnects_after_conductor_restart(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        first_life = trio.CancelScope()
        info = await nursery.start(functools.partial(conductor_life, first_life, tmp_path / "c"))
        node = await start_node(nursery, shared_cert_node(info, "phoenix", tmp_path / "n"))
        assert await wait_for(lambda: node_state(info, "phoenix")) == "ready"
        first_life.cancel()  # the Conductor goes away entirely

        async def disconnected() -> bool:
            return (await node.link.ask(GetLinkStatus())).state != "connected"

        await wait_for(disconnected, timeout=5)

        async def first_life_over() -> bool:  # it held the state directory until then
            return first_life.cancelled_caught

        await wait_for(first_life_over, timeout=10)
        # Start it again on the same port with the same state dir (so the same CA).
        again = await nursery.start(
            functools.partial(
                conductor_life, trio.CancelScope(), tmp_path / "c", listen_port=info.node_port
            )
        )

        async def has_usage() -> dict | None:
            nodes = await get_nodes(again)
            return nodes[0] if nodes and nodes[0]["usage"] else None

        view = await wait_for(has_usage, timeout=10)
        assert view["node_id"] == "phoenix" and view["state"] == "ready"
        assert view["groups"] == ["gpu-1"]
        assert view["capacities_total"] == {"Analytic1": 10}
        assert (await node.link.ask(GetLinkStatus())).connects == 2
        nursery.cancel_scope.cancel()
