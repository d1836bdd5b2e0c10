"""LosslessFanout: sends up the tree that never wait, never reorder, never lose."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from symphony.actors import Actor, spawn
from symphony.conductor.fanout import LosslessFanout


class Gated(Actor):
    """Takes one message at a time, and only while its gate is open."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = trio.Event()
        self.seen: list[Any] = []

    async def receive(self, message: Any) -> Any:
        await self.gate.wait()
        self.seen.append(message)


def merge(queued: Any, new: Any) -> Any | None:
    return queued + new if isinstance(queued, list) and isinstance(new, list) else None


async def test_fanout_never_blocks_keeps_order_and_merges_what_waits() -> None:
    async with trio.open_nursery() as nursery:
        gated = Gated()
        ref = await spawn(nursery, gated, mailbox_size=1)
        outbox = LosslessFanout(merge=merge)
        with trio.fail_after(1):  # a full receiver never makes send() wait
            for item in ([1], [2], "x", [3], [4], [5]):
                outbox.send(nursery, ref, item)
                await trio.testing.wait_all_tasks_blocked()
        # [1] is in the actor's hands, [2] in its mailbox, one task waits to deliver "x",
        # and [3] [4] [5] became one message behind it.
        assert outbox.pending(ref) == 1
        gated.gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert gated.seen == [[1], [2], "x", [3, 4, 5]]
        assert (outbox.queued, outbox.delivered, outbox.dropped) == (0, 4, 0)
        nursery.cancel_scope.cancel()


async def test_fanout_drops_what_a_stopped_receiver_can_never_read() -> None:
    async with trio.open_nursery() as nursery:
        gated = Gated()
        ref = await spawn(nursery, gated, mailbox_size=1)
        outbox = LosslessFanout()
        for item in range(4):
            outbox.send(nursery, ref, item)
        await trio.testing.wait_all_tasks_blocked()
        gated.request_stop()
        gated.gate.set()
        await trio.testing.wait_all_tasks_blocked()
        outbox.send(nursery, ref, "late")
        await trio.testing.wait_all_tasks_blocked()
        assert outbox.queued == 0
        assert outbox.delivered + outbox.dropped == 5
        assert outbox.dropped >= 1
        nursery.cancel_scope.cancel()
