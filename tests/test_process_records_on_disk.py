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
    assert len(dumped) == 1
    (saved,) = store.load_all()
    assert (saved.request, saved.outcome) == (request, {"exit_code": 1, "restarts": 4})
    with open(tmp_path / "instances" / "web-0.json") as f:
        text = f.read()
    assert text == json.dumps(
        {
            "instance_id": "web-0",
            "deployment_id": "d",
            "replica": None,
            "spec": request.spec.to_dict(),
            "gpus": 0,
            "devices": [],
            "final_state": None,
            "outcome": {"exit_code": 1, "restarts": 4},
        }
    )


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
