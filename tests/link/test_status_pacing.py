"""A node paces its status frames: an update after a quiet spell leaves at once, what
follows within ``STATUS_GAP`` leaves together in one frame (a crash loop must not cost
the Conductor a frame and a transaction per restart)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.conductor.nodes.session import NodeSession
from symphony.node import link as node_link
from symphony.wire import InstanceStatus, Message, StatusBatch

from .cluster import node_state, shared_cert_node, start_conductor, start_node, wait_for

GAP = 0.5  # long enough that "at once" and "after the gap" cannot be confused


def final_status(k: int) -> InstanceStatus:
    # Final, for an instance the Conductor does not know: it is dropped as stale, and
    # (being final) the Conductor sends no stop back that would add frames of its own.
    return InstanceStatus(
        instance_id=f"ghost-{k}", deployment_id="ghost", state="stopped", final=True, at=1.0
    )


async def test_updates_close_together_leave_in_one_frame_after_a_first_that_leaves_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_link, "STATUS_GAP", GAP)
    frames: list[tuple[float, tuple[str, ...]]] = []  # when the Conductor read each, ids
    route = NodeSession._route

    async def spying_route(self: NodeSession, msg: Message) -> Any:
        if isinstance(msg, StatusBatch | InstanceStatus):
            updates = msg.updates if isinstance(msg, StatusBatch) else (msg,)
            frames.append((trio.current_time(), tuple(u.instance_id for u in updates)))
        return await route(self, msg)

    monkeypatch.setattr(NodeSession, "_route", spying_route)
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        handle = await start_node(nursery, shared_cert_node(info, "node-1", tmp_path / "n1"))
        assert await wait_for(lambda: node_state(info, "node-1")) == "ready"
        await trio.sleep(GAP)  # a quiet spell

        told = trio.current_time()
        await handle.link.tell(final_status(0))
        with trio.fail_after(10):
            while not frames:
                await trio.sleep(0.005)
        assert frames[0][1] == ("ghost-0",)
        assert frames[0][0] - told < GAP  # the first after a quiet spell: at once

        for k in range(1, 11):  # ten more, well within the gap of the first
            await handle.link.tell(final_status(k))
            await trio.sleep(0.01)
        with trio.fail_after(10):
            while sum(len(ids) for _, ids in frames) < 11:
                await trio.sleep(0.005)
        assert [ids for _, ids in frames[1:]] == [tuple(f"ghost-{k}" for k in range(1, 11))]
        assert frames[1][0] - told >= GAP  # paced: not before the gap after the first
        nursery.cancel_scope.cancel()
