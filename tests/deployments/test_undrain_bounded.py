"""An undrain waits, bounded, only on the supervisors it concerns, and is never lost.

Real actors on a virtual clock (see ``test_reschedule.py``). A supervisor that is slow
(busy with one long message, or with a full mailbox) is played by :class:`Pause`, a
message the test teaches the supervisors to sleep on: the only stand-in here, since a
real crash-looping supervisor cannot be timed.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing

from symphony.actors import ActorRef, MailboxFull
from symphony.conductor.deployments import CreateDeployment
from symphony.conductor.deployments.supervisor import DeploymentSupervisor
from symphony.conductor.nodes.model import SetDraining
from symphony.conductor.store import Store
from symphony.wire import StopInstance

from .test_reschedule import Cluster, cluster, spec
from .test_undrain_starts import one_waiting_replacement

__all__ = ["cluster"]


@dataclass(frozen=True)
class Pause:
    """Keeps a supervisor busy for ``seconds`` (virtual)."""

    seconds: float


#: Each deployment's supervisor, by deployment name (the latest run of each).
SUPERVISORS: dict[str, ActorRef] = {}


@pytest.fixture(autouse=True)
def pausable(monkeypatch: pytest.MonkeyPatch) -> None:
    handle = DeploymentSupervisor._handle
    on_start = DeploymentSupervisor.on_start

    async def _on_start(self: DeploymentSupervisor) -> None:
        SUPERVISORS[self.record.name] = self.ref
        await on_start(self)

    async def _handle(self: DeploymentSupervisor, message: Any) -> Any:
        if isinstance(message, Pause):
            await trio.sleep(message.seconds)
            return None
        return await handle(self, message)

    monkeypatch.setattr(DeploymentSupervisor, "_handle", _handle)
    monkeypatch.setattr(DeploymentSupervisor, "on_start", _on_start)


def _supervisor(name: str) -> ActorRef:
    return SUPERVISORS[name]


async def test_slow_supervisors_of_other_deployments_do_not_stall_an_undrain(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    node = await one_waiting_replacement(cluster)
    for n in range(4):  # nothing of theirs runs on the node
        await cluster.deployments.ask(CreateDeployment(spec(f"idle-{n}", desired_state="stopped")))
        await trio.testing.wait_all_tasks_blocked()
        await _supervisor(f"idle-{n}").tell(Pause(600))
    await trio.testing.wait_all_tasks_blocked()
    began = trio.current_time()
    await cluster.registry.ask(SetDraining(node, False))
    other = spec("other", capacity_requests={"Analytic1": 1}, desired_state="stopped")
    await cluster.deployments.ask(CreateDeployment(other), timeout=math.inf)
    assert trio.current_time() - began < 1, "the manager waited on unconcerned supervisors"
    await trio.testing.wait_all_tasks_blocked()
    assert len(cluster.starts()) == 2, cluster.starts()


async def test_an_undrain_reaches_a_supervisor_whose_mailbox_stays_full(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    node = await one_waiting_replacement(cluster)
    web = _supervisor("web")
    await web.tell(Pause(15))  # busy past the manager's bound, its mailbox full
    await trio.testing.wait_all_tasks_blocked()
    with pytest.raises(MailboxFull):  # filled up
        while True:
            web.tell_nowait(Pause(0))
    began = trio.current_time()
    await cluster.registry.ask(SetDraining(node, False))
    other = spec("other", desired_state="stopped")
    await cluster.deployments.ask(CreateDeployment(other), timeout=math.inf)
    # The undrain's bound (10 s), not the 15 s it took web to make room.
    assert trio.current_time() - began < 11, "the manager waited for room in a mailbox"
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    # Past the bound the Scheduler heard the node takes work again and placed the
    # replacement there; the undrain reached web all the same, which stops it.
    [(again, replacement)] = cluster.starts()[2:]
    assert again == node
    states = sorted(i["state"] for i in cluster.view("web")["instances"])
    assert states == ["running", "stopping"], states  # the undrain was heard, not lost
    stops = [c.instance_id for n, c in cluster.commands if isinstance(c, StopInstance)]
    assert stops == [replacement.instance_id], stops


async def test_the_scheduler_hears_of_an_undrain_even_when_the_store_fails(
    cluster: Cluster, autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = await one_waiting_replacement(cluster)

    def broken(self: Store, *args: Any, **kw: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Store, "list_deployments", broken)
    await cluster.registry.ask(SetDraining(node, False))
    await trio.testing.wait_all_tasks_blocked()
    monkeypatch.undo()
    # The node takes work again: the crashed manager's supervisors could not withdraw
    # the waiting replacement first, so the Scheduler places it there (then it stops).
    assert [n for n, _ in cluster.starts()[2:]] == [node], cluster.starts()
