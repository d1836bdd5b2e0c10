"""What a node reports of itself is kept within bounds, however it sends it.

Heartbeat deltas replace usage keys one by one: a node sending each delta under a new
key with a value of up to a frame's size made the Conductor keep all of them (40 of
~3.6 MB held +154 MiB; 256 keys would be a GiB, for one node). Now a heartbeat whose
usage would pass 64 KiB has its usage refused (the link stays, the heartbeat counts),
and so does a hello's ``resources`` past 64 KiB (it is not kept).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from symphony.wire import PROTOCOL_VERSION, Hello

from .cluster import get_nodes, start_conductor, wait_for
from .hostile import drain, frame, hostile_link, send_raw

BIG = ["x" * 4000] * 250  # ~1 MB: a value no real node reports


async def _node(info: Any, node_id: str) -> dict[str, Any] | None:
    return next((n for n in await get_nodes(info) if n["node_id"] == node_id), None)


async def test_usage_and_resources_past_any_real_nodes_are_not_kept(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        hello = Hello(
            protocol_version=PROTOCOL_VERSION,
            node_id="mallory",
            resources={"cpu_count": 4, "junk": BIG},
        )
        async with hostile_link(info, hello=hello) as conn:
            nursery.start_soon(drain, conn)
            await send_raw(conn, frame({"t": "heartbeat", "seq": 0, "usage": {"cpu_percent": 1.0}}))

            async def full_one_applied() -> bool:
                node = await _node(info, "mallory")
                return node is not None and node["usage"].get("cpu_percent") == 1.0

            await wait_for(full_one_applied)
            for i in range(12):
                delta = {"t": "heartbeat", "seq": i + 1, "delta": True, "usage": {f"k{i}": BIG}}
                await send_raw(conn, frame(delta))
            last = {"t": "heartbeat", "seq": 99, "delta": True, "usage": {"cpu_percent": 7.0}}

            async def merged() -> dict[str, Any] | None:
                # Deltas waiting together are merged before the registry takes them (and
                # refused together): a small one sent on its own is merged.
                await send_raw(conn, frame(last))
                node = await _node(info, "mallory")
                return node if node and node["usage"].get("cpu_percent") == 7.0 else None

            node = await wait_for(merged)
            assert node["state"] == "ready"
            assert sorted(node["usage"]) == ["cpu_percent"], sorted(node["usage"])[:5]
            assert node["resources"] == {}
        nursery.cancel_scope.cancel()
