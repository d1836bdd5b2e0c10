"""Health checks of each type failing (the job is restarted) and recovering (healthy).

Each job is unhealthy on its first run and healthy from its second. The mock clock jumps
only after 250 ms of real idleness, far more than a job needs to start listening.

An exec check is part of its job: the job's environment and directory, its process
group killed whenever it ends. And checks cannot hurt the node: a floor on the period,
a pace for the whole node.
"""

from __future__ import annotations

import os
import socket
import sys

import pytest
import trio
import trio.testing

from symphony.node.process import health
from symphony.node.process.health import MIN_PERIOD, ProbePacer, probe_exec, watch_health
from symphony.wire import JobHealthCheck
from tests.jobs.harness import JOBS, Node, ended, open_node, spec, wait_real

SECRET = "s3cr3t-value"


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.25)


@pytest.fixture
async def node(tmp_path, clock):
    async with open_node(str(tmp_path / "node")) as node:
        yield node


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
    except OSError:
        return False
    return True


def _check(kind: str, port: int) -> dict:
    timing = {"period_seconds": 5, "timeout_seconds": 2, "failure_threshold": 3}
    if kind == "exec":
        return {"type": "exec", "command": ["test", "-f", "ready"], **timing}
    if kind == "http":
        return {"type": "http", "url": f"http://127.0.0.1:{port}/healthz", **timing}
    return {"type": "tcp", "port": port, **timing}


@pytest.mark.parametrize("kind", ["exec", "http", "tcp"])
async def test_health_check_failing_restarts_and_recovering_is_healthy(
    clock: trio.testing.MockClock, node: Node, kind: str
) -> None:
    port = free_port()
    if kind == "exec":
        command = ["sh", "-c", "if [ -f seen ]; then touch ready; else touch seen; fi; sleep 1000"]
    else:
        command = [sys.executable, os.path.join(JOBS, "serve.py"), str(port), kind]
    policy = {"backoff_seconds": 1}
    await node.start("svc", spec(command, health_check=_check(kind, port), restart_policy=policy))
    exited = await node.wait_for("svc", "exited")
    assert (exited.reason or "").startswith("unhealthy: ")
    assert exited.signal == "SIGTERM" or exited.exit_code not in (0, None)
    if kind != "exec":
        # A Python server starts slower than the mock clock jumps on a busy machine, and
        # its probes would fail before it listens: wait for it in real time, which keeps
        # the mock clock still (the loop is never idle long enough to jump).
        while not [u for u in node.of("svc") if u.state == "running" and u.restarts == 1]:
            await node.changed.wait()
        await wait_real(lambda: _listening(port))
    healthy = [u for u in node.of("svc") if u.health == "healthy"]
    while not healthy:
        await node.changed.wait()
        healthy = [u for u in node.of("svc") if u.health == "healthy"]
    states = node.states("svc")
    assert states[:2] == ["starting", "running"] and "restarting" in states
    # The first run turns unhealthy once. (The second may fail a probe before its
    # server listens, when a busy machine starts it slower than the mock clock jumps.)
    unhealthy = [
        u
        for u in node.of("svc")
        if u.health == "unhealthy" and u.state == "running" and u.restarts == 0
    ]
    assert len(unhealthy) == 1 and unhealthy[0].reason == exited.reason.removeprefix("unhealthy: ")
    (report,) = await node.manager.list_instances()
    assert (report.state, report.health, report.restarts) == ("running", "healthy", 1)


async def test_health_check_timeout_counts_as_failure(
    clock: trio.testing.MockClock, node: Node
) -> None:
    check = {
        "type": "exec",
        "command": ["sleep", "30"],
        "timeout_seconds": 1,
        "period_seconds": 1,
        "failure_threshold": 2,
    }
    policy = {"type": "never"}
    await node.start("slow", spec(["sleep", "1000"], health_check=check, restart_policy=policy))
    exited = await node.wait_for("slow", "exited")
    assert exited.reason == "unhealthy: exec health check timed out after 1s"


def _pids(path: str) -> list[int]:
    with open(path) as f:
        return [int(word) for word in f.read().split()]


async def test_exec_probe_runs_with_the_jobs_environment_in_its_directory(
    clock: trio.testing.MockClock, node: Node, tmp_path
) -> None:
    # Kubernetes' exec probe runs in the container: it sees what the job sees.
    node.manager.node.secrets["svc"] = {"TOKEN": SECRET}
    probe = 'env > probe-env; pwd > probe-dir; test "$GREETING" = hi'
    check = {"type": "exec", "command": ["sh", "-c", probe], "failure_threshold": 1}
    env = {"GREETING": "hi", "TOKEN": {"secret": "tok"}}
    await node.start("svc", spec(["sleep", "1000"], env=env, health_check=check))
    with trio.fail_after(60):  # mock time: without the job's env it fails, restarts
        while not any(u.health == "healthy" for u in node.of("svc")):
            await node.changed.wait()
    work = os.path.join(node.state_dir, "work", "svc")
    with open(os.path.join(work, "probe-env")) as f:
        seen = dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
    assert seen["GREETING"] == "hi" and seen["TOKEN"] == SECRET
    assert seen["SYMPHONY_INSTANCE"] == "svc" and seen["SYMPHONY_RUN_ID"].startswith("svc.")
    with open(os.path.join(work, "probe-dir")) as f:
        assert os.path.realpath(f.read().strip()) == os.path.realpath(work)


