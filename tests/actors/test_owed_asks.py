"""Every ask is answered: by a reply, its timeout, or ActorStopped when the run ends.

Each test asks with ``timeout=math.inf``, so a forgotten ask would hang; the outer
``fail_after`` (virtual time, autojump clock) turns such a hang into a failure.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Any

import pytest
import trio
import trio.testing

from symphony.actors import (
    Actor,
    ActorStopped,
    AskTimeout,
    ChildSpec,
    Reply,
    Supervisor,
    SupervisorFailed,
    spawn,
)

from .helpers import Journal, Worker

LONG = 10_000.0  # virtual seconds: far beyond any timeout in these tests


class Outcomes:
    """Runs asks in the background and records how each one ended."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.results: dict[str, Any] = {}

    def ask(self, label: str, ref: Any, message: Any) -> None:
        async def run() -> None:
            try:
                self.results[label] = await ref.ask(message, timeout=math.inf)
            except Exception as error:
                self.results[label] = error

        self.nursery.start_soon(run)

    async def wait(self, *labels: str) -> None:
        """Wait (in virtual time) until these asks have ended."""
        while not all(label in self.results for label in labels):
            await trio.sleep(0.01)


class Deferring(Actor):
    """Defers every ask and never answers; "boom" crashes a background task."""

    def __init__(self) -> None:
        super().__init__()
        self.replies: list[Reply] = []

    async def receive(self, message: Any) -> Any:
        if message == "boom":
            self.nursery.start_soon(self._explode)
            return None
        self.replies.append(self.defer_reply())
        return None

    async def _explode(self) -> None:
        raise RuntimeError("background task failed")


async def test_owed_asks_remove_child_fails_the_ask_being_handled(
    autojump_clock: trio.abc.Clock,
) -> None:
    journal = Journal()
    with trio.fail_after(LONG):
        async with trio.open_nursery() as askers, trio.open_nursery() as nursery:
            sup = Supervisor(
                [ChildSpec(name="w", factory=lambda: Worker("w", journal), shutdown_timeout=2.0)]
            )
            await spawn(nursery, sup)
            outcomes = Outcomes(askers)
            outcomes.ask("slow", sup.child("w"), "slow")  # busy for 100 s
            await trio.testing.wait_all_tasks_blocked()
            started = trio.current_time()
            await sup.remove_child("w")
            await trio.testing.wait_all_tasks_blocked()
            assert isinstance(outcomes.results["slow"], ActorStopped)
            assert "stopped before answering str" in str(outcomes.results["slow"])
            assert trio.current_time() - started == pytest.approx(2.0)
            await sup.ref.stop()


async def test_owed_asks_group_restart_fails_current_ask_and_keeps_queued_ones(
    autojump_clock: trio.abc.Clock,
) -> None:
    journal = Journal()
    specs = [
        ChildSpec(name=n, factory=lambda n=n: Worker(n, journal), shutdown_timeout=1.0)
        for n in ("a", "b")
    ]
    with trio.fail_after(LONG):
        async with trio.open_nursery() as askers, trio.open_nursery() as nursery:
            sup = Supervisor(specs, strategy="one_for_all", max_restarts=10)
            await spawn(nursery, sup)
            outcomes = Outcomes(askers)
            outcomes.ask("slow", sup.child("a"), "slow")
            await trio.testing.wait_all_tasks_blocked()
            outcomes.ask("queued", sup.child("a"), "incr")  # waits behind "slow"
            outcomes.ask("crash", sup.child("b"), "crash")
            await outcomes.wait("slow", "queued")
            assert isinstance(outcomes.results["slow"], ActorStopped)
            # The mailbox outlives the run: the queued ask goes to the next run.
            assert outcomes.results["queued"] == 1
            assert journal.of("start") == ["a", "b", "a", "b"]
            await sup.ref.stop()


async def test_owed_asks_deferred_replies_fail_when_the_run_ends(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(LONG):
        async with trio.open_nursery() as askers, trio.open_nursery() as nursery:
            ref = await spawn(nursery, Deferring(), name="deferring")
            outcomes = Outcomes(askers)
            for label in ("one", "two"):
                outcomes.ask(label, ref, label)
            await trio.testing.wait_all_tasks_blocked()
            await ref.stop()
        for label in ("one", "two"):
            assert isinstance(outcomes.results[label], ActorStopped), outcomes.results
            assert "stopped before answering str" in str(outcomes.results[label])


async def test_owed_asks_deferred_replies_fail_when_the_actor_crashes(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(LONG):
        async with trio.open_nursery() as askers:
            outcomes = Outcomes(askers)
            sup = Supervisor([ChildSpec(name="d", factory=Deferring)], max_restarts=10)
            async with trio.open_nursery() as nursery:
                await spawn(nursery, sup)
                outcomes.ask("deferred", sup.child("d"), "wait")
                await trio.testing.wait_all_tasks_blocked()
                await sup.child("d").tell("boom")
                await outcomes.wait("deferred")
                assert isinstance(outcomes.results["deferred"], ActorStopped)
                await sup.ref.stop()


async def test_owed_asks_cancelled_actor_fails_the_ask_being_handled(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(LONG):
        async with trio.open_nursery() as askers:
            outcomes = Outcomes(askers)
            async with trio.open_nursery() as nursery:
                ref = await spawn(nursery, Worker("w", Journal()), name="w")
                outcomes.ask("slow", ref, "slow")
                await trio.testing.wait_all_tasks_blocked()
                outcomes.ask("queued", ref, "incr")
                await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
        assert isinstance(outcomes.results["slow"], ActorStopped)
        assert isinstance(outcomes.results["queued"], ActorStopped), outcomes.results


@pytest.mark.parametrize("end", ["cancelled", "failed"])
async def test_owed_asks_queued_at_children_fail_when_their_supervisor_ends(
    autojump_clock: trio.abc.Clock, end: str
) -> None:
    journal = Journal()
    with trio.fail_after(LONG):
        async with trio.open_nursery() as askers:
            outcomes = Outcomes(askers)
            sup = Supervisor(
                [
                    ChildSpec(name="busy", factory=lambda: Worker("busy", journal)),
                    ChildSpec(name="crasher", factory=lambda: Worker("crasher", journal)),
                ],
                max_restarts=0,
            )
            expected = pytest.RaisesGroup(SupervisorFailed) if end == "failed" else nullcontext()
            with expected:
                async with trio.open_nursery() as nursery:
                    await spawn(nursery, sup)
                    await sup.child("busy").tell("slow")  # keeps "busy" busy for 100 s
                    outcomes.ask("queued", sup.child("busy"), "incr")
                    await trio.testing.wait_all_tasks_blocked()
                    if end == "cancelled":
                        nursery.cancel_scope.cancel()
                    else:
                        await sup.child("crasher").tell("crash")
            await trio.testing.wait_all_tasks_blocked()
            assert isinstance(outcomes.results["queued"], ActorStopped), outcomes.results
            assert not sup.child("busy").alive


async def test_owed_asks_timed_out_deferred_ask_is_no_longer_owed(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        actor = Deferring()
        ref = await spawn(nursery, actor, name="deferring")
        with pytest.raises(AskTimeout):
            await ref.ask("x", timeout=1.0)
        assert actor._deferred == set()  # nothing kept for an asker that left
        actor.replies[0].send("late")  # a late answer is dropped quietly
        await ref.stop()
