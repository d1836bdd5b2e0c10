"""Supervisors: strategies, restart types, intensity, backoff, shutdown, bad use."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
import trio.testing

from symphony.actors import (
    Actor,
    ActorConfigError,
    ActorCrashed,
    ActorStopped,
    Backoff,
    ChildSpec,
    DuplicateChild,
    Supervisor,
    SupervisorFailed,
    spawn,
)

from .helpers import Journal, Worker

NO_WAIT = Backoff(initial=0.0, jitter=0.0)


def worker_spec(name: str, journal: Journal, **kwargs: Any) -> ChildSpec:
    stop_delay = kwargs.pop("stop_delay", 0.0)
    kwargs.setdefault("backoff", NO_WAIT)
    return ChildSpec(
        name=name, factory=lambda: Worker(name, journal, stop_delay=stop_delay), **kwargs
    )


async def crash(sup: Supervisor, name: str) -> None:
    with pytest.raises(ActorCrashed):
        await sup.child(name).ask("crash")
    await trio.testing.wait_all_tasks_blocked()


async def start_three(nursery: trio.Nursery, strategy: str, journal: Journal) -> Supervisor:
    sup = Supervisor(
        [worker_spec(n, journal) for n in ("a", "b", "c")], strategy=strategy, max_restarts=10
    )
    await spawn(nursery, sup, name="sup")
    for name in "abc":
        await sup.child(name).ask("incr")
    return sup


async def test_supervisor_one_for_one_restarts_only_the_failed_child() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        sup = await start_three(nursery, "one_for_one", journal)
        await crash(sup, "b")
        assert journal.of("start") == ["a", "b", "c", "b"]
        # a and c kept their state; b is a fresh actor behind the same ref.
        assert [await sup.child(n).ask("incr") for n in "abc"] == [2, 1, 2]
        await sup.ref.stop()


async def test_supervisor_one_for_all_restarts_everyone_in_order() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        sup = await start_three(nursery, "one_for_all", journal)
        await crash(sup, "b")
        assert journal.of("stop") == ["c", "a"]  # siblings stopped in reverse order
        assert journal.of("start") == ["a", "b", "c", "a", "b", "c"]
        assert [await sup.child(n).ask("incr") for n in "abc"] == [1, 1, 1]
        await sup.ref.stop()


async def test_supervisor_rest_for_one_restarts_the_failed_and_later_children() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        sup = await start_three(nursery, "rest_for_one", journal)
        await crash(sup, "b")
        assert journal.of("stop") == ["c"]
        assert journal.of("start") == ["a", "b", "c", "b", "c"]
        assert [await sup.child(n).ask("incr") for n in "abc"] == [2, 1, 1]
        await sup.ref.stop()


@pytest.mark.parametrize(
    ("restart", "after_crash", "after_return"),
    [("permanent", True, True), ("transient", True, False), ("temporary", False, False)],
)
async def test_supervisor_restart_types(
    restart: str, after_crash: bool, after_return: bool
) -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        sup = Supervisor(
            [
                worker_spec("crasher", journal, restart=restart),
                worker_spec("returner", journal, restart=restart),
            ],
            max_restarts=10,
        )
        await spawn(nursery, sup)
        crasher, returner = sup.child("crasher"), sup.child("returner")
        await crash(sup, "crasher")
        assert await returner.ask("return") == "bye"
        await trio.testing.wait_all_tasks_blocked()
        assert journal.of("start").count("crasher") == (2 if after_crash else 1)
        assert journal.of("start").count("returner") == (2 if after_return else 1)
        # A child that ended for good is gone: its ref fails fast.
        assert crasher.alive is after_crash
        assert returner.alive is after_return
        if not after_return:
            with pytest.raises(ActorStopped):
                await returner.ask("incr")
            with pytest.raises(KeyError, match="no child named 'returner'"):
                sup.child("returner")
        await sup.ref.stop()


async def test_supervisor_waits_backoff_between_restarts(autojump_clock: trio.abc.Clock) -> None:
    journal = Journal()
    backoff = Backoff(initial=1.0, factor=2.0, max=5.0, jitter=0.0, reset_after=30.0)
    async with trio.open_nursery() as nursery:
        sup = Supervisor(
            [worker_spec("w", journal, backoff=backoff)], max_restarts=100, max_seconds=1000
        )
        await spawn(nursery, sup)
        for _ in range(5):
            await crash(sup, "w")
            await sup.child("w").ask("incr", timeout=60)  # waits through the backoff
        starts = journal.times["w:start"]
        gaps = [round(b - a, 6) for a, b in itertools.pairwise(starts)]
        assert gaps == [1.0, 2.0, 4.0, 5.0, 5.0]
        # After a stable run of reset_after seconds the delays start over.
        await trio.sleep(30)
        await crash(sup, "w")
        await sup.child("w").ask("incr", timeout=60)
        assert journal.times["w:start"][-1] - journal.times["w:start"][-2] == pytest.approx(31.0)
        await sup.ref.stop()


async def test_supervisor_jittered_backoff_stays_in_bounds(autojump_clock: trio.abc.Clock) -> None:
    journal = Journal()
    backoff = Backoff(initial=10.0, factor=1.0, max=20.0, jitter=0.5)
    async with trio.open_nursery() as nursery:
        sup = Supervisor(
            [worker_spec("w", journal, backoff=backoff)], max_restarts=100, max_seconds=1
        )
        await spawn(nursery, sup)
        for _ in range(20):
            crashed_at = trio.current_time()
            await crash(sup, "w")
            await sup.child("w").ask("incr", timeout=60)
            assert 5.0 <= journal.times["w:start"][-1] - crashed_at <= 15.0
        await sup.ref.stop()


async def test_supervisor_intensity_escalates_to_parent(autojump_clock: trio.abc.Clock) -> None:
    journal = Journal()

    def inner() -> Supervisor:
        journal.log("inner", "start")
        return Supervisor([worker_spec("w", journal)], max_restarts=2, max_seconds=10)

    async with trio.open_nursery() as nursery:
        root = Supervisor([ChildSpec(name="inner", factory=inner, backoff=NO_WAIT)], max_restarts=5)
        await spawn(nursery, root, name="root")
        inner_sup_ref = root.child("inner")
        assert inner_sup_ref.alive
        # Three crashes of w within 10 s: the inner supervisor gives up after 2 restarts.
        first_inner = root_child_actor(root)
        for _ in range(3):
            with pytest.raises(ActorCrashed):
                await first_inner.child("w").ask("crash")
            await trio.testing.wait_all_tasks_blocked()
        # The parent restarted the inner supervisor (and with it a fresh w).
        assert journal.of("start").count("inner") == 2
        second_inner = root_child_actor(root)
        assert second_inner is not first_inner
        assert await second_inner.child("w").ask("incr") == 1
        await root.ref.stop()


def root_child_actor(root: Supervisor) -> Supervisor:
    actor = root._children["inner"].mailbox.running  # test peeks at the live child
    assert isinstance(actor, Supervisor)
    return actor


async def test_supervisor_failure_propagates_and_leaks_no_task(
    autojump_clock: trio.abc.Clock,
) -> None:
    journal = Journal()
    sup = Supervisor(
        [worker_spec("a", journal), worker_spec("b", journal)], max_restarts=1, max_seconds=5
    )
    tasks_before = trio.lowlevel.current_statistics().tasks_living
    with pytest.RaisesGroup(pytest.RaisesExc(SupervisorFailed, match="more than 1 restarts")):
        async with trio.open_nursery() as nursery:
            await spawn(nursery, sup, name="top")
            a = sup.child("a")
            for _ in range(2):
                with pytest.raises(ActorCrashed):
                    await a.ask("crash")
                await trio.testing.wait_all_tasks_blocked()
    # Everything was torn down: the other child was stopped gracefully, no task is left.
    assert "b" in journal.of("stop")
    assert not any(child.running for child in sup._children.values())
    assert trio.lowlevel.current_statistics().tasks_living == tasks_before


async def test_supervisor_stops_children_in_reverse_order_with_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    journal = Journal()
    specs = [
        worker_spec("a", journal),
        worker_spec("b", journal, stop_delay=100.0, shutdown_timeout=3.0),  # too slow
        worker_spec("c", journal),
    ]
    async with trio.open_nursery() as nursery:
        sup = Supervisor(specs)
        await spawn(nursery, sup)
        started = trio.current_time()
        await sup.ref.stop()
    assert journal.of("stop") == ["c", "b", "a"]
    # b's on_stop was cancelled at its 3 s shutdown timeout instead of running 100 s.
    assert trio.current_time() - started == pytest.approx(3.0)
    assert not sup.child("a").alive


async def test_supervisor_busy_child_is_cancelled_after_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        sup = Supervisor([worker_spec("w", journal, shutdown_timeout=2.0)])
        await spawn(nursery, sup)
        await sup.child("w").tell("slow")  # handler blocks for 100 s
        await trio.testing.wait_all_tasks_blocked()
        started = trio.current_time()
        await sup.ref.stop()
    assert trio.current_time() - started == pytest.approx(2.0)


async def test_supervisor_adds_and_removes_children_at_run_time() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        sup = Supervisor()
        await spawn(nursery, sup)
        ref = await sup.add_child(worker_spec("late", journal))
        assert await ref.ask("incr") == 1
        with pytest.raises(DuplicateChild, match="already has a child named 'late'"):
            await sup.add_child(worker_spec("late", journal))
        assert [c.name for c in await sup.which_children()] == ["late"]
        await sup.remove_child("late")
        assert journal.of("stop") == ["late"]
        assert not ref.alive
        with pytest.raises(KeyError):
            await sup.remove_child("late")
        assert await sup.which_children() == []
        await sup.ref.stop()


async def test_supervisor_add_child_whose_start_fails_is_refused() -> None:
    class FailsToStart(Actor):
        async def on_start(self) -> None:
            raise RuntimeError("cannot open the database")

    async with trio.open_nursery() as nursery:
        sup = Supervisor()
        await spawn(nursery, sup)
        with pytest.raises(RuntimeError, match="cannot open the database"):
            await sup.add_child(ChildSpec(name="db", factory=FailsToStart))
        assert await sup.which_children() == []  # the supervisor itself is fine
        await sup.ref.stop()


async def test_supervisor_start_failure_fails_supervisor_start() -> None:
    with pytest.RaisesGroup(pytest.RaisesExc(ActorConfigError, match="returned str, not an Actor")):
        async with trio.open_nursery() as nursery:
            await spawn(nursery, Supervisor([ChildSpec(name="x", factory=lambda: "oops")]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "name must be a non-empty str"),
        ({"factory": 42}, "factory must be callable"),
        ({"restart": "sometimes"}, "unknown restart type 'sometimes'"),
        ({"shutdown_timeout": -1}, "shutdown_timeout must be >= 0"),
        ({"backoff": 3}, "backoff must be a Backoff"),
        ({"mailbox_size": 0}, "mailbox_size must be a positive int"),
    ],
)
def test_childspec_rejects_invalid_fields(kwargs: dict, message: str) -> None:
    fields: dict[str, Any] = {"name": "x", "factory": Actor, **kwargs}
    with pytest.raises(ActorConfigError, match=message):
        ChildSpec(**fields)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "all_for_none"}, "unknown supervisor strategy 'all_for_none'"),
        ({"max_restarts": -1}, "max_restarts must be an int >= 0"),
        ({"max_seconds": 0}, "max_seconds must be a number > 0"),
    ],
)
def test_supervisor_rejects_invalid_configuration(kwargs: dict, message: str) -> None:
    with pytest.raises(ActorConfigError, match=message):
        Supervisor(**kwargs)


def test_supervisor_rejects_duplicate_child_names() -> None:
    spec = ChildSpec(name="same", factory=Actor)
    with pytest.raises(DuplicateChild, match="'same'"):
        Supervisor([spec, spec])


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
async def test_supervisor_group_restart_removes_temporary_siblings(strategy: str) -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        sup = Supervisor(
            [
                worker_spec("a", journal),
                worker_spec("temp", journal, restart="temporary"),
                worker_spec("c", journal),
            ],
            strategy=strategy,
            max_restarts=10,
        )
        await spawn(nursery, sup)
        temp = sup.child("temp")
        await crash(sup, "a")
        # As in OTP: a temporary child is stopped with its group, then removed, never
        # restarted; the others restart in order.
        assert journal.of("start") == ["a", "temp", "c", "a", "c"]
        assert "temp" in journal.of("stop")
        assert [c.name for c in await sup.which_children()] == ["a", "c"]
        assert not temp.alive
        with pytest.raises(ActorStopped):
            await temp.ask("incr")
        await sup.ref.stop()
