"""The registry's liveness sweep decides on the registry's state at that moment.

The sweep used to walk a snapshot of the nodes and await (telling subscribers) between
two of them; a node that said hello again in that gap was then declared lost from its
stale record, and subscribers (the Scheduler) dropped a node that was in fact ready.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from symphony.actors import Actor, spawn
from symphony.conductor.nodes.model import ListNodes, NodeChanged, RegisterNode, SessionEnded
from symphony.conductor.nodes.registry import NodeRegistry

from .test_registry import Recorder, hello


class SlowSubscriber(Actor):
    """A subscriber that stops reading while ``gate`` is closed (a busy Scheduler)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = trio.Event()
        self.gate.set()
        self.seen: list[Any] = []

    async def receive(self, message: Any) -> Any:
        await self.gate.wait()
        self.seen.append(message)


async def test_registry_sweep_never_loses_a_node_from_a_stale_record(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        slow = SlowSubscriber()
        subscriber = await spawn(nursery, slow, mailbox_size=1)
        registry = await spawn(nursery, NodeRegistry(subscribers=(subscriber,)))
        sessions = {n: await spawn(nursery, Recorder()) for n in ("a", "b")}
        for node_id, session in sessions.items():
            assert (
                await registry.ask(RegisterNode(session, hello(node_id, 1.0), "x", False, 1.0))
                is None
            )
        # Both links close at once: both are due back by t=5 (5 heartbeats of 1 s).
        for node_id, session in sessions.items():
            await registry.tell(SessionEnded(node_id, session, "link closed"))
        await trio.sleep(3.0)
        # The subscriber gets busy: one message in hand, one waiting in its mailbox.
        slow.gate = trio.Event()
        await subscriber.tell("busy")
        await subscriber.tell("busy")
        await trio.sleep(2.5)  # t=5.5: the sweep has run
        # "b" says hello again, while the subscriber is still busy.
        again = await spawn(nursery, Recorder())
        nursery.start_soon(registry.ask, RegisterNode(again, hello("b", 1.0), "y", False, 1.0))
        await trio.sleep(1.0)
        slow.gate.set()
        await trio.testing.wait_all_tasks_blocked()

        views = {v.node_id: v.state for v in await registry.ask(ListNodes())}
        assert views == {"a": "lost", "b": "ready"}
        # What the subscriber was told is one consistent story per node: every change
        # starts from the state it was last told, and ends where the registry is.
        told: dict[str, list[tuple[str | None, str]]] = {}
        for m in slow.seen:
            if isinstance(m, NodeChanged):
                told.setdefault(m.view.node_id, []).append((m.previous_state, m.view.state))
        for node_id, changes in told.items():
            last = None
            for previous, state in changes:
                assert previous == last, f"{node_id}: told {changes}"
                last = state
            assert last == views[node_id], f"{node_id}: told {changes}"
        nursery.cancel_scope.cancel()
