"""The mailbox's queue does what a Trio memory channel pair did for it: the same values
in the same order, the same room, the same errors, the same task steps; each scenario
runs on both and the outcomes must agree."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from symphony.actors._queue import MailboxQueue


class Pair:
    """A memory channel pair behind the queue's interface (closing closes both)."""

    def __init__(self, capacity: int) -> None:
        self.send_side, self.receive_side = trio.open_memory_channel[Any](capacity)

    def send_nowait(self, value: Any) -> None:
        self.send_side.send_nowait(value)

    async def send(self, value: Any) -> None:
        await self.send_side.send(value)

    def receive_nowait(self) -> Any:
        return self.receive_side.receive_nowait()

    async def receive(self) -> Any:
        return await self.receive_side.receive()

    def close(self) -> None:
        self.send_side.close()
        self.receive_side.close()


Scenario = Callable[[Any, list[Any]], Awaitable[None]]


async def _outcome(make: Callable[[int], Any], scenario: Scenario) -> list[Any]:
    log: list[Any] = []
    await scenario(make(2), log)
    return log


def _error(call: Callable[[], Any]) -> str:
    try:
        call()
    except Exception as error:
        return type(error).__name__
    return "none"


async def _room(queue: Any, log: list[Any]) -> None:
    log.append([_error(lambda i=i: queue.send_nowait(i)) for i in range(3)])
    log.append([_error(queue.receive_nowait) for _ in range(3)])


async def _handed_value_takes_no_room(queue: Any, log: list[Any]) -> None:
    async with trio.open_nursery() as nursery:

        async def reader() -> None:
            log.append(("got", await queue.receive()))

        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        log.append([_error(lambda i=i: queue.send_nowait(i)) for i in range(4)])
    log.append([_error(queue.receive_nowait) for _ in range(3)])


async def _senders_wait_in_order(queue: Any, log: list[Any]) -> None:
    sent: list[int] = []  # apart: a sender and the receiver wake in one batch, any order
    async with trio.open_nursery() as nursery:
        for i in range(2):
            queue.send_nowait(i)
        for i in range(2, 5):

            async def sender(i: int = i) -> None:
                await queue.send(i)
                sent.append(i)

            nursery.start_soon(sender)
            await trio.testing.wait_all_tasks_blocked()
        for _ in range(5):
            log.append(("got", await queue.receive()))
            await trio.testing.wait_all_tasks_blocked()
    log.append(("sent", sent))


async def _close_wakes_everyone(queue: Any, log: list[Any]) -> None:
    async def reader() -> None:
        try:
            await queue.receive()
        except Exception as error:
            log.append(("reader", type(error).__name__))

    async def sender() -> None:
        try:
            await queue.send("x")
        except Exception as error:
            log.append(("sender", type(error).__name__))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        queue.close()
    full = type(queue)(1)
    full.send_nowait(0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        await trio.testing.wait_all_tasks_blocked()
        full.close()
    log.append([_error(lambda: queue.send_nowait(1)), _error(queue.receive_nowait)])


async def _cancelled_waits_deliver_nothing(queue: Any, log: list[Any]) -> None:
    with trio.move_on_after(0.1):
        await queue.receive()  # nothing comes
    queue.send_nowait("a")
    queue.send_nowait("b")
    with trio.move_on_after(0.1):
        await queue.send("c")  # no room
    with trio.CancelScope() as scope:
        scope.cancel()
        await queue.send("d")  # cancelled before: not sent
    log.append([queue.receive_nowait(), queue.receive_nowait(), _error(queue.receive_nowait)])


class Steps(trio.abc.Instrument):
    def __init__(self) -> None:
        self.count: Counter[trio.lowlevel.Task] = Counter()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.count[task] += 1


async def _steps(queue: Any, log: list[Any]) -> None:
    steps = Steps()
    me = trio.lowlevel.current_task()
    trio.lowlevel.add_instrument(steps)
    try:
        await queue.send(1)
        await queue.send(2)
        await queue.receive()
        await queue.receive()
    finally:
        trio.lowlevel.remove_instrument(steps)
    log.append(steps.count[me])


SCENARIOS = [
    _room,
    _handed_value_takes_no_room,
    _senders_wait_in_order,
    _close_wakes_everyone,
    _cancelled_waits_deliver_nothing,
    _steps,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__.strip("_"))
async def test_the_queue_behaves_as_a_memory_channel(
    scenario: Scenario, autojump_clock: trio.abc.Clock
) -> None:
    expected = await _outcome(Pair, scenario)
    assert await _outcome(MailboxQueue, scenario) == expected
    assert expected  # the scenario did observe something


async def test_a_mailbox_has_one_reader() -> None:
    queue = MailboxQueue(1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(queue.receive)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await queue.receive()
        queue.send_nowait("done")
