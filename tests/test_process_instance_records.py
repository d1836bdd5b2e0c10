"""The agent's instance records: lines of one file, not a file per instance."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

from symphony.node.process.localstate import InstanceStore
from symphony.node.process.recordlog import RECORDS_FILE, RecordLog, read_lines
from symphony.node.process.records import StartRequest
from tests.jobs.harness import spec


def _request(instance_id: str) -> StartRequest:
    return StartRequest(instance_id=instance_id, spec=spec(["true"]), deployment_id="d")


def test_a_burst_of_starts_creates_one_file_of_the_agent_not_one_per_instance(
    tmp_path,
) -> None:
    # A file per record was a file creation per start: on this file system about 15 %
    # of the agent's CPU in a burst of 100 starts. The records are lines of one file.
    store = InstanceStore(str(tmp_path))
    for i in range(50):
        store.save(_request(f"web-{i}"))
    directory = tmp_path / "instances"
    assert os.listdir(directory) == [RECORDS_FILE]
    store.save(_request("web-7"), final_state="exited", outcome={"exit_code": 2, "restarts": 0})
    # The next agent reads them all back, the later line of an instance winning.
    saved = {s.request.instance_id: s for s in InstanceStore(str(tmp_path)).load_all()}
    assert sorted(saved) == sorted(f"web-{i}" for i in range(50))
    assert saved["web-7"].final_state == "exited"
    assert saved["web-7"].outcome == {"exit_code": 2, "restarts": 0}
    assert saved["web-8"].request == _request("web-8")
    for i in range(50):
        store.delete(f"web-{i}")
        if i == 10:  # a deleted record is not read back
            left = {s.request.instance_id for s in InstanceStore(str(tmp_path)).load_all()}
            assert left == {f"web-{j}" for j in range(11, 50)}
    assert os.listdir(directory) == []  # a node that runs nothing has no file


def test_the_records_file_is_rewritten_without_its_dead_lines(tmp_path) -> None:
    path = str(tmp_path / RECORDS_FILE)
    log = RecordLog(path, key="instance_id", compact_floor=1000)
    for i in range(200):  # one record settled again and again, another kept
        log.put("a", json.dumps({"instance_id": "a", "n": i}).encode())
        if i == 0:
            log.put("b", json.dumps({"instance_id": "b", "n": 0}).encode())
    assert os.path.getsize(path) < 2500  # not 200 lines of "a"
    log.put("c", json.dumps({"instance_id": "c"}).encode())
    log.drop("c")
    again = RecordLog(path, key="instance_id")
    assert "a" in again and "b" in again and "c" not in again
    with open(path) as f:
        lines = [json.loads(line) for line in f]
    latest = {line["instance_id"]: line for line in lines if not line.get("deleted")}
    assert latest["a"] == {"instance_id": "a", "n": 199}
    assert not os.path.exists(f"{path}.tmp")


def test_a_torn_last_line_is_skipped_and_never_glued_to_the_next(tmp_path) -> None:
    # A crash of the machine can leave a line cut short: a reader skips it, and the
    # next agent rewrites the file before it appends, so its record stays whole.
    store = InstanceStore(str(tmp_path))
    store.save(_request("web-0"))
    path = tmp_path / "instances" / RECORDS_FILE
    with open(path, "ab") as f:
        f.write(b'{"instance_id": "web-1", "spec": {"ki')
    assert [s.request.instance_id for s in InstanceStore(str(tmp_path)).load_all()] == ["web-0"]
    InstanceStore(str(tmp_path)).save(_request("web-2"))
    ids = [s.request.instance_id for s in InstanceStore(str(tmp_path)).load_all()]
    assert ids == ["web-0", "web-2"]


_CUT_SHORT = """
import os, resource, signal, sys
from symphony.node.process.recordlog import RecordLog

log = RecordLog(sys.argv[1], key="id")
log.put("a", b'{"id": "a"}')
# A file that may grow only 10 more bytes: the next line is written in part, then the
# write fails (EFBIG), as on a full disk.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(sys.argv[1]) + 10, hard))
try:
    log.put("b", b'{"id": "b", "pad": "' + b"x" * 100 + b'"}')
