"""Each instance is judged by its own version's health check, and a revert or a rollback
goes back to the version it names, and stays there.

When a new version adds a health check, the old instances (whose version has none)
are healthy once running, as the docs say of a version without a check: judged by the
new version's check they never were, and going back to their version after a failure
found them "not healthy within" a deadline counted from the roll before, so the good
version was marked failed at the revert's first step. Real actors on a virtual clock,
as in ``test_roll_timers.py``.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment
from symphony.conductor.deployments.messages import RollbackDeployment
from symphony.wire import StartInstance, StopInstance

from ..deployments.test_reschedule import Cluster, cluster, spec
from .test_roll_timers import change

__all__ = ["cluster"]  # the fixture, used by name

#: The check of the docs' example: the process is ready once it wrote this file.
READY = {"type": "exec", "command": ["test", "-f", "ready"]}


class Nodes:
    """Plays both nodes: each instance started is reported running (with the health
    ``health`` gives its start, if its version has a check), each stopped reported
    stopped for good."""

    def __init__(self, c: Cluster, health: str = "unhealthy") -> None:
        self.c = c
        self.health = health
        self.answered: set[tuple[str, str]] = set()

    async def answer(self) -> None:
        for node, cmd in list(self.c.commands):
            if isinstance(cmd, StartInstance) and ("start", cmd.instance_id) not in self.answered:
                self.answered.add(("start", cmd.instance_id))
                checked = cmd.spec.health_check is not None
                health = self.health if checked else None
                await self.c.report(node, cmd, "running", pid=1, health=health)
            elif isinstance(cmd, StopInstance) and ("stop", cmd.instance_id) not in self.answered:
                self.answered.add(("stop", cmd.instance_id))
                start = next(s for _, s in self.c.starts() if s.instance_id == cmd.instance_id)
                await self.c.report(node, start, "stopped", final=True)

    async def run_for(self, seconds: float) -> None:
        """Answer every command as it comes, for ``seconds`` of the virtual clock."""
        with trio.move_on_after(seconds):
            while True:
                await self.answer()
                await trio.sleep(0.5)
        await self.answer()


def statuses(c: Cluster, name: str) -> dict[int, str]:
    record = c.store.get_deployment(name)
    assert record is not None
    return {v.version: v.status for v in c.store.list_versions(record.id)}


def live(c: Cluster, name: str) -> list[dict[str, Any]]:
    return [i for i in c.view(name)["instances"] if i["finished_at"] is None]


async def two_versions_without_a_check(c: Cluster, nodes: Nodes, **update: Any) -> None:
    """Deployment "web" (2 replicas, no health check) at version 2, rolled out."""
    config = {"command": ["sleep", "9401"]}
    await c.deployments.ask(CreateDeployment(spec("web", replicas=2, config=config, **update)))
    await nodes.run_for(1)
    await change(c, "web", {"config": {"command": ["sleep", "9402"]}})
    await nodes.run_for(60)
    assert c.view("web")["rollout"] is None and c.view("web")["version"] == 2


async def test_a_failed_version_that_added_a_check_reverts_to_the_good_one_and_stays(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Version 3 adds the docs' check and is never healthy: at 120 s it fails, back to
    version 2, whose two instances (no check: healthy once running) are kept and count
    at once; version 2 is not marked failed, nothing goes on to version 1."""
    nodes = Nodes(cluster)
    await two_versions_without_a_check(cluster, nodes)
    v2 = {i["id"] for i in live(cluster, "web")}
    await change(cluster, "web", {"config": {"command": ["sleep", "9403"]}, "health_check": READY})
    await nodes.run_for(200)
    events = "\n".join(cluster.events("web"))
    view = cluster.view("web")
    assert (view["version"], view["rollout"]) == (2, None), events
    assert "reverting to version 1" not in events and "version 2 failed" not in events, events
    assert statuses(cluster, "web") == {1: "good", 2: "good", 3: "failed"}, events
    assert {i["id"] for i in live(cluster, "web")} == v2, events  # kept, never replaced


