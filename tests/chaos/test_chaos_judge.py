"""The harness's judge is not blind: :func:`differences` names each broken rule.

Pure inputs (a model, an API listing, process records), no cluster: these run in
milliseconds and pin what "settled" means.
"""

from __future__ import annotations

from typing import Any

from benchmarks.chaos.model import NAME_ENV, VERSION_ENV, Deployment, Model
from benchmarks.chaos.observe import JobProcess
from benchmarks.chaos.sampler import last_line
from benchmarks.chaos.settle import differences

NODES = {"node-0": {"state": "ready"}, "node-1": {"state": "ready"}}


def model(**deployments: Deployment) -> Model:
    m = Model(tag="t")
    m.deployments.update(deployments)
    return m


def listed(name: str, replicas: int, pids: list[int], *, version: str = "0") -> dict[str, Any]:
    spec = {
        "replicas": replicas,
        "desired_state": "running",
        "config": {"env": {NAME_ENV: name, VERSION_ENV: version}},
    }
    instances = [{"replica": r, "state": "running", "pid": pid} for r, pid in enumerate(pids)]
    return {name: {"spec": spec, "instances": instances}}


def proc(pid: int, replica: int, *, name: str = "chaos-0", version: str = "0") -> JobProcess:
    return JobProcess(pid, name, replica, "node-0", version, "i", frozen=False)


def kinds(found: list[tuple[str, str]]) -> list[str]:
    return sorted(kind for kind, _ in found)


def test_chaos_judge_settled_cluster_has_no_differences() -> None:
    m = model(**{"chaos-0": Deployment("chaos-0", 2)})
    found = differences(m, listed("chaos-0", 2, [10, 11]), [proc(10, 0), proc(11, 1)], NODES, NODES)
    assert found == []


def test_chaos_judge_duplicate_replica_breaks_one_per_replica() -> None:
    m = model(**{"chaos-0": Deployment("chaos-0", 1)})
    found = differences(m, listed("chaos-0", 1, [10]), [proc(10, 0), proc(12, 0)], NODES, NODES)
    assert kinds(found) == ["one_per_replica"]


def test_chaos_judge_lost_write_and_late_delete_are_named() -> None:
    gone = Deployment("chaos-1", 1, deleted_at=1.0)
    m = model(**{"chaos-0": Deployment("chaos-0", 2), "chaos-1": gone})
    api = {**listed("chaos-0", 1, [10]), **listed("chaos-1", 1, [20])}
    procs = [proc(10, 0), proc(20, 0, name="chaos-1")]
    found = differences(m, api, procs, NODES, NODES)
    # replicas 1 != 2 (lost write), replica 1 missing (process and instance), chaos-1
    # still listed and still running.
    assert kinds(found) == [
        "converge",
        "converge",
        "deleted_gone",
        "durable_writes",
        "durable_writes",
    ]


def test_chaos_judge_old_spec_and_lost_node_do_not_converge() -> None:
    m = model(**{"chaos-0": Deployment("chaos-0", 1, version=2)})
    api = listed("chaos-0", 1, [10], version="2")
    nodes = {"node-0": {"state": "ready"}, "node-1": {"state": "lost"}}
    found = differences(m, api, [proc(10, 0, version="1")], nodes, nodes)
    assert kinds(found) == ["converge", "converge"]


def test_chaos_judge_says_why_a_process_exited(tmp_path) -> None:
    log = tmp_path / "node-0.log"
    assert last_line(log) == "(no log: No such file or directory)"
    log.write_bytes(b"")
    assert last_line(log) == "(empty log)"
    log.write_bytes(b"x" * 10_000 + b"\nsymphony: error: the node monitor \xff went\n\n")
    assert last_line(log) == "symphony: error: the node monitor \ufffd went"
