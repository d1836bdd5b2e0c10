"""A node monitor with no live job and no agent exits on its own after a grace period.

Jobs outlive their agent because the monitor does; a monitor with none, once its agent
has gone (killed, or ``symphony up`` stopped uncleanly), was a stray process for good.
Now it exits after ``IDLE_EXIT`` seconds (a minute in the product; shortened here by
starting the monitor with the module's constant changed, as other monitor tests do with
theirs), taking its socket and letting its lock go, so the next agent starts a fresh one.

Real monitor processes; raw connections, or the agent's own client, stand in for the
agent. The grace runs in real time (the monitor is not Trio code): each test waits at
most a few graces.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import trio

from benchmarks._monitor_socket import connect_monitor
from symphony.node.process.client import MonitorClient, monitor_alive
from symphony.node.process.monitorfiles import LOCK_NAME, SOCKET_NAME
from tests.jobs.harness import monitor_request, wait_real

GRACE = 0.5
_QUICK_MONITOR = (
    "import sys; from symphony.node.process import monitor_server as server; "
    f"server.IDLE_EXIT = {GRACE}; sys.exit(server.main(sys.argv[1:]))"
)


def _start(state_dir: str, script: str = _QUICK_MONITOR) -> subprocess.Popen[bytes]:
    """A monitor (with the short grace) for ``state_dir``, once it serves."""
    monitor = subprocess.Popen(
        [sys.executable, "-c", script, "--state-dir", state_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert monitor.stdout is not None and monitor.stdout.readline() == b"ready\n"
    return monitor


def _exited(monitor: subprocess.Popen[bytes]) -> bytes:
    """Wait for the monitor to exit on its own (status 0); what it said on stderr."""
    _, stderr = monitor.communicate(timeout=10 + GRACE)
    assert monitor.returncode == 0, stderr
    return stderr


def _gone_cleanly(state_dir: str) -> None:
    assert not os.path.exists(os.path.join(state_dir, SOCKET_NAME))
    assert not monitor_alive(state_dir)  # its lock is free


async def _fresh_agent_sees(state_dir: str) -> list[dict]:
    """What an agent starting now finds: it starts a monitor of its own (the product's
    daemon) and says hello; that monitor is shut down after."""
    async with trio.open_nursery() as nursery:
        client: MonitorClient = await nursery.start(MonitorClient(state_dir).run)
        runs: list[dict] = (await client.request("hello"))["runs"]
        await client.shutdown(kill_jobs=True)
    return runs


async def test_a_monitor_with_no_job_and_no_agent_exits_after_the_grace(tmp_path: Path) -> None:
    state_dir = str(tmp_path / "node")
    monitor = _start(state_dir)
    assert monitor_request(state_dir, {"op": "stats"})["runs"] == 0  # an agent came and went
    left = time.monotonic()
    stderr = _exited(monitor)
    assert time.monotonic() - left >= GRACE * 0.9  # the grace counts from the last agent
    assert b"no job and no agent" in stderr
    _gone_cleanly(state_dir)
    assert await _fresh_agent_sees(state_dir) == []  # no error, no stale socket in its way


async def test_a_monitor_keeps_its_job_past_the_grace_then_exits_once_it_ended(
    tmp_path: Path,
) -> None:
    """The run outlives the grace four times over and is recorded by this monitor (an
    exit code: a monitor gone before it ended would leave an unknown exit); the ended
    run, never acknowledged, is on disk for the next agent."""
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    monitor = _start(state_dir)
    request = {
        "op": "spawn",
        "run_id": "job.first",
        "instance_id": "job",
        "command": ["sh", "-c", f"sleep {GRACE * 4}; exit 3"],
        "env": {"PATH": os.defpath},
        "cwd": str(work),
    }
    spawned = time.monotonic()
    assert monitor_request(state_dir, request)["ok"]
    _exited(monitor)
    assert time.monotonic() - spawned >= GRACE * 5 * 0.9
    _gone_cleanly(state_dir)
    [run] = await _fresh_agent_sees(state_dir)
    assert (run["run_id"], run["state"], run["exit_code"], run["reason"]) == (
        "job.first",
        "ended",
        3,
        None,
    )


def test_a_connected_agent_keeps_the_monitor(tmp_path: Path) -> None:
    state_dir = str(tmp_path / "node")
    monitor = _start(state_dir)
    with connect_monitor(state_dir, timeout=GRACE * 4) as agent:
        with pytest.raises(TimeoutError):  # four graces without the monitor hanging up
            agent.recv(1)
        assert monitor.poll() is None
    _exited(monitor)  # once the agent has gone
    _gone_cleanly(state_dir)


# The quick monitor, its retirement held at its start until the test says go: the test
# connects while the monitor is committed to exit, before it removed its socket.
_HELD_RETIRE = """
import os, sys, time
from symphony.node.process import monitor_server as server
server.IDLE_EXIT = {grace}
retire = server.MonitorServer._retire
def held_retire(self):
    open({retiring!r}, "w").close()
    while not os.path.exists({go!r}):
        time.sleep(0.01)
    os.unlink({go!r})
    os.unlink({retiring!r})
    return retire(self)
