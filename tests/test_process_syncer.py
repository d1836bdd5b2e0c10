"""The node monitor's run records on disk: fsynced and deleted by a thread of its own."""

from __future__ import annotations

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
