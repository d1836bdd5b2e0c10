"""``stop_node`` reads the node's instance records once: what it says it stops is what
it stops.

The records are read after the agent has let go of the state directory (no agent writes
them then). Each later read could see another list: a record that appeared between
the count ("stopping 1 instance") and the stop would be stopped too, and the lines would
contradict the count. Real parts: a state directory with a saved instance, the node
monitor started for the stop; the line that announces the count appends a record.
"""

from __future__ import annotations

from pathlib import Path

from symphony.node.process.localstate import InstanceStore
from symphony.node.process.records import StartRequest
from symphony.node.stop import jobs_dir, stop_node
from tests.jobs.harness import spec


def _record(jobs: Path, instance_id: str) -> None:
    request = StartRequest(instance_id=instance_id, spec=spec(["sleep", "300"]))
    store = InstanceStore(str(jobs))
    store.save(request)  # to run: an agent died before starting it
    store.close()


async def test_node_stop_stops_the_instances_it_counted_from_one_read(tmp_path: Path) -> None:
    state_dir = tmp_path / "node"
    jobs = jobs_dir(state_dir)
    jobs.mkdir(parents=True)
    _record(jobs, "early-0")
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if line.startswith("stopping 1 instance"):
            _record(jobs, "late-0")  # the records change after the count was said

    stopped = await stop_node(state_dir, say=say)

    assert [s.report.instance_id for s in stopped.instances] == ["early-0"], lines
    assert "stopping 1 instance" in lines
    assert [line for line in lines if "-0" in line] == ["stopped early-0: stop requested"]
