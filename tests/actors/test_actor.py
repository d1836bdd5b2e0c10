"""The Actor base class, refs and mailboxes, without supervisors."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing

from symphony.actors import (
    Actor,
    ActorConfigError,
    ActorCrashed,
    ActorRef,
    ActorStopped,
    AskTimeout,
    MailboxFull,
    spawn,
)

from .helpers import Journal, Worker


async def test_actor_tell_then_ask_sees_messages_in_order() -> None:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Worker("w", Journal()), name="w")
        for _ in range(3):
            await ref.tell("incr")
        assert await ref.ask("incr") == 4
        await ref.stop()


async def test_actor_ask_timeout_raises_clear_error(autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Worker("w", Journal()), name="slowpoke")
        start = trio.current_time()
        with pytest.raises(AskTimeout, match="no reply from actor 'slowpoke' to str within 2"):
            await ref.ask("slow", timeout=2.0)
        assert trio.current_time() - start == pytest.approx(2.0)
        assert isinstance(AskTimeout("x"), TimeoutError)
        nursery.cancel_scope.cancel()


async def test_actor_ask_rejects_nan_or_negative_timeout() -> None:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Worker("w", Journal()))
        for bad in (math.nan, -1.0):
            with pytest.raises(ValueError, match="non-negative"):
                await ref.ask("x", timeout=bad)
        await ref.stop()


async def test_actor_ask_to_stopped_actor_fails_fast() -> None:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Worker("w", Journal()), name="gone")
        await ref.stop()
    assert not ref.alive
    with trio.fail_after(0.5):  # fails at once, never waits for the ask timeout
        with pytest.raises(ActorStopped, match="actor 'gone' is stopped; cannot deliver str"):
            await ref.ask("hello", timeout=60)
        with pytest.raises(ActorStopped):
            await ref.tell("hello")
        with pytest.raises(ActorStopped):
            ref.tell_nowait("hello")


async def test_actor_queued_asks_fail_when_actor_stops(autojump_clock: trio.abc.Clock) -> None:
    errors: list[BaseException] = []

    async def ask_and_record(ref: Any) -> None:
        try:
            await ref.ask("incr", timeout=1000)
        except ActorStopped as error:
            errors.append(error)

    async with trio.open_nursery() as askers, trio.open_nursery() as nursery:
        ref = await spawn(nursery, Worker("w", Journal()), name="busy")
        await ref.tell("slow")  # occupies the actor for 100 s
        for _ in range(3):
            askers.start_soon(ask_and_record, ref)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()  # the actor dies with three asks queued
    assert len(errors) == 3
    assert "stopped before answering" in str(errors[0])
    assert trio.current_time() < 5


async def test_actor_mailbox_applies_backpressure() -> None:
    class Gate(Actor):
        def __init__(self) -> None:
            super().__init__()
            self.open = trio.Event()
            self.seen: list[int] = []

        async def receive(self, message: Any) -> Any:
            await self.open.wait()
            self.seen.append(message)

    gate = Gate()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, gate, name="gate", mailbox_size=2)
        await ref.tell(0)  # taken by the actor, which now blocks on the gate
        await trio.testing.wait_all_tasks_blocked()
        ref.tell_nowait(1)
        ref.tell_nowait(2)
        with pytest.raises(MailboxFull, match="mailbox of actor 'gate' is full \\(2 messages\\)"):
            ref.tell_nowait(3)
        sent = trio.Event()

        async def blocked_sender() -> None:
            await ref.tell(3)
            sent.set()

        nursery.start_soon(blocked_sender)
        await trio.testing.wait_all_tasks_blocked()
        assert not sent.is_set()  # the sender waits: backpressure, not unbounded memory
        gate.open.set()
        await sent.wait()
        await ref.ask(4)
        assert gate.seen == [0, 1, 2, 3, 4]
        await ref.stop()


async def test_actor_crash_reaches_asker_and_names_actor() -> None:
    with pytest.RaisesGroup(ValueError) as info:
        async with trio.open_nursery() as nursery:
            ref = await spawn(nursery, Worker("w", Journal()), name="crashy")
            with pytest.raises(ActorCrashed, match="actor 'crashy' crashed while handling str"):
                await ref.ask("crash")
    # The original exception type and traceback survive, with a note naming the actor.
    error = info.value.exceptions[0]
    assert "told to crash" in str(error)
    assert "in actor 'crashy'" in getattr(error, "__notes__", [])
    assert error.__traceback__ is not None


async def test_actor_background_tasks_die_with_actor() -> None:
    finished: list[str] = []

    class WithTicker(Actor):
        async def on_start(self) -> None:
            self.nursery.start_soon(self.tick)

        async def tick(self) -> None:
            try:
                await trio.sleep_forever()
            finally:
                finished.append("ticker")

        async def receive(self, message: Any) -> Any:
            return message

    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, WithTicker())
        assert await ref.ask("ping") == "ping"
        await ref.stop()
    assert finished == ["ticker"]


async def test_actor_defer_reply_answers_later() -> None:
    class Deferring(Actor):
        async def receive(self, message: Any) -> Any:
            reply = self.defer_reply()
            self.nursery.start_soon(self.answer_later, reply, message)

        async def answer_later(self, reply: Any, message: Any) -> None:
            await trio.sleep(0)
            reply.send(message * 2)

    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Deferring())
        assert await ref.ask(21) == 42
        await ref.stop()


async def test_actor_rejects_bad_mailbox_size_and_double_run() -> None:
    async with trio.open_nursery() as nursery:
        for bad in (0, -1, True, 1.5):
            with pytest.raises(ActorConfigError, match="mailbox_size must be a positive int"):
                await spawn(nursery, Worker("w", Journal()), mailbox_size=bad)  # type: ignore[arg-type]
        worker = Worker("w", Journal())
        ref = await spawn(nursery, worker)
        with pytest.raises(RuntimeError, match="runs only once"):
            await spawn(nursery, worker)
        await ref.stop()


async def test_actor_ref_equality_and_repr() -> None:
    async with trio.open_nursery() as nursery:
        worker = Worker("w", Journal())
        ref = await spawn(nursery, worker, name="eq")
        assert ref == worker.ref and hash(ref) == hash(worker.ref)
        assert repr(ref) == "<ActorRef 'eq' alive>"
        await ref.stop()
    assert repr(ref) == "<ActorRef 'eq' stopped>"


async def test_actor_tells_dropped_unread_at_stop_are_told_so(
    autojump_clock: trio.abc.Clock,
) -> None:
    dropped: list[int] = []

    class Counted:
        def __init__(self, n: int) -> None:
            self.n = n

        def dropped_unread(self) -> None:
            dropped.append(self.n)

    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Worker("w", Journal()), name="busy")
        await ref.tell("slow")  # occupies the actor for 100 s
        for n in range(3):
            await ref.tell(Counted(n))
        await ref.tell("plain")  # a message without the method is dropped as before
        await trio.sleep(1)
        nursery.cancel_scope.cancel()  # the actor dies with them unread
    assert dropped == [0, 1, 2]


async def test_a_failing_dropped_unread_hook_still_fails_the_asks_queued_behind_it(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def dropped_unread(self) -> None:
            raise RuntimeError("hook failed")

    answers: list[BaseException] = []

    async def ask(ref: ActorRef) -> None:
        try:
            await ref.ask("ping", timeout=1000)
        except ActorStopped as error:
            answers.append(error)

    async with trio.open_nursery() as outer, trio.open_nursery() as nursery:
        ref = await spawn(nursery, Worker("w", Journal()), name="busy")
        await ref.tell("slow")  # occupies the actor for 100 s
        await ref.tell(Broken())
        outer.start_soon(ask, ref)  # queued behind the broken hook's message
        await trio.sleep(1)
        nursery.cancel_scope.cancel()  # the actor dies with both unread
    assert len(answers) == 1  # the ask behind the broken hook was failed, not left
    assert "dropped_unread() of a Broken failed" in caplog.text
