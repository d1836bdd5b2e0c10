"""A DELETE marks its deployment at once, and a repeated DELETE joins the first.

The Deployments actor answers a DELETE from a background task (the stops' confirmations
come back through its own mailbox). The mark that makes a change to a deployment being
deleted a refusal used to be set by that task, so a change already waiting in the
mailbox behind the DELETE was stored and answered whenever Trio ran the actor before
the task (about half the time): the client was told its change was applied, and it
vanished with the deployment. A second DELETE started a second teardown, which found
the supervisor gone and warned of stops it could not confirm.

The Conductor's actors run here on a real SQLite store, with two simulated nodes; the
deployments are placed on no node (group "nowhere"), so a teardown has nothing to stop.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.conductor.deployments import DeleteDeployment, UpdateDeployment
from symphony.conductor.deployments.manager import Failed
from symphony.conductor.deployments.messages import CreateDeployment
from symphony.conductor.store import DeploymentRecord, Store

from .test_reschedule import running_cluster, spec


class LookupOrderStore(Store):
    """A real store that notes what each deployment lookup asked for, in order (a
    DELETE here asks by name, the change by id, so the order says which the actor
    handled first), and each deployment it deleted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lookups: list[str] = []

        self.deleted: list[str] = []

    def get_deployment(self, id_or_name: str) -> DeploymentRecord | None:
        self.lookups.append(id_or_name)
        return super().get_deployment(id_or_name)

    def delete_deployment(self, deployment_id: str) -> bool:
        self.deleted.append(deployment_id)
        return super().delete_deployment(deployment_id)


async def ask_both(deployments: Any, first: Any, second: Any) -> list[Any]:
    """Both asks in the mailbox before the actor runs (each sends before it yields)."""
    answers: list[Any] = [None, None]

    async def one(i: int, message: Any) -> None:
        answers[i] = await deployments.ask(message, timeout=10)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, 0, first)
        nursery.start_soon(one, 1, second)
    return answers


async def test_a_change_queued_behind_a_delete_is_refused(tmp_path: Path) -> None:
    refused_after_delete = 0
    async with running_cluster(tmp_path / "s.db", store_class=LookupOrderStore) as cluster:
        store = cluster.store
        assert isinstance(store, LookupOrderStore)
        for i in range(24):
            name = f"web-{i}"
            created = await cluster.deployments.ask(
                CreateDeployment(spec(name, node_group="nowhere"))
            )
            store.lookups.clear()
            delete = DeleteDeployment(name)
            change = UpdateDeployment(created.id, {"replicas": 3})
            _, changed = await ask_both(cluster.deployments, delete, change)
            delete_first = store.lookups.index(name) < store.lookups.index(created.id)
            if delete_first:  # the change was handled after the DELETE: refused
                assert isinstance(changed, Failed), (i, changed)
                assert "being deleted" in str(changed.error), changed.error
                refused_after_delete += 1
            assert store.get_deployment(name) is None
    assert refused_after_delete > 0  # the order is Trio's: both came up in 24 rounds


async def test_a_repeated_delete_joins_the_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_cluster(tmp_path / "s.db", store_class=LookupOrderStore) as cluster:
        store = cluster.store
        assert isinstance(store, LookupOrderStore)
        with caplog.at_level(logging.WARNING, logger="symphony"):
            for i in range(8):
                name = f"web-{i}"
                created = await cluster.deployments.ask(
                    CreateDeployment(spec(name, node_group="nowhere"))
                )
                answers = await ask_both(
                    cluster.deployments, DeleteDeployment(name), DeleteDeployment(name)
                )
                assert answers == [None, None]
                assert store.get_deployment(name) is None
                assert store.deleted.count(created.id) == 1  # one teardown, not two
        unconfirmed = [
            r.getMessage() for r in caplog.records if "without confirmed" in r.getMessage()
        ]
        assert unconfirmed == []