async def test_exec_probe_leaves_nothing_of_its_process_group(tmp_path) -> None:
    # A probe that exits at once, leaving a background child in its group ...
    passed = await probe_exec(
        ("sh", "-c", "sleep 1000 & echo $! > child; exit 0"), cwd=str(tmp_path)
    )
    assert passed is None
    (child,) = _pids(str(tmp_path / "child"))
    await wait_real(lambda: ended(child))
    # ... and one cut off by its timeout: both are killed with their group.
    with trio.move_on_after(0.5):
        await probe_exec(
            ("sh", "-c", "sleep 1000 & echo $! > child2; sleep 1000"), cwd=str(tmp_path)
        )
    await wait_real(lambda: os.path.exists(tmp_path / "child2"))
    (child,) = _pids(str(tmp_path / "child2"))
    await wait_real(lambda: ended(child))


async def test_exec_probe_under_way_is_killed_when_its_job_stops(
    clock: trio.testing.MockClock, node: Node
) -> None:
    probe = "echo $$ >> probes; sleep 1000 & echo $! >> probes; wait"
    check = {"type": "exec", "command": ["sh", "-c", probe], "timeout_seconds": 600}
    await node.start("svc", spec(["sleep", "1000"], health_check=check))
    probes = os.path.join(node.state_dir, "work", "svc", "probes")
    await wait_real(lambda: os.path.exists(probes) and len(_pids(probes)) == 2)
    await node.manager.stop_instance("svc")
    await node.wait_for("svc", "stopped")
    for pid in _pids(probes):
        await wait_real(lambda pid=pid: ended(pid))


async def test_probe_period_below_the_floor_probes_once_a_second(
    clock: trio.testing.MockClock,
) -> None:
    # A spec stored before the floor (or an older Conductor) may still send 1e-9. No
    # process: each probe's turn asks for its environment, which is not there (as for
    # an adopted run whose secrets have not come yet), so it is skipped; the pace is
    # the same, and with no real work the mock clock's jumps cannot shift it.
    check = JobHealthCheck(
        type="exec",
        command=("false",),
        initial_delay_seconds=0.0,
        period_seconds=1e-9,
        timeout_seconds=2.0,
        failure_threshold=3,
    )
    turns: list[float] = []

    def env() -> None:
        turns.append(trio.current_time())
        assert len(turns) <= 10, "probed more often than once a second"

    with trio.move_on_after(10 * MIN_PERIOD - 0.5):
        await watch_health(check, on_change=lambda *_: None, env=env)
    assert turns == [float(i) for i in range(10)]


async def test_probe_period_below_the_floor_waits_a_second_after_a_real_probe(
    clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same floor after a probe that ran (the test above skips every probe). The
    # probe itself is the boundary here, not what is tested: it fails at once, with no
    # socket or process whose timing a busy machine could stretch past the mock
    # clock's 250 ms. Ten failures end the watch.
    async def refused(*_: object, **__: object) -> str:
        return "tcp health check failed: connection refused"

    monkeypatch.setattr(health, "probe", refused)
    check = JobHealthCheck(
        type="tcp",
        host="127.0.0.1",
        port=1,
        initial_delay_seconds=0.0,
        period_seconds=0.2,
        timeout_seconds=0.5,
        failure_threshold=10,
    )
    reason = await watch_health(check, on_change=lambda *_: None)
    assert "failed" in reason
    assert trio.current_time() == 9 * MIN_PERIOD  # not 9 * 0.2


async def _turn(pacer: ProbePacer, starts: list[float]) -> None:
    """Wait for a turn of ``pacer``; note when it came."""
    await pacer.turn()
    starts.append(trio.current_time())


async def test_probe_pacer_spaces_a_nodes_exec_probes(clock: trio.testing.MockClock) -> None:
    pacer = ProbePacer(per_second=10)
    starts: list[float] = []
    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(_turn, pacer, starts)
    assert [round(t, 6) for t in starts] == [0.0, 0.1, 0.2, 0.3, 0.4]


async def test_probe_pacer_gives_no_turn_to_probes_cancelled_while_waiting(
    clock: trio.testing.MockClock,
) -> None:
    # 500 checks queued, then a mass stop cancels them: the next probe is not delayed
    # by their turns (it waited 10 s, 500 turns at 50 a second).
    pacer = ProbePacer()
    async with trio.open_nursery() as nursery:
        for _ in range(500):
            nursery.start_soon(pacer.turn)
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    began = trio.current_time()
    await pacer.turn()
    assert trio.current_time() - began < 2 / 50  # one gap at most (not 10 s)


async def test_probe_pacer_keeps_its_rate_when_woken_late(
    mock_clock: trio.testing.MockClock,
) -> None:
    # A busy node's loop wakes the pacer a little after each turn's time (here: the
    # clock moves 3 ms at a time). Counting each gap from the wake, 20 ms became 21 ms:
    # 47 turns a second, not 50.
    pacer = ProbePacer(per_second=50)
    starts: list[float] = []
    async with trio.open_nursery() as nursery:
        for _ in range(200):
            nursery.start_soon(_turn, pacer, starts)
        for _ in range(334):  # a little over 1 s, in steps of 3 ms
            await trio.testing.wait_all_tasks_blocked()
            mock_clock.jump(0.003)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert len([t for t in starts if t < 1.0]) == 50
