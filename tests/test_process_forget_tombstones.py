"""Forgets never push out the tombstones of real stops.

The Conductor stops an instance that ended for good on a node once it has saved its
end, so that the node forgets it (a *forget*, see ``process/ended.py``). Each stop
leaves a tombstone (``symphony/node/tombstones.py``), and they used to share one
bounded set with the tombstones of real stops: a node ending more instances than the
bound within the hour pushed out the tombstone of a real stop that had overtaken its
start, and the late start then ran a job whose deployment was gone. Real node (process
manager, monitor, ProcessJobs as the link drives it), with a bound of 3 standing in
for the 10,000 of a real node; the agent's clock is virtual.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from symphony.node.tombstones import TOMBSTONE_TTL_SECONDS, Tombstones
from symphony.wire import StopInstance
from tests.jobs.harness import open_jobs, open_node, spec, start_command, wait_real

ONCE = spec(["sh", "-c", "echo said $SYMPHONY_INSTANCE"], restart_policy={"type": "never"})
SLEEP = spec(["sleep", "1000"])
FORGET = "ended: its end is recorded by the conductor"  # the Conductor's forget
BOUND = 3


@pytest.fixture
def clock() -> trio.testing.MockClock:
    # Virtual time for the tombstones' hour; it moves only when the test says so, or
    # when the agent has had nothing to do for a while (real processes run meanwhile).
    return trio.testing.MockClock(autojump_threshold=1.0)


async def test_forgets_past_the_bound_leave_a_real_stops_tombstone(
    tmp_path, clock: trio.testing.MockClock
) -> None:
    stones = Tombstones(capacity=BOUND)
    async with (
        open_node(str(tmp_path / "node")) as node,
        open_jobs(node, tombstones=stones) as (jobs, link),
    ):
        # A deployment deleted right after it was created: the stop overtakes the start.
        await jobs.stop(StopInstance(instance_id="gone-0", reason="deployment deleted"))
        await wait_real(lambda: len(link.of("gone-0")) == 1)
        # Then more instances than the bound end for good here, a minute apart, and the
        # Conductor, having their ends, lets the node forget each.
        ended = [f"once-{i}" for i in range(BOUND + 1)]
        for instance_id in ended:
            clock.jump(60.0)
            await jobs.start(start_command(instance_id, ONCE))
            await wait_real(lambda i=instance_id: any(s.final for s in link.of(i)))
            await jobs.stop(StopInstance(instance_id=instance_id, reason=FORGET))
        await wait_real(lambda: not node.manager.store.load_all() and not jobs._stopping)
        # The late start of the really stopped instance is still refused: nothing runs.
        clock.jump(TOMBSTONE_TTL_SECONDS - 60.0 * len(ended) - 1.0)
        await jobs.start(start_command("gone-0", SLEEP))
        await wait_real(lambda: len(link.of("gone-0")) == 2)
        assert [s.state for s in link.of("gone-0")] == ["stopped", "stopped"]
        assert link.of("gone-0")[-1].reason == "stopped before it started"
        assert node.of("gone-0") == []  # no starting, no running: nothing was spawned
        assert await node.manager.list_instances() == []
        assert len(stones) == 1  # the forgets' tombstones are kept apart


async def test_a_forgotten_instances_late_start_is_still_refused(
    tmp_path, clock: trio.testing.MockClock
) -> None:
    # Its tombstone is what refuses a copy of its start still under way on the node
    # (sent again after a hello, while the first one waited): kept, in its own set.
    forgotten = Tombstones(capacity=BOUND)
    async with (
        open_node(str(tmp_path / "node")) as node,
        open_jobs(node, forgotten=forgotten) as (jobs, link),
    ):
        await jobs.start(start_command("once-0", ONCE))
        await wait_real(lambda: any(s.final for s in link.of("once-0")))
        await jobs.stop(StopInstance(instance_id="once-0", reason=FORGET))
        await wait_real(lambda: not node.manager.store.load_all() and not jobs._stopping)
        # A forget repeated (a hello that still listed it) stays a forget.
        await jobs.stop(StopInstance(instance_id="once-0", reason=FORGET))
        await wait_real(lambda: not jobs._stopping)
        assert (len(forgotten), len(jobs.tombstones)) == (1, 0)
        clock.jump(TOMBSTONE_TTL_SECONDS - 1.0)
        await jobs.start(start_command("once-0", ONCE))
        await wait_real(lambda: link.of("once-0")[-1].reason == "stopped before it started")
        assert node.manager.tail("once-0") == ["said once-0"]  # it ran once, not twice
        # Past the hour both sets are empty again: bounded in time as in number.
        clock.jump(2.0)
        assert not forgotten.contains("once-0", now=trio.current_time())
        assert len(forgotten) == 0
