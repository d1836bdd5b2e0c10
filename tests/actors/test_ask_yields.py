"""What an ask costs the asker in Trio task steps: one yield, the wait for the reply
(delivering the message does not yield besides), and it still delivers nothing when
cancelled before."""

from __future__ import annotations

from collections import Counter
from typing import Any

import trio
import trio.lowlevel
import trio.testing

from symphony.actors import AskTimeout, InlineActor, spawn

from .helpers import Journal, Worker


class StepCounter(trio.abc.Instrument):
    """How many steps each task has run."""

    def __init__(self) -> None:
        self.steps: Counter[trio.lowlevel.Task] = Counter()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task] += 1


class Echo(InlineActor):
    def receive(self, message: Any) -> Any:
        return message


async def _asker_steps(ask: Any) -> int:
    """The steps the calling task runs for ``await ask()`` (1: it ran through)."""
    counter = StepCounter()
    task = trio.lowlevel.current_task()
    trio.lowlevel.add_instrument(counter)
    try:
        await ask()
    finally:
        trio.lowlevel.remove_instrument(counter)
    return counter.steps[task] + 1


async def test_ask_to_an_inline_actor_yields_once() -> None:
    echo = Echo("echo")
    assert await _asker_steps(lambda: echo.ref.ask("hi")) == 2


async def test_ask_to_an_actor_task_yields_once_for_the_reply() -> None:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Worker("w", Journal()), name="w")
        assert await _asker_steps(lambda: ref.ask("count")) == 2
        await ref.stop()


async def test_ask_cancelled_before_delivers_nothing() -> None:
    async with trio.open_nursery() as nursery:
        worker = Worker("w", Journal())
        ref = await spawn(nursery, worker, name="w")
        try:
            await ref.ask("count", timeout=0)
        except AskTimeout:
            pass
        else:
            raise AssertionError("an ask with no time left was answered")
        await trio.testing.wait_all_tasks_blocked()
        assert worker.count == 0
        assert await ref.ask("count") == 1
        await ref.stop()
