"""Starting a supervised child: its run's task goes straight into the supervisor's
nursery (no temporary nursery to move it out of), and the start keeps what
``nursery.start`` guaranteed: it returns once ``on_start`` has run, raises what the start
raised, and a caller cancelled meanwhile cancels the start and finds it ended."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel

from symphony.actors import Actor, ChildSpec, Supervisor, spawn

from .helpers import Journal, Worker


class Spawns(trio.abc.Instrument):
    """The nursery each new task was spawned into."""

    def __init__(self) -> None:
        self.parents: list[trio.Nursery | None] = []

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.parents.append(task.parent_nursery)


async def test_a_child_run_is_spawned_into_the_supervisor_nursery() -> None:
    journal = Journal()
    supervisor = Supervisor()
    async with trio.open_nursery() as nursery:
        await spawn(nursery, supervisor, name="sup")
        spawns = Spawns()
        trio.lowlevel.add_instrument(spawns)
        try:
            ref = await supervisor.add_child(
                ChildSpec(name="w", factory=lambda: Worker("w", journal))
            )
        finally:
            trio.lowlevel.remove_instrument(spawns)
        assert journal.of("start") == ["w"]
        # One task, the child's run, and only into the supervisor's own nursery
        # (nursery.start spawned it into a temporary one first).
        assert spawns.parents == [supervisor.nursery]
        assert await ref.ask("count") == 1
        await ref.stop()
        nursery.cancel_scope.cancel()


class SlowStart(Actor):
    """An on_start that waits until released; records whether its run ended."""

    def __init__(self, log: list[str], release: trio.Event) -> None:
        super().__init__()
        self.log = log
        self.release = release

    async def on_start(self) -> None:
        self.log.append("starting")
        try:
            await self.release.wait()
        finally:
            self.log.append("on_start left")

    async def receive(self, message: Any) -> Any:
        return message


class Starter(Supervisor):
    """Starts a child from its own task within a deadline."""

    async def receive(self, message: Any) -> Any:
        if isinstance(message, tuple) and message[0] == "start within":
            with trio.move_on_after(message[2]) as scope:
                await self.start_child(message[1])
            return scope.cancelled_caught
        return await super().receive(message)


async def test_a_start_cancelled_meanwhile_cancels_the_child_and_waits_for_it(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    release = trio.Event()
    supervisor = Starter()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, supervisor, name="sup")
        spec = ChildSpec(name="slow", factory=lambda: SlowStart(log, release))
        assert await ref.ask(("start within", spec, 1.0), timeout=10) is True
        # The child's start was cancelled and had ended before the caller went on.
        assert log == ["starting", "on_start left"]
        children = await supervisor.which_children()
        assert [c.running for c in children] == [False]
        nursery.cancel_scope.cancel()


class FailingStart(Actor):
    async def on_start(self) -> None:
        raise LookupError("no such thing")

    async def receive(self, message: Any) -> Any:
        return message


async def test_a_start_error_is_raised_to_the_caller_and_restarts_nothing(
    autojump_clock: trio.abc.Clock,
) -> None:
    starts: list[int] = []

    def factory() -> Actor:
        starts.append(1)
        return FailingStart()

    supervisor = Supervisor()
    async with trio.open_nursery() as nursery:
        await spawn(nursery, supervisor, name="sup")
        with pytest.raises(LookupError, match="no such thing"):
            await supervisor.add_child(ChildSpec(name="bad", factory=factory))
        await trio.sleep(5)  # a restart would have come by now
        assert starts == [1]
        assert await supervisor.which_children() == []
        nursery.cancel_scope.cancel()


class StepCounter(trio.abc.Instrument):
    """How many steps each task has run."""

    def __init__(self) -> None:
        self.steps: dict[trio.lowlevel.Task, int] = {}

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task] = self.steps.get(task, 0) + 1


class CountingStarter(Supervisor):
    """Starts a child from its own task and says how many steps that task ran."""

    async def receive(self, message: Any) -> Any:
        if isinstance(message, ChildSpec):
            counter = StepCounter()
            task = trio.lowlevel.current_task()
            trio.lowlevel.add_instrument(counter)
            try:
                await self.start_child(message)
            finally:
                trio.lowlevel.remove_instrument(counter)
            return counter.steps.get(task, 0) + 1
        return await super().receive(message)


async def test_a_start_yields_only_to_wait_for_the_child() -> None:
    journal = Journal()
    supervisor = CountingStarter()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, supervisor, name="sup")
        spec = ChildSpec(name="w", factory=lambda: Worker("w", journal))
        # One wait, for the child's on_start (the free lock took a yield of its own).
        assert await ref.ask(spec) == 2
        assert journal.of("start") == ["w"]
        nursery.cancel_scope.cancel()