async def test_a_version_adding_a_failing_check_with_no_older_good_one_goes_back(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Version 1 (no check) is the only good one; version 2 adds a check that always
    fails. Back to version 1, whose instances count as they are: it stays good, the
    roll ends with its 2 instances, no third one crash-looping beside them."""
    nodes = Nodes(cluster)
    update = {"min_healthy_seconds": 1, "healthy_deadline_seconds": 6}
    await cluster.deployments.ask(CreateDeployment(spec("web", replicas=2, update=update)))
    await nodes.run_for(1)
    v1 = {i["id"] for i in live(cluster, "web")}
    await change(cluster, "web", {"health_check": {"type": "exec", "command": ["false"]}})
    await nodes.run_for(30)
    events = "\n".join(cluster.events("web"))
    view = cluster.view("web")
    assert (view["version"], view["rollout"]) == (1, None), events
    assert "no good version" not in events, events
    assert statuses(cluster, "web") == {1: "good", 2: "failed"}, events
    assert {i["id"] for i in live(cluster, "web")} == v1, events


async def test_a_rollback_from_canaries_that_added_a_check_keeps_the_version_it_names(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Version 3's canary adds a check and waits for a promote past the deadline; a
    rollback to version 2 keeps version 2's instances, which count at once: version 2
    is not failed, and version 3 is no longer a canary but superseded."""
    nodes = Nodes(cluster, health="healthy")
    await two_versions_without_a_check(cluster, nodes)
    v2 = {i["id"] for i in live(cluster, "web")}
    patch = {"config": {"command": ["sleep", "9403"]}, "health_check": READY}
    await change(cluster, "web", {**patch, "update": {"canary": 1}})
    await nodes.run_for(200)
    assert cluster.view("web")["rollout"]["state"] == "canary"
    back = await cluster.deployments.ask(RollbackDeployment("web", 2))
    assert back.version == 2, back
    await nodes.run_for(30)
    events = "\n".join(cluster.events("web"))
    view = cluster.view("web")
    assert (view["version"], view["rollout"]) == (2, None), events
    assert "version 2 failed" not in events, events
    assert statuses(cluster, "web") == {1: "good", 2: "good", 3: "superseded"}, events
    assert {i["id"] for i in live(cluster, "web")} == v2, events


async def test_a_version_superseded_during_its_roll_says_so_and_a_rollback_skips_it(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """A PATCH during version 2's roll supersedes it: its status ends (``superseded``,
    not ``rolling`` for ever), and a plain rollback goes back to the last good version
    (1), not to one that never finished rolling out. A version's status never shows a
    roll state (``promoted``, ``reverting``); one good already stays good while a
    rollback to it rolls (the deployment's ``rollout`` says it rolls)."""
    nodes = Nodes(cluster)
    update = {"min_healthy_seconds": 5, "healthy_deadline_seconds": 60}
    await cluster.deployments.ask(CreateDeployment(spec("web", update=update)))
    await nodes.run_for(1)
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}})
    await nodes.run_for(1)  # version 2's instance runs, not healthy long enough yet
    await change(cluster, "web", {"config": {"command": ["sleep", "3"]}})
    await nodes.run_for(30)
    assert statuses(cluster, "web") == {1: "good", 2: "superseded", 3: "good"}
    back = await cluster.deployments.ask(RollbackDeployment("web", None))
    assert back.version == 1, back
    assert cluster.view("web")["rollout"]["state"] == "promoted"  # a rollback: no canaries
    assert statuses(cluster, "web") == {1: "good", 2: "superseded", 3: "good"}
    await nodes.run_for(30)
    assert statuses(cluster, "web") == {1: "good", 2: "superseded", 3: "good"}
    assert cluster.view("web")["rollout"] is None


async def test_a_kept_instance_not_healthy_at_a_revert_gets_the_whole_deadline(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """The deadline of an instance new to the version rolled to starts when that version
    becomes the target: a kept one of version 1 restarting when version 2 fails has
    ``healthy_deadline_seconds`` from the revert to be healthy again, not from when
    version 2's roll first saw it."""
    nodes = Nodes(cluster)
    update = {"min_healthy_seconds": 1, "healthy_deadline_seconds": 20}
    await cluster.deployments.ask(CreateDeployment(spec("web", update=update)))
    await nodes.run_for(1)
    [(node1, v1)] = cluster.starts()
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}})
    await cluster.report(node1, v1, "restarting", reason="exited with code 1")
    await trio.sleep(20.1)  # version 2's instance never started: it fails, back to 1
    await trio.testing.wait_all_tasks_blocked()
    assert cluster.view("web")["version"] == 1
    await trio.sleep(10)
    await cluster.report(node1, v1, "running", pid=2)  # healthy again within 20 s
    await nodes.run_for(30)
    events = "\n".join(cluster.events("web"))
    assert cluster.view("web")["rollout"] is None, events
    assert statuses(cluster, "web") == {1: "good", 2: "failed"}, events