except OSError:
    pass
else:
    sys.exit("the write was not cut short")
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
log.put("c", b'{"id": "c"}')
"""


def test_a_line_cut_short_by_a_failed_write_is_not_glued_to_the_next(tmp_path) -> None:
    """A real partial write (a file size limit, as a full disk does): the next record
    is written after a rewrite, not glued to the cut line, so both it and the earlier
    ones read back."""
    path = tmp_path / RECORDS_FILE
    run = subprocess.run([sys.executable, "-c", _CUT_SHORT, str(path)], capture_output=True)
    assert run.returncode == 0, run.stderr.decode()
    assert sorted(read_lines(str(path), "id")) == ["a", "c"]


def test_an_earlier_agents_record_files_are_read_and_deleted(tmp_path) -> None:
    # An agent before this one wrote <instance_id>.json per instance: after an upgrade
    # its instances are adopted from them, and deleting an instance removes its file.
    directory = tmp_path / "instances"
    directory.mkdir()
    old = _request("old-0")
    record = {
        "instance_id": "old-0",
        "deployment_id": "d",
        "replica": None,
        "spec": old.spec.to_dict(),
        "gpus": 0,
        "devices": [],
        "final_state": None,
        "outcome": None,
    }
    (directory / "old-0.json").write_text(json.dumps(record))
    store = InstanceStore(str(tmp_path))
    store.save(_request("new-0"))
    saved = {s.request.instance_id: s.request for s in store.load_all()}
    assert saved == {"old-0": old, "new-0": _request("new-0")}
    store.save(old, final_state="exited")  # a record in the new file wins
    (settled,) = [s for s in InstanceStore(str(tmp_path)).load_all() if s.request == old]
    assert settled.final_state == "exited"
    store.delete("old-0")
    store.delete("new-0")
    assert os.listdir(directory) == []


def test_the_records_file_reads_back_as_written_through_many_rewrites(tmp_path) -> None:
    # Puts, re-puts and drops in a fixed pseudo-random order, with a floor small enough
    # to rewrite the file often: what a new reader finds is what was last written.
    rng = random.Random(24)
    path = str(tmp_path / RECORDS_FILE)
    log = RecordLog(path, key="instance_id", compact_floor=300)
    expected: dict[str, dict[str, object]] = {}
    for step in range(2000):
        name = f"i-{rng.randrange(30)}"
        if rng.random() < 0.3:
            log.drop(name)
            expected.pop(name, None)
        else:
            record = {"instance_id": name, "step": step, "pad": "x" * rng.randrange(80)}
            log.put(name, json.dumps(record).encode())
            expected[name] = record
        if step % 250 == 0:
            lines = RecordLog(path, key="instance_id")
            assert all(name in lines for name in expected)
    found = {name: json.loads(line) for name, line in read_lines(path, "instance_id").items()}
    assert found == expected
    assert (
        os.path.getsize(path)
        <= 2 * max(300, sum(len(json.dumps(r)) + 1 for r in expected.values())) + 200
    )


def test_an_instance_record_is_known_without_reading_the_files(tmp_path) -> None:
    """``InstanceStore.has`` answers from memory and one ``stat``: the link's command
    loop asks it for a stop, where a read of every record held it up (and an error,
    out of descriptors say, ended the link)."""
    store = InstanceStore(str(tmp_path))
    request = StartRequest(instance_id="i-1", spec=spec(["true"]))
    assert not store.has("i-1")
    store.save(request)
    assert store.has("i-1")
    assert InstanceStore(str(tmp_path)).has("i-1")  # a later agent's, from the file
    store.delete("i-1")
    assert not store.has("i-1") and not InstanceStore(str(tmp_path)).has("i-1")
    # An earlier agent's record file of its own.
    with open(os.path.join(store.directory, "i-2.json"), "w") as f:
        f.write("{}")
    assert store.has("i-2")
