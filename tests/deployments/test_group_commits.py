"""Creates that wait together are stored in one transaction; a bad one fails only itself.

The Deployments manager queues ``CreateDeployment`` asks and stores every create waiting
at that moment in one transaction before answering any of them (see
``symphony/conductor/deployments/creating.py``). The store here is the real one; it only
notes the size of each create transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import trio
import trio.testing

from symphony.actors import Actor, ActorRef
from symphony.conductor.deployments import (
    CreateDeployment,
    CreateDeployments,
    Failed,
    UpdateDeployment,
)
from symphony.conductor.deployments.creating import BatchRefused
from symphony.conductor.deployments.events import EventLog
from symphony.conductor.deployments.manager import Deployments
from symphony.conductor.deployments.messages import Created, SchedulesChanged
from symphony.conductor.store import DeploymentRecord, EventRecord, NameConflict, Store
from symphony.spec import DeploymentSpec, SpecError

from .test_reschedule import Cluster, running_cluster, spawn, spec


class RecordingStore(Store):
    """The real store, noting how many deployments each create transaction held."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups: list[int] = []
        self.blind = False  # True: miss names taken (as if another writer took them)

    def create_deployments_noted(
        self, specs: Sequence[DeploymentSpec], note: Any = None, first: Any = None
    ) -> tuple[list[DeploymentRecord], list[EventRecord]]:
        records, events = super().create_deployments_noted(specs, note, first)
        self.groups.append(len(records))
        return records, events

    def create_deployment(
        self, spec: DeploymentSpec, *, deployment_id: str | None = None
    ) -> DeploymentRecord:
        record = super().create_deployment(spec, deployment_id=deployment_id)
        self.groups.append(1)
        return record

    def taken_names(self, names: Any) -> set[str]:
        return set() if self.blind else super().taken_names(names)


