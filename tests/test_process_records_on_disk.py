"""The node's own records on disk: the monitor's run records, fsynced and deleted by a
thread of its own; the agent's instance records."""

from __future__ import annotations

import json
import os
import time

from symphony.node.process.runstore import Run, RunStore
from symphony.node.process.syncer import Syncer


def _run(run_id: str) -> Run:
    return Run(
        run_id=run_id,
        instance_id="job",
        pid=1,
        start_ticks=0,
        started_at=time.time(),
        stdout="out",
        stderr="err",
        log_max_bytes=0,
        log_backups=0,
        grace=1.0,
        state="ended",
    )


def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_a_record_acknowledged_in_time_is_deleted_without_an_fsync(tmp_path) -> None:
    store = RunStore(str(tmp_path / "runs"))
    synced: list[list[str]] = []

    def sync(run_ids: list[str]) -> None:
        synced.append(list(run_ids))
        store.sync(run_ids)

    syncer = Syncer(sync, store.delete, delay=0.2)
    for run_id in ("acked", "kept"):
        store.save(_run(run_id), durable=False)
    syncer.submit(["acked", "kept"])
    syncer.forget("acked")  # the agent has seen its exit: the agent keeps it now
    _until(lambda: bool(synced))
    assert synced == [["kept"]]  # one batch, without the acknowledged one
    assert sorted(os.listdir(tmp_path / "runs")) == ["kept.json"]
    syncer.flush()


def test_flush_does_everything_submitted_at_once(tmp_path) -> None:
    store = RunStore(str(tmp_path / "runs"))
    synced: list[str] = []
    syncer = Syncer(lambda ids: synced.extend(ids), store.delete, delay=3600)
    store.save(_run("a"), durable=False)
    store.save(_run("b"), durable=False)
    syncer.submit(["a", "b"])
    syncer.forget("b")
    began = time.monotonic()
    syncer.flush()
    assert time.monotonic() - began < 5  # not the hour the delay allows
    assert synced == ["a"]
    assert os.listdir(tmp_path / "runs") == ["a.json"]


def test_the_agent_turns_an_instances_spec_into_json_once(tmp_path, monkeypatch) -> None:
    # A job restarted back to back has its record saved with every restart (its last
    # exit, its restarts): the spec in it does not change, and is not dumped again.
    from symphony.node.process.localstate import InstanceStore
    from symphony.node.process.records import StartRequest
    from symphony.wire import JobSpec
    from tests.jobs.harness import spec

    store = InstanceStore(str(tmp_path))
    request = StartRequest(instance_id="web-0", spec=spec(["true"]), deployment_id="d")
    dumped = []
    to_dict = JobSpec.to_dict
    monkeypatch.setattr(JobSpec, "to_dict", lambda self: dumped.append(1) or to_dict(self))
    for restarts in range(5):
        store.save(request, outcome={"exit_code": 1, "restarts": restarts})
    store.save(request, final_state="failed", outcome={"exit_code": 1, "restarts": 5})
    assert len(dumped) == 1
    (saved,) = store.load_all()
    assert (saved.request, saved.outcome) == (request, {"exit_code": 1, "restarts": 5})
    with open(tmp_path / "instances" / "records.jsonl") as f:
        text = f.read().splitlines()[-1]  # the latest line of a record is the record
    assert text == json.dumps(
        {
            "instance_id": "web-0",
            "deployment_id": "d",
            "replica": None,
            "spec": request.spec.to_dict(),
            "gpus": 0,
            "devices": [],
            "final_state": "failed",
            "outcome": {"exit_code": 1, "restarts": 5},
        }
    )


def _saved_request():
    from symphony.node.process.records import StartRequest
    from tests.jobs.harness import spec

    return StartRequest(instance_id="web-0", spec=spec(["true"]), deployment_id="d")


def test_a_restart_changes_no_directory_entry_of_the_agent(tmp_path) -> None:
    # A job crashing in a loop saves its outcome with every restart: a new file and a
    # rename each time made the agent wait for the journal of a busy disk (1-2 ms of
    # its event loop, ~0.2 ms of CPU per restart). The outcome is written in place.
    from symphony.node.process.localstate import InstanceStore

    store = InstanceStore(str(tmp_path))
    request = _saved_request()
    store.save(request)
    store.save(request, outcome={"exit_code": 1, "reason": "a long reason " * 20, "restarts": 1})
    directory = tmp_path / "instances"
    files = {p.name: p.stat().st_ino for p in directory.iterdir()}
    record_written = (directory / "records.jsonl").stat().st_mtime_ns
    for restarts in range(2, 6):
        store.save(request, outcome={"exit_code": None, "signal": "SIGKILL", "restarts": restarts})
    assert {p.name: p.stat().st_ino for p in directory.iterdir()} == files
    assert (directory / "records.jsonl").stat().st_mtime_ns == record_written
    # A shorter outcome over a longer one leaves no tail of it behind.
    (saved,) = InstanceStore(str(tmp_path)).load_all()
    assert saved.outcome == {"exit_code": None, "signal": "SIGKILL", "restarts": 5}
    assert saved.final_state is None


