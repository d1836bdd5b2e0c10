"""Outbox: non-blocking sends with coalescing and drop-oldest, delivered in order."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from symphony.actors import Actor, ActorConfigError, Outbox, spawn


class Gate(Actor):
    """Records what it receives; blocks on every message until the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.open = trio.Event()
        self.got: list[Any] = []

    async def receive(self, message: Any) -> Any:
        await self.open.wait()
        self.got.append(message)


async def test_outbox_put_never_waits_and_drops_oldest_with_a_count(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        gate = Gate()
        ref = await spawn(nursery, gate, mailbox_size=1)
        outbox = Outbox(ref, capacity=3)
        nursery.start_soon(outbox.run)
        with trio.testing.assert_no_checkpoints():  # put never waits
            for n in range(3):
                outbox.put(n)
        await trio.testing.wait_all_tasks_blocked()
        # 0 is being handled (blocked), 1 fills the mailbox, 2 is on its way (the
        # delivery task waits for room); of 3..9 the outbox keeps the newest 3.
        with trio.testing.assert_no_checkpoints():
            for n in range(3, 10):
                outbox.put(n)
        assert outbox.dropped == 4 and len(outbox) == 3
        gate.open.set()
        while len(gate.got) < 6:
            await trio.sleep(0.01)
        assert gate.got == [0, 1, 2, 7, 8, 9]
        nursery.cancel_scope.cancel()


async def test_outbox_coalesces_by_key_keeping_the_latest(autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        gate = Gate()
        ref = await spawn(nursery, gate, mailbox_size=1)
        outbox = Outbox(ref, key=lambda m: m[0])
        outbox.put(("busy", 0))
        nursery.start_soon(outbox.run)
        await trio.testing.wait_all_tasks_blocked()  # ("busy", 0) is being handled
        for state in ("starting", "running", "exited"):
            outbox.put(("i1", state))
            outbox.put(("i2", state))
        assert outbox.coalesced >= 3 and outbox.dropped == 0
        gate.open.set()
        while not gate.got or gate.got[-1] != ("i2", "exited"):
            await trio.sleep(0.01)
        assert ("i1", "exited") in gate.got
        # The latest state of each key arrives, and nothing older follows it.
        for key in ("i1", "i2"):
            states = [s for k, s in gate.got if k == key]
            assert states[-1] == "exited" and len(states) <= 2
        nursery.cancel_scope.cancel()


async def test_outbox_run_ends_when_the_target_stops() -> None:
    async with trio.open_nursery() as nursery:
        gate = Gate()
        ref = await spawn(nursery, gate)
        await ref.stop()
        while ref.alive:
            await trio.sleep(0.01)
        outbox = Outbox(ref)
        outbox.put("late")
        with trio.fail_after(5):
            await outbox.run()  # returns: nobody to deliver to
        assert len(outbox) == 0
        outbox.put("later")  # still never raises


def test_outbox_rejects_a_bad_capacity() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ActorConfigError, match="capacity must be a positive int"):
            Outbox(None, capacity=bad)  # type: ignore[arg-type]
