"""A job outlives the loggers and monitors killed around it, and its output is still logged.

A job's ends of its output pipes are open read-write (``joblogger._both_ways``): the job
is a reader of its own pipes, so no kill of ours costs it SIGPIPE. A new monitor takes
over the output of the runs it adopts (``process/adoptedlogs.py``): a logger of its own
takes a run nobody reads, and the runs of an earlier monitor's logger once that logger is
gone. Real node (process manager, monitor, loggers), real jobs.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import signal
import struct
import termios

import trio

from symphony.node.process import logfiles
from symphony.node.process.logrelay import LOST_LINE
from symphony.wire import StopInstance
from tests.jobs.harness import (
    ended,
    kill_logger_then_monitor,
    monitor_pid,
    open_jobs,
    open_node,
    spec,
    start_command,
    wait_real,
)
from tests.test_process_monitor_restart_order import _loggers
from tests.test_process_node_machine import log_size

TICKING = spec(["sh", "-c", "while :; do echo tick; sleep 0.05; done"])


def _pipe(pid: int, fd: int = 1) -> str:
    return os.readlink(f"/proc/{pid}/fd/{fd}")


def _readers_of(pipe: str) -> set[int]:
    """The logger processes (``symphony-log``, any parent) that hold ``pipe``."""
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as f:
                if f.read().strip() != "symphony-log":
                    continue
        except OSError:
            continue
        if pipe in _descriptors(int(name)):
            found.add(int(name))
    return found


def kill_reader_then_monitor(state_dir: str, pipe: str) -> None:
    """SIGKILL the one logger reading ``pipe``, then the node's monitor before it could
    replace that logger (:func:`~tests.jobs.harness.kill_logger_then_monitor`): the
    double fault these tests are about."""
    (logger,) = _readers_of(pipe)
    monitor = monitor_pid(state_dir)
    assert monitor is not None
    kill_logger_then_monitor(logger, monitor)


def _unread(pid: int) -> int:
    """How many bytes wait in the pipe at ``pid``'s stdout (looked at, not read)."""
    fd = os.open(f"/proc/{pid}/fd/1", os.O_RDONLY | os.O_NONBLOCK)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
    finally:
        os.close(fd)