def test_an_instances_start_and_settling_are_one_new_directory_entry(tmp_path) -> None:
    # A burst of starts wrote each record as a temp file and a rename: two directory
    # changes per start, a quarter of the agent's CPU in a burst of 100. The record is
    # a line of the records' file; settling appends to the same file.
    from symphony.node.process.localstate import InstanceStore

    store = InstanceStore(str(tmp_path))
    request = _saved_request()
    store.save(request)
    directory = tmp_path / "instances"
    (entry,) = os.scandir(directory)
    inode = entry.inode()
    store.save(request, final_state="failed", outcome=None)
    assert [e.inode() for e in os.scandir(directory)] == [inode]
    (saved,) = InstanceStore(str(tmp_path)).load_all()
    assert (saved.request.instance_id, saved.final_state) == ("web-0", "failed")
    store.save(request)  # a shorter record over a longer one leaves no tail behind
    (saved,) = InstanceStore(str(tmp_path)).load_all()
    assert saved.final_state is None


def test_an_unreadable_outcome_file_falls_back_to_the_records_outcome(tmp_path) -> None:
    from symphony.node.process.localstate import InstanceStore

    store = InstanceStore(str(tmp_path))
    request = _saved_request()
    store.save(request, final_state="exited", outcome={"exit_code": 3, "restarts": 2})
    outcome_file = tmp_path / "instances" / "web-0.outcome"
    outcome_file.write_text('{"exit_code": 3, "rest')  # torn
    (saved,) = InstanceStore(str(tmp_path)).load_all()
    assert (saved.final_state, saved.outcome) == ("exited", {"exit_code": 3, "restarts": 2})
    store.delete("web-0")
    assert list((tmp_path / "instances").iterdir()) == []


def test_an_outcome_file_left_by_an_earlier_agent_never_outlives_a_new_record(
    tmp_path,
) -> None:
    # The outcome file is read before the record's own outcome: a record written by a
    # new agent (which has not written that file yet) must not be read back with the
    # outcome an earlier agent left in it.
    from symphony.node.process.localstate import InstanceStore

    request = _saved_request()
    InstanceStore(str(tmp_path)).save(request, outcome={"exit_code": 1, "restarts": 4})
    InstanceStore(str(tmp_path)).save(request)  # the next agent: no outcome yet
    (saved,) = InstanceStore(str(tmp_path)).load_all()
    assert saved.outcome is None


def test_a_store_named_relatively_keeps_its_records_when_the_cwd_changes(
    tmp_path, monkeypatch
) -> None:
    # The monitor changes its working directory around each spawn while its fsync
    # thread deletes records: a relative directory would point somewhere else then.
    monkeypatch.chdir(tmp_path)
    store = RunStore("runs")
    store.save(_run("a"), durable=False)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "runs").mkdir(parents=True)
    (elsewhere / "runs" / "a.json").write_text("{}")  # what a relative path would hit
    monkeypatch.chdir(elsewhere)
    store.delete("a")
    assert not (tmp_path / "runs" / "a.json").exists()
    assert (elsewhere / "runs" / "a.json").exists()


def test_a_runs_start_and_exit_are_one_new_directory_entry(tmp_path) -> None:
    # The monitor writes a run's record when it starts the run and when the run ends,
    # in its loop, before it reaps the next death: a temp file and a rename each time
    # were four directory changes per restart, each waiting for a busy disk's journal.
    store = RunStore(str(tmp_path / "runs"))
    run = _run("loop.1")
    run.state, run.meta = "running", {"restarts": {"count": 1}}
    store.save(run, durable=False)
    (entry,) = os.scandir(tmp_path / "runs")
    inode = entry.inode()
    run.state, run.signal, run.ended_at = "ended", 9, time.time()
    run.decision = {"restart": True, "next": {"run_id": "loop.2"}}
    store.save(run, durable=False)
    assert [e.inode() for e in os.scandir(tmp_path / "runs")] == [inode]
    # A shorter record over a longer one leaves no tail of it behind.
    run.decision, run.meta = None, {}
    store.save(run, durable=False)
    (loaded,) = RunStore(str(tmp_path / "runs")).load_all()
    assert loaded == run


async def test_a_first_start_creates_one_file_of_the_agent_and_an_exit_its_outcome(
    tmp_path,
) -> None:
    # A real start: accepted, then starting, then running. The outcome the supervisor
    # saves on starting says nothing yet (no exit, no restart); it used to be written to
    # a new outcome file all the same, a second new directory entry per start, 6 % of
    # the agent's CPU in a burst of 100 starts. Only the record is created; the exit's
    # outcome then goes to its file, and a new agent reads it back.
    from symphony.node.process.localstate import InstanceStore
    from tests.jobs.harness import open_node, spec

    directory = tmp_path / "instances"
    gate = tmp_path / "gate"
    command = ["sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.01; done; exit 3"]
    async with open_node(str(tmp_path)) as node:
        await node.start("web-0", spec(command, restart_policy={"type": "never"}))
        await node.wait_for("web-0", "running")
        assert sorted(os.listdir(directory)) == ["records.jsonl"]
        (saved,) = InstanceStore(str(tmp_path)).load_all()
        assert saved.outcome is None  # as the record was written on accepting it
        gate.touch()
        await node.wait_for("web-0", "exited")
        assert sorted(os.listdir(directory)) == ["records.jsonl", "web-0.outcome"]
        (saved,) = InstanceStore(str(tmp_path)).load_all()
        assert saved.final_state == "exited"
        assert saved.outcome is not None
        assert (saved.outcome["exit_code"], saved.outcome["restarts"]) == (3, 0)
