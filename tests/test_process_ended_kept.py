"""How long a node keeps an instance that ended for good (see ``process/ended.py``).

Kept until the Conductor stops it (it does once it has the end): that stop forgets it
without another report; and never more than the node's bound of them, the oldest
forgotten first, with a log line, confirmed or not. Their log files stay. Real node
(process manager, monitor, ProcessJobs as the link drives it).
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from symphony.node.process.ended import EndedInstances
from symphony.wire import StopInstance
from tests.jobs.harness import open_jobs, open_node, spec, start_command, wait_real

ONCE = spec(["sh", "-c", "echo said $SYMPHONY_INSTANCE"], restart_policy={"type": "never"})


def listed(node_records: list) -> list[str]:
    return sorted(s.request.instance_id for s in node_records)


async def test_a_stop_of_an_ended_instance_forgets_it_quietly(tmp_path) -> None:
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            await jobs.start(start_command("once-0", ONCE))
            await wait_real(lambda: any(s.final for s in link.of("once-0")))
            assert node.manager.store.load_all() != []
            await jobs.stop(StopInstance(instance_id="once-0", reason="ended"))
            await wait_real(lambda: not node.manager.store.load_all())
            assert await node.manager.list_instances() == []
            assert node.manager.events("once-0") == []
            assert len(node.manager.ended) == 0
            # Its end, as reported, stays the last word: no "stopped" follows it.
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
            assert [s.state for s in link.of("once-0") if s.final] == ["exited"]
            assert node.manager.tail("once-0") == ["said once-0"]
            # A late start of it (repeated after a reconnect) is not run again.
            await jobs.start(start_command("once-0", ONCE))
            await wait_real(lambda: link.of("once-0")[-1].state == "stopped")
            assert node.manager.tail("once-0") == ["said once-0"]


async def test_a_node_keeps_at_most_its_bound_of_ended_instances(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    state = str(tmp_path / "node")
    caplog.set_level(logging.WARNING, logger="symphony.node.process.ended")
    with trio.fail_after(60):
        async with open_node(state, ended_kept=2, keep_monitor=True) as node:
            for i in range(3):
                await node.start(f"once-{i}", ONCE)
                await wait_real(lambda i=i: any(u.final for u in node.of(f"once-{i}")))
            reports = await node.manager.list_instances()
            assert sorted(r.instance_id for r in reports) == ["once-1", "once-2"]
            assert listed(node.manager.store.load_all()) == ["once-1", "once-2"]
            assert "forgetting the oldest, once-0 (its logs stay)" in caplog.text
            assert node.manager.tail("once-0") == ["said once-0"]
        # The next agent, keeping fewer: the oldest of what it adopts goes.
        async with open_node(state, ended_kept=1) as node:
            reports = await node.manager.adopt()
            assert [r.instance_id for r in reports] == ["once-2"]
            assert listed(node.manager.store.load_all()) == ["once-2"]
            assert "forgetting the oldest, once-1" in caplog.text


def test_the_bound_forgets_those_that_ended_first() -> None:
    ended = EndedInstances(2)
    assert ended.add("a", 10.0) == [] and ended.add("b", 20.0) == []
    assert ended.add("a", 30.0) == []  # noted again: it ended last
    assert ended.add("c", 5.0) == ["c"]  # noted last, but ended before the others
    assert ended.add("d", 40.0) == ["b"]
    assert "a" in ended and "d" in ended and len(ended) == 2
    with pytest.raises(ValueError, match="at least one"):
        EndedInstances(0)
