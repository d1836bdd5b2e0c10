"""The monitor's run records: a deleted record's file holds the next record.

On ext4, creating a file after many deletions searches past the inodes freed recently,
about a third of the node monitor's CPU in bursts of starts. A record that is deleted
(its run's end acknowledged) becomes a spare file, and a new record is written into a
spare and renamed to its name: the next burst's records are the same inodes.
"""

from __future__ import annotations

import json
import os

from symphony.node.process.runstore import Run, RunStore
from tests.test_process_records_on_disk import _run as _record


def _run(run_id: str, reason: str | None = None) -> Run:
    run = _record(run_id)
    run.reason = reason
    return run


def _inodes(directory: str) -> set[int]:
    return {os.stat(os.path.join(directory, name)).st_ino for name in os.listdir(directory)}


def test_the_next_records_are_written_into_the_deleted_ones_files(tmp_path) -> None:
    runs = str(tmp_path / "runs")
    store = RunStore(runs)
    for run_id in ("a", "b"):
        store.save(_run(run_id, reason="a long reason " * 20), durable=False)
    before = _inodes(runs)
    for run_id in ("a", "b"):
        store.delete(run_id)
    assert os.listdir(runs) == []  # no reader of the records sees a spare
    assert _inodes(runs + ".spare") == before  # kept, not deleted
    fresh = [_run("c"), _run("d", reason="short")]
    for run in fresh:
        store.save(run, durable=False)
    assert sorted(os.listdir(runs)) == ["c.json", "d.json"]
    assert _inodes(runs) == before  # no file created
    assert os.listdir(runs + ".spare") == []
    # Written whole over the longer records they replace (padded, still JSON).
    assert sorted(store.load_all(), key=lambda r: r.run_id) == fresh
    for run in fresh:
        with open(os.path.join(runs, f"{run.run_id}.json")) as f:
            assert json.load(f) == run.public()


def test_a_record_written_again_stays_in_its_own_file(tmp_path) -> None:
    runs = str(tmp_path / "runs")
    store = RunStore(runs)
    store.save(_run("old"), durable=False)
    (inode,) = _inodes(runs)
    store.delete("old")
    run = _run("live")
    store.save(run, durable=False)  # its start: into the spare
    assert os.listdir(runs + ".spare") == []
    run.exit_code = 3
    store.save(run, durable=False)  # its exit: in place, not a spare taken again
    assert _inodes(runs) == {inode}
    assert store.load_all() == [run]


def test_spares_are_bounded_and_taken_over_by_the_next_monitor(tmp_path, monkeypatch) -> None:
    from symphony.node.process import spares

    monkeypatch.setattr(spares, "SPARES_KEPT", 2)
    runs = str(tmp_path / "runs")
    store = RunStore(runs)
    for run_id in ("a", "b", "c"):
        store.save(_run(run_id), durable=False)
    for run_id in ("a", "b", "c"):
        store.delete(run_id)
    assert os.listdir(runs) == []
    kept = _inodes(runs + ".spare")
    assert len(kept) == 2  # the third was deleted
    # A monitor started later (a new store on the same directory) uses them.
    later = RunStore(runs)
    for run_id in ("d", "e", "f"):
        later.save(_run(run_id), durable=False)
    assert sorted(os.listdir(runs)) == ["d.json", "e.json", "f.json"]
    assert kept < _inodes(runs)
    assert os.listdir(runs + ".spare") == []


def test_a_record_under_another_runs_name_is_deleted_at_load(tmp_path) -> None:
    """After a machine crash, a spare renamed to a new record's name may still hold its
    old text (nothing fsyncs it): an acknowledged run's record. Loaded as it is, that
    run's old end would be reported again by every later monitor, and its file, which
    the run's own acknowledgement never names, would never be deleted."""
    runs = str(tmp_path / "runs")
    RunStore(runs).save(_run("old"), durable=False)
    os.rename(os.path.join(runs, "old.json"), os.path.join(runs, "new.json"))
    RunStore(runs).save(_run("kept"), durable=False)
    assert [run.run_id for run in RunStore(runs).load_all()] == ["kept"]
    assert os.listdir(runs) == ["kept.json"]