def _log(state_dir: str, name: str) -> str:
    """The job's stdout log so far ("" before its first line: the file appears with it)."""
    try:
        with open(logfiles.log_path(state_dir, name, "stdout"), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


async def _still_logged(node, name: str, pid: int) -> None:
    """``name`` still runs as ``pid``, never ended, and its log grows by ten lines."""
    size = log_size(node.state_dir, name)
    await wait_real(
        lambda: "exited" in node.states(name) or log_size(node.state_dir, name) > size + 50,
        timeout=20,
    )
    assert set(node.states(name)) <= {"starting", "running"}
    assert {u.pid for u in node.of(name) if u.state == "running"} == {pid}
    assert os.path.exists(f"/proc/{pid}")


async def test_a_job_survives_its_monitor_and_then_its_logger_killed(tmp_path) -> None:
    """The logger killed while no monitor runs (a few ms after it): the job's writes
    wait in its pipe until the next monitor gives the run to a logger of its own."""
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node:
            await node.start("tick-0", TICKING)
            running = await node.wait_for("tick-0", "running")
            await wait_real(lambda: bool(_readers_of(_pipe(running.pid))))
            (logger,) = _readers_of(_pipe(running.pid))
            monitor = monitor_pid(node.state_dir)
            assert monitor is not None
            os.kill(monitor, signal.SIGKILL)
            os.kill(logger, signal.SIGKILL)
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            await _still_logged(node, "tick-0", running.pid)
            assert _log(node.state_dir, "tick-0").count(LOST_LINE.decode()) == 1


async def test_a_logger_of_adopted_runs_killed_is_replaced(tmp_path) -> None:
    """The monitor killed, its runs adopted by the next one while their logger still
    reads them; then that logger killed: a logger of the new monitor takes them over."""
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node:
            names = [f"tick-{i}" for i in range(3)]
            for name in names:
                await node.start(name, TICKING)
            pids = {name: (await node.wait_for(name, "running")).pid for name in names}
            monitor = monitor_pid(node.state_dir)
            assert monitor is not None
            os.kill(monitor, signal.SIGKILL)
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            await wait_real(lambda: all(len(node.states(n)) >= 3 for n in names))  # re-adopted
            old = set().union(*(_readers_of(_pipe(pid)) for pid in pids.values()))
            assert len(old) == 1  # the earlier monitor's logger, no child of the new one
            (logger,) = old
            os.kill(logger, signal.SIGKILL)
            await wait_real(
                lambda: all(LOST_LINE.decode() in _log(node.state_dir, n) for n in names),
                timeout=20,
            )
            for name in names:
                await _still_logged(node, name, pids[name])
                (reader,) = _readers_of(_pipe(pids[name]))
                assert reader != logger


async def test_a_job_survives_its_agent_monitor_and_logger_killed(tmp_path) -> None:
    """The triple fault: the agent gone, then its monitor and the logger killed. The job
    writes into its pipe meanwhile (it is the pipe's only reader); the next agent starts
    a monitor, which gives the run to a logger of its own."""
    state_dir = str(tmp_path / "node")
    with trio.fail_after(60):
        async with open_node(state_dir, keep_monitor=True) as node:
            await node.start("tick-0", TICKING)
            running = await node.wait_for("tick-0", "running")
        pid = running.pid
        await wait_real(lambda: bool(_readers_of(_pipe(pid))))
        (logger,) = _readers_of(_pipe(pid))
        monitor = monitor_pid(state_dir)
        assert monitor is not None
        os.kill(monitor, signal.SIGKILL)
        os.kill(logger, signal.SIGKILL)
        await wait_real(lambda: not _readers_of(_pipe(pid)) and ended(monitor))
        size = log_size(state_dir, "tick-0")
        # The job writes on, with no reader but itself: ten lines wait in its pipe.
        await wait_real(lambda: _unread(pid) >= 50)
        assert os.path.exists(f"/proc/{pid}") and log_size(state_dir, "tick-0") == size
        async with open_node(state_dir) as node:
            await node.manager.adopt()
            await wait_real(lambda: "running" in node.states("tick-0"))
            await _still_logged(node, "tick-0", pid)
            # What it wrote meanwhile follows the marker. The marker alone is more than
            # the 50 bytes ``_still_logged`` waits for, and on a busy machine the new
            # logger may be preempted between the two writes: wait for the lines.
            await wait_real(
                lambda: _log(state_dir, "tick-0").split(LOST_LINE.decode())[-1].count("tick") >= 10,
                timeout=20,
            )
            assert _log(state_dir, "tick-0").count(LOST_LINE.decode()) == 1


async def test_adopted_output_stays_masked(tmp_path) -> None:
    """A run taken over by a new monitor's logger has its secrets masked as before
    (their values read from the job's environment, by the names its record keeps)."""
    secret = "s3cr3t-value"
    job = spec(
        ["sh", "-c", 'while :; do echo "token=$TOKEN"; sleep 0.05; done'],
        env={"TOKEN": {"secret": "tok"}},
    )
    command = dataclasses.replace(start_command("masked-0", job), secrets={"TOKEN": secret})
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            await jobs.start(command)
            await wait_real(lambda: any(s.state.value == "running" for s in link.of("masked-0")))
            (pid,) = {s.pid for s in link.of("masked-0") if s.pid is not None}
            await wait_real(lambda: bool(_readers_of(_pipe(pid))))
            kill_reader_then_monitor(node.state_dir, _pipe(pid))
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            await wait_real(lambda: LOST_LINE.decode() in _log(node.state_dir, "masked-0"))
            size = log_size(node.state_dir, "masked-0")
            await wait_real(lambda: log_size(node.state_dir, "masked-0") > size + 50)
            text = _log(node.state_dir, "masked-0")
            assert secret not in text
            assert text.split(LOST_LINE.decode())[1].count("token=***") >= 3
            await jobs.stop(StopInstance(instance_id="masked-0", reason="done"))


def _descriptors(pid: int) -> list[str]:
    directory = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(directory)
    except OSError:  # gone
        return []
    found = []
    for fd in fds:
        try:
            found.append(os.readlink(f"{directory}/{fd}"))
        except OSError:
            continue  # the one listdir itself opened, or one closed since
    return sorted(found)


def _monitor_of(state_dir: str) -> int | None:
    """The pid of the state dir's monitor, by its command line (asking it over its
    socket would add a connection to the descriptors counted)."""
    wanted = ["--state-dir", state_dir]
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            if any(argv[i : i + 2] == wanted for i in range(len(argv))) and not ended(int(name)):
                return int(name)
    return None


def _no_more(pid: int, before: dict[str, int]) -> bool:
    """Whether ``pid`` holds no more descriptors of each kind than ``before`` (a leak
    of these runs would be tens: a transient one of the agent's may have gone)."""
    return all(n <= before.get(k, 0) for k, n in _kinds(_descriptors(pid)).items())


def _kinds(links: list[str]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for link in links:
        kind = link.split(":[")[0] if ":[" in link else "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


async def test_no_descriptor_left_after_100_runs(tmp_path) -> None:
    """100 runs end (and are forgotten), 20 of them after a takeover by a new monitor:
    the agent and the monitor hold as many descriptors as before them."""
    once = spec(["sh", "-c", "echo once"], restart_policy={"type": "never"})
    with trio.fail_after(120):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):

            async def run(names: list[str]) -> None:
                for name in names:
                    await jobs.start(start_command(name, once))
                await wait_real(lambda: all(_final(link, n) for n in names), timeout=60)
                for name in names:  # the Conductor's stop, once it has the end: forgotten
                    await jobs.stop(StopInstance(instance_id=name, reason="done"))

            await run(["warm-0"])
            monitor = _monitor_of(node.state_dir)
            assert monitor is not None
            await wait_real(lambda: not _loggers(monitor))  # the warm-up's has retired
            agent, before = _kinds(_descriptors(os.getpid())), _kinds(_descriptors(monitor))
            await run([f"once-{i}" for i in range(80)])
            await wait_real(lambda: _no_more(monitor, before))
            await wait_real(lambda: _no_more(os.getpid(), agent))
            # 20 more, adopted by a new monitor whose first logger is killed.
            names = [f"tick-{i}" for i in range(20)]
            for name in names:
                await jobs.start(start_command(name, TICKING))
            await wait_real(lambda: all(_running(link, n) for n in names), timeout=60)
            os.kill(monitor, signal.SIGKILL)
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            await wait_real(lambda: all(len(link.of(n)) >= 3 for n in names), timeout=30)
            (logger,) = _readers_of(_pipe(link.of(names[0])[-1].pid))
            os.kill(logger, signal.SIGKILL)
            await wait_real(
                lambda: all(LOST_LINE.decode() in _log(node.state_dir, n) for n in names),
                timeout=20,
            )
            for name in names:
                await jobs.stop(StopInstance(instance_id=name, reason="done"))
            await wait_real(lambda: all(_final(link, n) for n in names), timeout=30)
            monitor = _monitor_of(node.state_dir)
            assert monitor is not None
            await wait_real(lambda: not _loggers(monitor))
            await wait_real(lambda: _no_more(monitor, before))  # a new monitor, the same
            await wait_real(lambda: _no_more(os.getpid(), agent))


def _running(link, name: str) -> bool:
    return any(s.state.value == "running" for s in link.of(name))


def _final(link, name: str) -> bool:
    statuses = link.of(name)
    return bool(statuses) and statuses[-1].final