class Pokes(Actor):
    """Stands in for the Timetable: counts the pokes it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def receive(self, message: Any) -> Any:
        assert isinstance(message, SchedulesChanged)
        self.count += 1


@contextlib.asynccontextmanager
async def recording_cluster(
    db: Path, timetable: ActorRef | None = None
) -> AsyncIterator[tuple[Cluster, RecordingStore]]:
    async with running_cluster(db, store_class=RecordingStore, timetable=timetable) as cluster:
        assert isinstance(cluster.store, RecordingStore)
        yield cluster, cluster.store


async def ask_all(cluster: Cluster, messages: list[Any]) -> list[Any]:
    """Send every ask at once (in this order); their answers in the same order."""
    answers: list[Any] = [None] * len(messages)

    async def one(i: int) -> None:
        answers[i] = await cluster.deployments.ask(messages[i], timeout=10)

    async with trio.open_nursery() as nursery:
        for i in range(len(messages)):
            nursery.start_soon(one, i)
    return answers


def secret_user(name: str) -> DeploymentSpec:
    return spec(name, config={"command": ["true"], "env": {"TOKEN": {"secret": "nope"}}})


async def test_group_commits_concurrent_creates_share_one_transaction(tmp_path: Path) -> None:
    async with recording_cluster(tmp_path / "s.db") as (cluster, store):
        answers = await ask_all(cluster, [CreateDeployment(spec(f"web-{i}")) for i in range(8)])
        assert [a.name for a in answers] == [f"web-{i}" for i in range(8)]
        assert sum(store.groups) == 8
        assert max(store.groups) > 1, store.groups  # failed before: one transaction each
        # Answered after the commit: each is in the store, with its supervisor started.
        assert all(store.get_deployment(a.id) == a for a in answers)


async def test_group_commits_a_failing_item_fails_only_itself(tmp_path: Path) -> None:
    async with recording_cluster(tmp_path / "s.db") as (cluster, store):
        await cluster.deployments.ask(CreateDeployment(spec("taken")))
        store.groups.clear()
        answers = await ask_all(
            cluster,
            [
                CreateDeployment(spec("a")),
                CreateDeployment(spec("taken")),  # a stored deployment's name
                CreateDeployment(spec("b")),
                CreateDeployment(spec("b")),  # the same name as an earlier one of the group
                CreateDeployment(secret_user("c")),  # a secret that does not exist
                CreateDeployment(spec("d")),
            ],
        )
        # The asks reach the mailbox in an order Trio chooses: either "b" may be first.
        assert [a.name for a in answers if isinstance(a, DeploymentRecord)] == ["a", "b", "d"]
        assert isinstance(answers[1], Failed) and isinstance(answers[1].error, NameConflict)
        [second_b] = [a for a in answers[2:4] if isinstance(a, Failed)]
        assert isinstance(second_b.error, NameConflict)
        assert isinstance(answers[4], Failed) and isinstance(answers[4].error, SpecError)
        assert store.groups == [3]  # the good ones, together
        names = {r.name for r in store.list_deployments()}
        assert names == {"taken", "a", "b", "d"}


async def test_group_commits_unforeseen_conflict_falls_back_to_one_by_one(
    tmp_path: Path,
) -> None:
    async with recording_cluster(tmp_path / "s.db") as (cluster, store):
        await cluster.deployments.ask(CreateDeployment(spec("taken")))
        store.groups.clear()
        store.blind = True  # the check misses it: the group's insert meets the conflict
        answers = await ask_all(cluster, [CreateDeployment(spec(n)) for n in ("x", "taken", "y")])
        assert isinstance(answers[1], Failed) and isinstance(answers[1].error, NameConflict)
        assert [answers[0].name, answers[2].name] == ["x", "y"]
        assert store.groups == [1, 1]  # the group rolled back, then one by one
        assert {r.name for r in store.list_deployments()} == {"taken", "x", "y"}


async def test_group_commits_a_later_message_sees_earlier_creates(tmp_path: Path) -> None:
    async with recording_cluster(tmp_path / "s.db") as (cluster, store):
        # Queued one after the other: the update comes before the create's flush.
        cluster.deployments.tell_nowait(CreateDeployment(spec("web")))  # told: no answer
        updated = await cluster.deployments.ask(UpdateDeployment("web", {"replicas": 2}))
        assert isinstance(updated, DeploymentRecord), updated
        assert updated.spec.replicas == 2
        assert store.groups == [1]


async def test_group_commits_batch_is_all_or_nothing(tmp_path: Path) -> None:
    async with recording_cluster(tmp_path / "s.db") as (cluster, store):
        await cluster.deployments.ask(CreateDeployment(spec("taken")))
        refused = await cluster.deployments.ask(
            CreateDeployments((spec("p"), spec("taken"), secret_user("q")))
        )
        assert isinstance(refused, Failed) and isinstance(refused.error, BatchRefused)
        assert sorted(refused.error.problems) == [1, 2]
        assert {r.name for r in store.list_deployments()} == {"taken"}
        store.groups.clear()
        created = await cluster.deployments.ask(CreateDeployments((spec("p"), spec("q"))))
        assert [r.name for r in created] == ["p", "q"]
        assert store.groups == [2]


async def test_group_commits_only_a_scheduled_create_pokes_the_timetable(
    tmp_path: Path,
) -> None:
    # A poke makes the Timetable read every deployment: one per create made creating
    # 10,000 deployments quadratic (and deleting them too).
    pokes = Pokes()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, pokes, name="timetable")
        async with recording_cluster(tmp_path / "s.db", ref) as (cluster, _):
            await ask_all(cluster, [CreateDeployment(spec(f"plain-{i}")) for i in range(5)])
            await cluster.deployments.ask(CreateDeployments((spec("p1"), spec("p2"))))
            await cluster.deployments.ask(UpdateDeployment("plain-0", {"replicas": 2}))
            await trio.testing.wait_all_tasks_blocked()
            assert pokes.count == 0  # failed before: one per create or change
            cron = spec("nightly", schedule={"cron": "0 3 * * *"}, restart_policy={"type": "never"})
            await cluster.deployments.ask(CreateDeployment(cron))
            await trio.testing.wait_all_tasks_blocked()
            assert pokes.count == 1
            scheduled = {"schedule": {"cron": "0 4 * * *"}, "restart_policy": {"type": "never"}}
            await cluster.deployments.ask(UpdateDeployment("plain-1", scheduled))
            await cluster.deployments.ask(UpdateDeployment("plain-1", {"schedule": None}))
            await trio.testing.wait_all_tasks_blocked()
            assert pokes.count == 3  # a schedule added, then removed
        nursery.cancel_scope.cancel()


async def test_group_commits_instances_and_their_events_share_a_transaction(
    tmp_path: Path,
) -> None:
    async with recording_cluster(tmp_path / "s.db") as (cluster, store):
        await cluster.deployments.ask(CreateDeployment(spec("warm-up")))
        await trio.testing.wait_all_tasks_blocked()
        before = store.commits
        await cluster.deployments.ask(CreateDeployment(spec("web")))
        await trio.testing.wait_all_tasks_blocked()
        assert len(cluster.starts()) == 2  # placed and sent to its node
        # The deployment with its "created" event and its first instance with "replica
        # 0: instance ..."; placed on a node with "... placed on ...". Failed before: 6
        # (each instance save and its events in two transactions), then 4 (the
        # deployment's "created" event in a transaction of its own), then 3 (the first
        # instance in a transaction of its own).
        assert store.commits - before == 2
        web = store.get_deployment("web")
        assert web is not None
        kinds = [e.kind for e in store.list_events(deployment_id=web.id)]
        assert kinds == ["created", "created", "placed"]


class Stuck(Actor):
    """Stands in for a Scheduler too busy to take anything: it never finishes a message."""

    async def receive(self, message: Any) -> Any:
        await trio.sleep_forever()


async def test_group_commits_answer_once_committed_not_once_placed(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    store = Store.open(tmp_path / "s.db")
    async with trio.open_nursery() as nursery:
        # Its one message taken, its mailbox full: every placement waits on it forever.
        # Failed before: the answer waited for the supervisor's start, which waits for
        # that placement (AskTimeout).
        stuck = await spawn(nursery, Stuck(), name="scheduler", mailbox_size=1)
        stuck.tell_nowait("taken")
        await trio.testing.wait_all_tasks_blocked()
        stuck.tell_nowait("queued")
        manager = Deployments(store=store, scheduler=stuck, registry=stuck, events=EventLog(store))
        deployments = await spawn(nursery, manager, name="deployments")
        record = await deployments.ask(CreateDeployment(spec("web", replicas=2)), timeout=10)
        assert isinstance(record, DeploymentRecord)
        # Committed with its first instances (and their events) before the answer.
        assert store.get_deployment("web") == record
        instances = store.list_instances(deployment_id=record.id)
        assert [(i.replica, i.state, i.reason) for i in instances] == [
            (0, "pending", "waiting for a node"),
            (1, "pending", "waiting for a node"),
        ]
        messages = [e.message for e in store.list_events(deployment_id=record.id)]
        assert messages == ["deployment web created"] + [
            f"replica {i.replica}: instance {i.id}" for i in instances
        ]
        nursery.cancel_scope.cancel()
    store.close()


async def test_group_commits_answer_with_the_first_instances(tmp_path: Path) -> None:
    async with recording_cluster(tmp_path / "s.db") as (cluster, store):
        await cluster.deployments.ask(CreateDeployment(spec("taken")))
        created = await cluster.deployments.ask(
            CreateDeployment(spec("web", replicas=2), with_instances=True)
        )
        assert isinstance(created, Created)
        assert created.record == store.get_deployment("web")
        assert [(i.replica, i.state) for i in created.instances] == [(0, "pending"), (1, "pending")]
        stored = store.list_instances(deployment_id=created.record.id)
        assert [i.id for i in created.instances] == [i.id for i in stored]
        # Stored one by one (a conflict nobody foresaw): no first instances went in with
        # it, so the answer is the record alone, once its supervisor made them.
        store.blind = True
        answers = await ask_all(
            cluster,
            [CreateDeployment(spec(n), with_instances=True) for n in ("x", "taken")],
        )
        assert isinstance(answers[0], DeploymentRecord)
        assert len(store.list_instances(deployment_id=answers[0].id)) == 1
