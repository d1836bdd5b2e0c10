"""Pure parts of the process layer: the job spec it runs, restart decisions, log files, /proc."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import pytest

from symphony.conductor.deployments.instances import job_spec
from symphony.node.process.joblogger import LogFile
from symphony.node.process.logcursor import LogCursor
from symphony.node.process.logfiles import check_instance_id, log_path, tail_lines
from symphony.node.process.proctree import RUN_ID_ENV, Snapshot, is_same_process, read_proc
from symphony.node.process.restart import RestartTracker
from symphony.spec import parse_spec
from symphony.wire import JobSpec, ProtocolError, job_spec_from_dict

SEED = {
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "kind": "exec",
    "config": {"command": ["python3", "main.py"], "env": {"LOG_LEVEL": "info"}},
    "restart_policy": {"type": "on-failure", "backoff_seconds": 10},
}


def _job(**fields: object) -> JobSpec:
    """The job spec the Conductor sends for a deployment spec."""
    return job_spec(parse_spec({"config": {"command": ["x"]}, **fields}))


def test_spec_seed_becomes_a_job_spec_with_documented_defaults() -> None:
    spec = job_spec(parse_spec(SEED))
    assert spec.config.command == ("python3", "main.py")
    assert dict(spec.config.env) == {"LOG_LEVEL": "info"}
    assert spec.config.cwd is None
    policy = spec.restart_policy
    assert (policy.type, policy.backoff_seconds, policy.max_backoff_seconds) == (
        "on-failure",
        10.0,
        300.0,
    )
    assert policy.reset_after_seconds == 600.0 and policy.max_restarts is None
    assert spec.signum is signal.SIGTERM and spec.stop_timeout_seconds == 10.0
    assert (spec.log_max_bytes, spec.log_backups) == (10 * 1024 * 1024, 5)
    assert spec.health_check is None


def test_spec_health_checks_and_signal_names_reach_the_job_spec() -> None:
    tcp = _job(health_check={"type": "tcp", "port": 80}).health_check
    assert tcp is not None and (tcp.host, tcp.port) == ("127.0.0.1", 80)
    http = _job(health_check={"type": "http", "url": "http://h/x"}).health_check
    assert http is not None and http.failure_threshold == 3
    probe = {"type": "exec", "command": ["true"], "period_seconds": 2}
    assert _job(health_check=probe).health_check.period_seconds == 2.0  # type: ignore[union-attr]
    assert _job(stop_signal="INT").signum is signal.SIGINT


def _frame_spec(**changes: object) -> dict[str, object]:
    data = _job().to_dict()
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = data
        for key in parents:
            target = target[key]  # type: ignore[assignment]
        target[last] = value  # type: ignore[index]
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "lambda"}, "spec.kind: must be one of 'exec', 'docker', 'podman'"),
        ({"kind": "docker"}, "spec: a docker job needs an image"),
        (
            {"kind": "podman", "config__image": "--privileged"},
            "spec.config.image: must be an image reference",
        ),
        ({"config__command": []}, "spec: an exec job needs a command"),
        ({"config__command": "python3 main.py"}, "spec.config.command: expected a list"),
        ({"config__command": ["a", 3]}, r"spec.config.command\[1\]: expected str"),
        ({"config__command": ["a\0b"]}, "without NUL"),
        ({"config__env": {"A=B": "c"}}, "spec.config.env key"),
        ({"restart_policy__type": "sometimes"}, "spec.restart_policy.type"),
        ({"restart_policy__backoff_seconds": -1}, "must be >= 0"),
        ({"restart_policy__backoff_seconds": True}, "expected float"),
        ({"restart_policy__max_backoff_seconds": 0.5}, "max_backoff_seconds must be >="),
        ({"restart_policy__backoff_seconds": float("nan")}, "finite"),
        ({"health_check": {"type": "tcp", "port": 1}}, "spec.health_check: missing required"),
        ({"stop_signal": "SIGNOPE"}, "is not a signal name"),
        ({"log_max_bytes": 10}, "spec.log_max_bytes: must be >= 4096"),
    ],
)
def test_job_spec_frames_that_break_a_rule_are_refused_by_the_decoder(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        job_spec_from_dict(_frame_spec(**changes))


def test_job_spec_tcp_check_without_host_is_refused_by_the_decoder() -> None:
    check = {
        "type": "tcp",
        "port": 80,
        "initial_delay_seconds": 0,
        "period_seconds": 1,
        "timeout_seconds": 1,
        "failure_threshold": 3,
    }
    with pytest.raises(ProtocolError, match="a tcp check needs 'host'"):
        job_spec_from_dict(_frame_spec(health_check=check))


def _tracker(**policy: object) -> RestartTracker:
    return RestartTracker(
        _job(restart_policy=policy).restart_policy, jitter=0.0, rng=random.Random(1)
    )


def test_restart_types_decide_by_exit() -> None:
    never, on_failure, always = _tracker(type="never"), _tracker(), _tracker(type="always")
    assert not never.decide(failed=True, runtime=1, now=0).restart
    assert never.decide(failed=True, runtime=1, now=0).state == "exited"
    assert on_failure.decide(failed=True, runtime=1, now=0).restart
    assert not on_failure.decide(failed=False, runtime=1, now=0).restart
    assert always.decide(failed=False, runtime=1, now=0).restart
    spawn = never.decide(failed=True, runtime=0, now=0, reason="spawn error: x", spawn_error=True)
    assert (spawn.restart, spawn.state, spawn.reason) == (False, "failed", "spawn error: x")


def test_restart_backoff_doubles_to_the_cap_and_resets_after_a_stable_run() -> None:
    tracker = _tracker(backoff_seconds=10, max_backoff_seconds=60, reset_after_seconds=600)
    delays = [tracker.decide(failed=True, runtime=1, now=i).delay for i in range(6)]
    assert delays == [10, 20, 40, 60, 60, 60]
    assert tracker.decide(failed=True, runtime=600, now=7).delay == 10  # ran stably: reset
    assert tracker.restarts == 7


def test_restart_backoff_jitter_stays_within_bounds() -> None:
    policy = _job(restart_policy={"backoff_seconds": 8, "max_backoff_seconds": 100})
    tracker = RestartTracker(policy.restart_policy)
    delays = [tracker.decide(failed=True, runtime=0, now=0).delay for _ in range(3)]
    for delay, base in zip(delays, [8, 16, 32], strict=True):
        assert 0.9 * base <= delay <= 1.1 * base
    assert len(set(delays)) == 3


def test_restart_max_restarts_within_window_fails_and_the_window_slides() -> None:
    tracker = _tracker(max_restarts=2, restart_window_seconds=100)
    assert tracker.decide(failed=True, runtime=1, now=0).restart
    assert tracker.decide(failed=True, runtime=1, now=10).restart
    third = tracker.decide(failed=True, runtime=1, now=20, reason="exit 1")
    assert (third.restart, third.state) == (False, "failed")
    assert "2 restarts within 100s" in (third.reason or "") and "exit 1" in (third.reason or "")
    assert tracker.decide(failed=True, runtime=1, now=105).restart  # t=0 left the window


def test_logfiles_rotate_by_rename_at_line_ends_keeping_the_configured_backups(tmp_path) -> None:
    path = str(tmp_path / "stdout.log")
    log = LogFile(path, max_bytes=800, backups=3)
    for round_ in range(5):
        log.write(f"round {round_}\n".encode() * 100)  # 800 bytes: fills one file exactly
    log.write(b"tail\n")
    log.close()
    assert sorted(os.listdir(tmp_path)) == [
        "stdout.log",
        "stdout.log.1",
        "stdout.log.2",
        "stdout.log.3",
        # The index of each file's line times, rotated with it (see logtimes).
        "stdout.times",
        "stdout.times.1",
        "stdout.times.2",
        "stdout.times.3",
    ]
    assert tail_lines(path, 1) == ["tail"]
    for index, round_ in ((1, 4), (2, 3), (3, 2)):  # rounds 0 and 1 fell off the end
        with open(f"{path}.{index}", "rb") as f:
            assert f.read() == f"round {round_}\n".encode() * 100


def test_logfiles_rotation_never_splits_a_line_written_in_pieces(tmp_path) -> None:
    path = str(tmp_path / "out.log")
    log = LogFile(path, max_bytes=1000, backups=50)
    data = b"".join(b"%05d %s\n" % (i, b"y" * (i % 37)) for i in range(1000))  # 24 KB
    for start in range(0, len(data), 333):  # reads end anywhere, mid-line included
        log.write(data[start : start + 333])
    log.write(b"x" * 2500)  # one line longer than a file: the only one that is cut
    log.close()
    files = [f"{path}.{i}" for i in range(50, 0, -1) if os.path.exists(f"{path}.{i}")]
    contents = [_read(name) for name in [*files, path]]
    assert b"".join(contents) == data + b"x" * 2500
    whole = [c for c in contents if b"x" not in c]
    # A file passes the limit by at most the rest of the line open when it filled.
    assert all(c.endswith(b"\n") and len(c) <= 1000 + 43 for c in whole)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_logfiles_cursor_reads_every_byte_across_renames(tmp_path) -> None:
    path = str(tmp_path / "out.log")
    log = LogFile(path, max_bytes=100, backups=3)
    log.write(b"before\n")
    cursor = LogCursor.at_end(path)
    written = b"".join(b"line %03d\n" % i for i in range(30))  # 300 bytes: 3 rotations
    log.write(written)
    first = cursor.read(1 << 20)  # the rest of the file it held, renamed since
    assert first == written[: len(first)] and 0 < len(first) < 100
    read = b"".join(iter(lambda: cursor.read(7), b""))
    assert first + read == written
    log.write(b"after\n")
    assert cursor.read(100) == b"after\n" and cursor.skipped_files == 0
    cursor.close()
    log.close()


def test_logfiles_cursor_tail_spans_backups_and_counts_a_partial_line(tmp_path) -> None:
    path = str(tmp_path / "out.log")
    with open(path + ".2", "w") as f:
        f.write("".join(f"old {i}\n" for i in range(100_000)))
    with open(path + ".1", "w") as f:
        f.write("mid\n")
    with open(path, "w") as f:
        f.write("new 0\nnew 1\npartial")
    for lines, expected in (
        (0, b""),
        (1, b"partial"),
        (3, b"new 0\nnew 1\npartial"),
        (5, b"old 99999\nmid\nnew 0\nnew 1\npartial"),
    ):
        cursor = LogCursor.tail(path, lines)
        assert b"".join(iter(lambda c=cursor: c.read(1000), b"")) == expected
        cursor.close()
    cursor = LogCursor.tail(path, 10**6)  # more than there is: everything
    assert b"".join(iter(lambda: cursor.read(1 << 20), b"")).count(b"\n") == 100_003
    cursor.close()


def test_logfiles_tail_reaches_into_backups(tmp_path) -> None:
    path = str(tmp_path / "out.log")
    with open(path + ".1", "w") as f:
        f.write("".join(f"old {i}\n" for i in range(100_000)))
    with open(path, "w") as f:
        f.write("new 0\nnew 1\npartial")
    assert tail_lines(path, 2) == ["new 1", "partial"]
    assert tail_lines(path, 5) == ["old 99998", "old 99999", "new 0", "new 1", "partial"]
    assert tail_lines(path, 0) == []
    assert tail_lines(str(tmp_path / "missing.log"), 3) == []
    with pytest.raises(ValueError, match="non-negative"):
        tail_lines(path, -1)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "x" * 129, None, 5, "a b"])
def test_logfiles_instance_id_malformed_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="instance id"):
        check_instance_id(bad)
    assert check_instance_id("web-0.a_1") == "web-0.a_1"
    with pytest.raises(ValueError, match="stream"):
        log_path("/s", "web-0", "stdin")


def test_proctree_identifies_processes_by_pid_and_start_time() -> None:
    me = read_proc(os.getpid())
    assert me is not None and me.ppid == os.getppid() and not me.zombie
    assert is_same_process(os.getpid(), me.start_ticks)
    assert not is_same_process(os.getpid(), me.start_ticks + 1)  # a reused pid is not us
    assert read_proc(2**22 + 7) is None
    snapshot = Snapshot.take()
    assert snapshot.alive(os.getpid(), me.start_ticks)
    assert os.getpid() in [p.pid for p in snapshot.descendants(me.ppid)]


def test_proctree_groups_children_by_the_run_id_in_their_environment() -> None:
    # Real children of this process: two of run "a", one of run "b", one unmarked, and a
    # zombie of run "a" (exited, not reaped), which is no member of anything.
    def child(run_id: str | None, seconds: str = "30") -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k != RUN_ID_ENV}
        if run_id is not None:
            env[RUN_ID_ENV] = run_id
        return subprocess.Popen(["sleep", seconds], env=env)

    zombie = child("a", "0")
    while (info := read_proc(zombie.pid)) is not None and not info.zombie:
        time.sleep(0.01)
    children = [child("a"), child("a"), child("b"), child(None)]
    try:
        snapshot = Snapshot.take()
        marked = snapshot.marked_children(os.getpid())
        assert sorted(marked["a"]) == sorted(p.pid for p in children[:2])
        assert marked["b"] == [children[2].pid]
        assert set(marked) == {"a", "b"}
        assert snapshot.marked_children(os.getpid()) is marked  # read once per snapshot
    finally:
        for proc in [*children, zombie]:
            proc.kill()
            proc.wait()


def test_logfiles_a_log_that_cannot_be_written_counts_its_losses_and_says_so(tmp_path) -> None:
    path = str(tmp_path / "gone" / "stdout.log")
    log = LogFile(path, max_bytes=1000, backups=1)  # its directory does not exist (yet)
    log.write(b"lost 1\nlost 2\n")  # never raises: the job's pipe must keep draining
    assert log.lost == 14
    os.mkdir(tmp_path / "gone")
    log._retry_at = 0.0  # the next retry is due (normally a second later)
    log.write(b"kept\n")
    log.close()
    assert _read(path) == b"[symphony] 14 bytes lost: the log could not be written\nkept\n"


def test_job_spec_kept_on_disk_reads_back_equal() -> None:
    # The node keeps each instance's job spec in its state directory (JSON) to adopt it
    # after an agent restart.
    job = _job(
        config={"command": ["x", "y"], "env": {"A": "1"}, "cwd": "/tmp"},
        health_check={"type": "exec", "command": ["true"]},
        restart_policy={"max_restarts": 2},
    )
    assert job_spec_from_dict(json.loads(json.dumps(job.to_dict()))) == job
