"""A node's GPU devices are part of what it offers: a join says so, and a token may bind
them like any capacity (``--capacity gpu=2``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from symphony.wire.errors import JoinNotAllowed

from .helpers import create_token, join_node, start_conductor, start_node, wait_ready


async def test_join_gpus_are_offered_at_the_join_and_bound_by_the_token(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        narrow = await create_token(info, capacities={"Analytic1": 10})
        config = join_node(info, "g1", tmp_path / "g1", narrow, gpus=["0", "1"])
        with pytest.raises(JoinNotAllowed, match="not gpu"):  # refused before any certificate
            await start_node(nursery, config)
        wide = await create_token(info, capacities={"Analytic1": 10, "gpu": 2})
        await start_node(nursery, join_node(info, "g1", tmp_path / "g1", wide, gpus=["0", "1"]))
        node = await wait_ready(info, "g1")
        assert node["capacities_total"] == {"Analytic1": 10, "gpu": 2}
        nursery.cancel_scope.cancel()
