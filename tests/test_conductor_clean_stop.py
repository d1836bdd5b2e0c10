"""The clean stop's guard on Trio's virtual clock: a stop asked while nobody can stop
gracefully cancels at once; a graceful one that hangs is cancelled at the limit; the
caller's cancellation is what asks it."""

from __future__ import annotations

import pytest
import trio

from symphony.conductor.stopping import STOP_LIMIT, CleanStop


async def _guarded(stop: CleanStop, graceful: bool, *, task_status: trio.TaskStatus[None]) -> None:
    """As ``run_conductor`` does: the work shielded, the cancellation turned into a stop."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop.ask_when_cancelled)
        with stop.guard:
            stop.graceful = graceful
            task_status.started()
            await trio.sleep_forever()  # a start-up, or a stop that hangs
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(("graceful", "took"), [(False, 0.0), (True, STOP_LIMIT)])
async def test_a_clean_stop_ends_at_once_or_at_its_limit(
    graceful: bool, took: float, autojump_clock: trio.abc.Clock
) -> None:
    stop = CleanStop()
    async with trio.open_nursery() as nursery:
        await nursery.start(_guarded, stop, graceful)
        await trio.sleep(1)
        cancelled_at = trio.current_time()
        nursery.cancel_scope.cancel()  # the caller's cancellation (SIGTERM, an embedder)
    assert stop.asked.is_set()
    assert trio.current_time() - cancelled_at == pytest.approx(took)


async def test_a_clean_stop_asked_twice_keeps_its_first_limit(
    autojump_clock: trio.abc.Clock,
) -> None:
    stop = CleanStop()
    stop.graceful = True
    stop.ask()
    deadline = stop.guard.deadline
    await trio.sleep(1)
    stop.ask()
    assert stop.guard.deadline == deadline and not stop.guard.cancel_called
