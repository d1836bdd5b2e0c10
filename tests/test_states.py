"""What instance states mean: one table of decisions, and the records that follow it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from symphony.conductor.deployments.instances import apply_update
from symphony.conductor.store import MIGRATIONS, InstanceRecord, Store, migrate
from symphony.spec import parse_spec
from symphony.wire import InstanceStatus, decode, encode
from symphony.wire.states import (
    DeploymentState,
    InstanceState,
    holds_capacity,
    is_final,
    is_live,
    state_lists,
)

S = InstanceState

#: Every state's answers: (live, holds capacity on a node). A new state fails this test
#: until someone decides what it means here (and so for every user of the predicates).
DECISIONS = {
    S.PENDING: (True, False),
    S.ASSIGNED: (True, True),
    S.STARTING: (True, True),
    S.RUNNING: (True, True),
    S.RESTARTING: (True, True),
    S.STOPPING: (True, True),
    S.EXITED: (False, False),
    S.FAILED: (False, False),
    S.STOPPED: (False, False),
    S.LOST: (False, False),
}


def test_states_every_instance_state_has_a_decision() -> None:
    assert set(DECISIONS) == set(InstanceState), "decide what the new state means"
    for state, (live, placed) in DECISIONS.items():
        assert (is_live(state), holds_capacity(state), is_final(state)) == (
            live,
            placed,
            not live,
        ), state
        # Plain strings (rows, JSON, msgpack) get the same answers as the members.
        assert is_live(state.value) == live and holds_capacity(state.value) == placed


def test_states_lists_served_to_the_ui_follow_the_predicates() -> None:
    lists = state_lists()
    assert lists["instance"]["states"] == [s.value for s in InstanceState]
    assert lists["instance"]["live"] == [s for s in lists["instance"]["states"] if is_live(s)]
    placed = [s for s in lists["instance"]["states"] if holds_capacity(s)]
    assert lists["instance"]["placed"] == placed
    assert lists["instance"]["final"] == [s for s in lists["instance"]["states"] if is_final(s)]
    assert lists["deployment"]["states"] == [s.value for s in DeploymentState]


def test_states_are_plain_strings_on_the_wire_and_in_json() -> None:
    status = InstanceStatus(instance_id="i", deployment_id="d", state=S.RESTARTING, restart_at=5.0)
    decoded = decode(encode(status))
    assert isinstance(decoded, InstanceStatus)
    assert decoded.state is S.RESTARTING and decoded.restart_at == 5.0
    assert f"{S.RUNNING}" == "running" and S("running") is S.RUNNING


def _record(**fields: object) -> InstanceRecord:
    base: dict = {"id": "web-0-abc", "deployment_id": "d", "replica": 0, "node_id": "n1"}
    return InstanceRecord(**{**base, **fields})  # type: ignore[arg-type]


def _status(**fields: object) -> InstanceStatus:
    base: dict = {"instance_id": "web-0-abc", "deployment_id": "d"}
    return InstanceStatus(**{**base, **fields})  # type: ignore[arg-type]


def test_states_a_run_that_ends_with_a_restart_to_follow_is_restarting() -> None:
    running = _record(state="running", pid=7, started_at=1.0)
    # The node's "exited" without `final`: the run ended, a restart may follow.
    ended_run = apply_update(running, _status(state="exited", exit_code=1, restarts=1, at=10.0))
    assert ended_run.state == S.RESTARTING and is_live(ended_run.state)
    assert ended_run.exit_code == 1 and ended_run.pid is None and ended_run.finished_at is None
    waiting = apply_update(ended_run, _status(state="restarting", restarts=1, restart_at=13.8))
    assert (waiting.state, waiting.restart_at, waiting.exit_code) == (S.RESTARTING, 13.8, 1)
    started = apply_update(waiting, _status(state="starting", restarts=1))
    assert started.state == S.STARTING and started.restart_at is None
    # "exited" on the Conductor means ended for good.
    done = apply_update(running, _status(state="exited", exit_code=0, final=True, at=20.0))
    assert done.state == S.EXITED and done.finished_at == 20.0


CONDUCTOR_SIDE = [S.PENDING, S.ASSIGNED, S.STARTING, S.RUNNING, S.RESTARTING, S.STOPPING]


@given(
    before=st.sampled_from(CONDUCTOR_SIDE),
    reported=st.sampled_from(list(InstanceState)),
    final=st.sampled_from([None, False, True]),
)
def test_states_a_record_is_live_exactly_while_it_has_no_end(
    before: InstanceState, reported: InstanceState, final: bool | None
) -> None:
    # Whatever a node says (even nonsense such as a final "running"), the state alone
    # tells whether the instance ended: every predicate user can trust it.
    after = apply_update(_record(state=before), _status(state=reported, final=final, at=5.0))
    assert is_live(after.state) == (after.finished_at is None), (before, reported, final)


def test_states_migration_turns_a_live_exited_into_restarting(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:5])  # a database written before "restarting" was stored
    with Store.open(tmp_path / "fresh.db") as fresh:  # only to get a valid spec row
        record = fresh.create_deployment(parse_spec({"name": "a", "config": {"command": ["x"]}}))
    conn.execute(
        "INSERT INTO deployments VALUES (?, 'a', ?, 'running', 1, 0, 0, NULL)",
        (record.id, fresh_spec_json(tmp_path / "fresh.db")),
    )
    for iid, finished in (("i_live", None), ("i_done", 9.0)):
        conn.execute(
            "INSERT INTO instances (id, deployment_id, replica, state, generation, finished_at, "
            "updated_at) VALUES (?, ?, 0, 'exited', 1, ?, 0)",
            (iid, record.id, finished),
        )
    conn.close()
    with Store.open(path) as store:
        states = {i.id: i.state for i in store.list_instances()}
    assert states == {"i_live": S.RESTARTING, "i_done": S.EXITED}


def fresh_spec_json(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("SELECT spec FROM deployments").fetchone()[0])
    finally:
        conn.close()


def test_states_a_version_2_node_still_speaks_and_restarts_without_a_time() -> None:
    from symphony.wire import PROTOCOL_VERSION, negotiate_version

    assert PROTOCOL_VERSION >= 3 and negotiate_version(2, 1) == 2
    running = _record(state="running", pid=7)
    # A version-2 node's restart: "restarting" with its delay only in the reason.
    old = decode(encode(_status(state="restarting", reason="restarting in 10 s", restarts=1)))
    assert isinstance(old, InstanceStatus) and old.restart_at is None
    after = apply_update(running, old)
    assert (after.state, after.restart_at, after.finished_at) == (S.RESTARTING, None, None)
