"""Inline actors: handled in the sender's task, through ordinary refs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio

from symphony.actors import ActorCrashed, ActorStopped, InlineActor


class Tally(InlineActor):
    def __init__(self) -> None:
        super().__init__("tally")
        self.seen: list[Any] = []

    def receive(self, message: Any) -> Any:
        if message == "boom":
            raise ValueError("cannot count boom")
        self.seen.append(message)
        return len(self.seen)


async def test_inline_actor_handles_each_message_as_it_is_sent_in_order() -> None:
    tally = Tally()
    await tally.ref.tell(1)
    assert tally.seen == [1]  # handled by the time tell returned: no queue, no task
    tally.ref.tell_nowait(2)
    assert await tally.ref.ask(3) == 3
    assert tally.seen == [1, 2, 3]
    assert tally.ref == tally.ref and tally.ref.alive and tally.ref.name == "tally"


async def test_inline_actor_stopped_refuses_later_messages() -> None:
    tally = Tally()
    await tally.ref.stop()
    assert not tally.ref.alive and tally.stopped
    with pytest.raises(ActorStopped, match="actor 'tally' is stopped; cannot deliver int"):
        await tally.ref.tell(1)
    with pytest.raises(ActorStopped):
        tally.ref.tell_nowait(1)
    with pytest.raises(ActorStopped):
        await tally.ref.ask(1)
    assert tally.seen == []


async def test_inline_actor_crash_stops_it_and_never_hurts_a_teller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tally = Tally()
    with caplog.at_level(logging.ERROR):
        await tally.ref.tell("boom")  # the sender is not the one at fault
    assert "cannot count boom" in caplog.text
    assert tally.stopped
    asker = Tally()
    with pytest.raises(ActorCrashed, match="crashed while handling str") as crash:
        await asker.ref.ask("boom")
    assert isinstance(crash.value.__cause__, ValueError)


async def test_inline_actor_cancelled_sender_did_not_send() -> None:
    tally = Tally()
    with trio.CancelScope() as scope:
        scope.cancel()
        await tally.ref.tell(1)
    assert tally.seen == []  # as with a memory channel: cancelled before, not delivered
