"""The drain rules of a deployment (pure): replacement first, stop once it runs, and
one instance per replica again when a node is undrained mid-move."""

from __future__ import annotations

from typing import Any

from symphony.conductor.deployments.draining import drain_moves
from symphony.conductor.deployments.retries import Retries
from symphony.conductor.store import InstanceRecord


def inst(
    iid: str, replica: int, node: str | None, state: str = "running", **kw: Any
) -> InstanceRecord:
    started = kw.pop("started_at", 1.0 if state == "running" else None)
    return InstanceRecord(iid, "d1", replica, state=state, node_id=node, started_at=started, **kw)  # type: ignore[arg-type]


def moves(
    *instances: InstanceRecord, draining: set[str], wanted: int = 2, retries: Retries | None = None
) -> Any:
    by_id = {i.id: i for i in instances}
    return drain_moves(by_id, frozenset(draining), wanted, 1, retries or Retries())


def stopped(result: Any) -> dict[str, str]:
    return {i.id: reason for i, reason in result.stops}


def test_drain_rules_nothing_draining_nothing_to_do() -> None:
    result = moves(inst("a", 0, "n1"), inst("b", 1, "n2"), draining=set())
    assert (result.replace, result.stops, result.notes) == ((), (), ())


def test_drain_rules_a_replica_on_a_draining_node_gets_a_replacement_once() -> None:
    result = moves(inst("a", 0, "n1"), inst("b", 1, "n2"), draining={"n1"})
    assert result.replace == (0,) and result.stops == ()
    assert [(i.id, text) for i, text in result.notes] == [
        ("a", "moving a off node n1: it is draining")
    ]
    # The replacement exists (pending): wait for it, create nothing more, stop nothing.
    waiting = moves(inst("a", 0, "n1"), inst("a2", 0, None, "pending"), draining={"n1"})
    assert (waiting.replace, waiting.stops, waiting.notes) == ((), (), ())
    starting = moves(inst("a", 0, "n1"), inst("a2", 0, "n2", "starting"), draining={"n1"})
    assert (starting.replace, starting.stops) == ((), ())


def test_drain_rules_the_old_copy_stops_only_once_the_replacement_runs() -> None:
    result = moves(inst("a", 0, "n1"), inst("a2", 0, "n2"), draining={"n1"})
    assert result.replace == ()
    assert stopped(result) == {"a": "moved off draining node n1 (replaced by a2)"}


def test_drain_rules_leave_alone_what_other_rules_own() -> None:
    result = moves(
        inst("s", 0, "n1", "stopping"),  # being stopped already
        inst("old", 1, "n1", generation=0),  # an old spec version: replaced anyway
        inst("extra", 5, "n1"),  # scaled away
        draining={"n1"},
    )
    assert (result.replace, result.stops) == ((), ())
    # A replica waiting to be rescheduled after a failure gets no replacement meanwhile.
    retries = Retries()
    retries.waiting.add(0)
    assert moves(inst("a", 0, "n1"), draining={"n1"}, retries=retries).replace == ()


def test_drain_rules_undrained_mid_move_keeps_the_instance_that_ran_longest() -> None:
    called_off = moves(inst("a", 0, "n1"), inst("a2", 0, None, "pending"), draining=set())
    assert stopped(called_off) == {"a2": "not needed: its node is no longer draining"}
    both_run = moves(
        inst("a", 0, "n1", started_at=10.0), inst("a2", 0, "n2", started_at=50.0), draining=set()
    )
    assert stopped(both_run) == {"a2": "not needed: its node is no longer draining"}
    # Neither runs yet: wait (never stop the only copy that might run).
    assert (
        moves(inst("a", 0, "n1", "starting"), inst("a2", 0, None, "pending"), draining=set()).stops
        == ()
    )