server.MonitorServer._retire = held_retire
sys.exit(server.main(sys.argv[1:]))
"""


def test_an_agent_connecting_as_the_grace_ends_is_served(tmp_path: Path) -> None:
    """The agent's connection is made once the grace is over, as the monitor retires
    (its connection waits, not yet accepted, when the socket goes): the monitor takes
    it from the queue and serves it, rather than hang up on it and exit."""
    state_dir = str(tmp_path / "node")
    retiring, go = tmp_path / "retiring", tmp_path / "go"
    script = _HELD_RETIRE.format(grace=GRACE, retiring=str(retiring), go=str(go))
    monitor = _start(state_dir, script)
    try:
        deadline = time.monotonic() + 10 + GRACE
        while not retiring.exists():
            assert time.monotonic() < deadline and monitor.poll() is None
            time.sleep(0.01)
        with connect_monitor(state_dir, timeout=10) as agent:
            go.touch()
            agent.sendall(b'{"id": 1, "op": "stats"}\n')
            assert b'"ok": true' in agent.recv(65536)
            assert monitor.poll() is None
        go.touch()  # the next retirement, once this agent has gone, goes ahead
        _exited(monitor)
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait()
    _gone_cleanly(state_dir)


async def test_a_monitor_started_while_the_last_one_exits_waits_for_it(tmp_path: Path) -> None:
    """An agent that starts just after an idle monitor removed its socket, before it let
    go of its lock, starts a monitor that must wait for that lock rather than give up.

    The test holds the lock itself, as the exiting monitor would, and lets go of it once
    the new monitor is there (it has the lock file open)."""
    state = tmp_path / "node"
    state.mkdir(mode=0o700)
    lock = os.open(state / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)

    def new_monitor_waits() -> bool:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            if proc.pid != os.getpid() and str(state) in " ".join(proc.info["cmdline"] or ()):
                try:
                    if any(f.path == str(state / LOCK_NAME) for f in proc.open_files()):
                        return True
                except psutil.Error:
                    continue
        return False

    async def exit_last_monitor() -> None:
        await wait_real(new_monitor_waits)
        os.close(lock)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(exit_last_monitor)
        assert await _fresh_agent_sees(str(state)) == []


def test_a_monitor_whose_starter_went_while_it_waited_for_the_lock_exits_cleanly(
    tmp_path: Path,
) -> None:
    """The agent's start of a monitor is cancelled (the agent stopped, ``symphony up``
    interrupted) while the new monitor waits for the exiting one's lock: the process
    that was to hear ``ok`` is gone, its end of the pipe closed. No agent wants this
    monitor and it has no job: it exits at once, its socket removed and its lock let
    go. It used to die on that write, its socket left behind, bound and dead; serving
    instead left a monitor no one had asked for beside an interrupted ``up``."""
    state = tmp_path / "node"
    state.mkdir(mode=0o700)
    lock = os.open(state / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as the exiting monitor would
    script = (
        "import sys; from symphony.node.process import monitor_server as server, monitorstart; "
        "monitorstart.LOCK_WAIT = 60.0; sys.exit(server.main(sys.argv[1:]))"
    )
    starter = subprocess.Popen(
        [sys.executable, "-c", script, "--state-dir", str(state), "--daemon"],
        stdin=subprocess.DEVNULL,
    )
    monitor: psutil.Process | None = None
    try:
        deadline = time.monotonic() + 20
        while monitor is None:  # the daemon, forked from the starter, waiting for the lock
            assert time.monotonic() < deadline and starter.poll() is None
            for child in psutil.Process(starter.pid).children():
                with contextlib.suppress(psutil.Error):
                    if any(f.path == str(state / LOCK_NAME) for f in child.open_files()):
                        monitor = child
            time.sleep(0.01)
        starter.kill()  # the agent's start cancelled: nobody reads the pipe any more
        starter.wait()
        os.close(lock)
        lock = -1
        with contextlib.suppress(psutil.NoSuchProcess):
            # not wait(): whoever reaps it now is not us
            while monitor.is_running() and monitor.status() != psutil.STATUS_ZOMBIE:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        assert "no job and no agent for 0 s" in (state / "monitor.log").read_text()
    finally:
        if lock != -1:
            os.close(lock)
        starter.kill()
        if monitor is not None and monitor.is_running():
            monitor.kill()
    _gone_cleanly(str(state))
