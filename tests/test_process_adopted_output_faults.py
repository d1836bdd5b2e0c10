"""What a new monitor does with adopted runs' output it cannot take over safely.

The defects a review of ``process/adoptedlogs.py`` found, each pinned with real node
processes and real jobs, as in ``tests/test_process_adopted_output.py``.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from typing import TYPE_CHECKING

import trio

from symphony.node.process.logrelay import LOST_LINE
from symphony.node.process.takeover import UNTAKEN
from symphony.wire import StopInstance
from tests.jobs.harness import monitor_pid, open_jobs, open_node, spec, start_command, wait_real
from tests.test_process_adopted_output import (
    _log,
    _pipe,
    _readers_of,
    _unread,
    kill_reader_then_monitor,
)
from tests.test_process_node_machine import log_size

if TYPE_CHECKING:
    from symphony.node.jobs import ProcessJobs
    from symphony.wire import StartInstance
    from tests.jobs.harness import LinkDouble

SECRET = "s3cr3t-value"


def _unread_or_gone(pid: int) -> int:
    """What waits unread in ``pid``'s stdout pipe; a lot if ``pid`` is gone."""
    try:
        return _unread(pid)
    except OSError:
        return 1 << 30


async def _started(jobs: ProcessJobs, link: LinkDouble, command: StartInstance) -> int:
    """Start ``command``'s instance; the pid of its run, once it runs."""
    name = command.instance_id
    await jobs.start(command)
    await wait_real(lambda: any(s.state.value == "running" for s in link.of(name)))
    (pid,) = {s.pid for s in link.of(name) if s.pid is not None}
    return pid


# The job re-exports its secret before exec: its environment no longer holds the value.
REEXPORTED = spec(
    [
        "sh",
        "-c",
        'export TOKEN="Bearer $TOKEN"; exec sh -c \'while :; do echo "bare=${TOKEN#Bearer }";'
        " sleep 0.05; done'",
    ],
    env={"TOKEN": {"secret": "tok"}},
)


async def test_a_secret_reexported_before_exec_is_never_written_unmasked(tmp_path) -> None:
    """The leader's environment holds "Bearer <secret>" under the secret's name: a new
    monitor must not mask that instead of the secret (the bare value would go unmasked)."""
    command = dataclasses.replace(start_command("bearer-0", REEXPORTED), secrets={"TOKEN": SECRET})
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            pid = await _started(jobs, link, command)
            await wait_real(lambda: bool(_readers_of(_pipe(pid))))
            await wait_real(lambda: "bare=***" in _log(node.state_dir, "bearer-0"))
            kill_reader_then_monitor(node.state_dir, _pipe(pid))
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            size = log_size(node.state_dir, "bearer-0")
            # Either a logger took the run over (and writes), or its output waits unread.
            await wait_real(
                lambda: (
                    log_size(node.state_dir, "bearer-0") > size + 100 or _unread_or_gone(pid) > 2000
                ),
                timeout=20,
            )
            assert SECRET not in _log(node.state_dir, "bearer-0")


# A stand-in for an earlier monitor's logger: named as one, holding the job's stdout pipe
# (never reading it), while a thread opens and closes descriptors all the time, as a
# busy logger does: a scan of its descriptors sees some of them gone before it reads them.
_CHURNING_READER = """
import ctypes, os, sys, threading
ctypes.CDLL(None).prctl(15, b"symphony-log", 0, 0, 0)
held = os.open(f"/proc/{sys.argv[1]}/fd/1", os.O_RDONLY | os.O_NONBLOCK)
def churn():
    while True:
        for fd in reversed([os.dup(held) for _ in range(900)]):
            os.close(fd)
threading.Thread(target=churn, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""
CHATTY = spec(["sh", "-c", "while :; do echo tick-tick-tick-tick-tick-tick-tick; sleep 0.01; done"])


async def test_a_reader_whose_descriptors_change_is_not_given_a_second_reader(
    tmp_path,
) -> None:
    """A logger of an earlier monitor whose descriptors open and close while the new
    monitor scans them is still found as the reader: no logger of ours reads the same
    pipe beside it (lines out of order, two rotators)."""
    import subprocess
    import sys

    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node:
            await node.start("chatty-0", CHATTY)
            pid = (await node.wait_for("chatty-0", "running")).pid
            await wait_real(lambda: bool(_readers_of(_pipe(pid))))
            (logger,) = _readers_of(_pipe(pid))
            fake = subprocess.Popen(
                [sys.executable, "-c", _CHURNING_READER, str(pid)], stdout=subprocess.PIPE
            )
            try:
                assert fake.stdout is not None and fake.stdout.readline() == b"ready\n"
                monitor = monitor_pid(node.state_dir)
                assert monitor is not None
                os.kill(monitor, signal.SIGKILL)
                os.kill(logger, signal.SIGKILL)
                await wait_real(lambda: node.manager.monitors_replaced >= 1)
                await wait_real(lambda: len(node.states("chatty-0")) >= 3)  # re-adopted
                # Nobody but the stand-in reads: the output piles up in the pipe.
                await wait_real(
                    lambda: len(_readers_of(_pipe(pid))) > 1 or _unread(pid) > 16384, timeout=20
                )
                assert _readers_of(_pipe(pid)) == {fake.pid}
            finally:
                fake.kill()
                fake.wait()
                fake.stdout.close()


async def test_a_run_nobody_can_read_is_stopped_and_restarted(tmp_path) -> None:
    """An adopted run whose output no logger reads and none of ours can take (its
    secret cannot be verified) is stopped with a reason in words, and its restart
    policy restarts it (its job used to wait for ever once its pipe was full)."""
    command = dataclasses.replace(start_command("bearer-0", REEXPORTED), secrets={"TOKEN": SECRET})
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            pid = await _started(jobs, link, command)
            await wait_real(lambda: bool(_readers_of(_pipe(pid))))
            kill_reader_then_monitor(node.state_dir, _pipe(pid))
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            await wait_real(
                lambda: any(s.state.value == "exited" for s in link.of("bearer-0")), timeout=30
            )
            (exited,) = [s for s in link.of("bearer-0") if s.state.value == "exited"]
            assert exited.reason == UNTAKEN
            await wait_real(
                lambda: any(s.pid not in (None, pid) for s in link.of("bearer-0")), timeout=30
            )
            size = log_size(node.state_dir, "bearer-0")
            await wait_real(lambda: log_size(node.state_dir, "bearer-0") > size + 50)
            text = _log(node.state_dir, "bearer-0")
            assert SECRET not in text and text.count("bare=***") >= 5
            await jobs.stop(StopInstance(instance_id="bearer-0", reason="done"))


def test_a_reader_with_a_recycled_pid_leaves_our_logger_alone() -> None:
    """An earlier monitor's logger is gone and its pid now is a logger of ours: losing
    the one (or its last run ending) must not forget the other (real forked loggers)."""
    from symphony.node.process.logpool import LoggerPool
    from symphony.node.process.logrelay import target_of

    pool = LoggerPool({})
    ours = pool._fork()
    pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(2)]
    try:
        target = target_of("/nonexistent", 1024, 1, ())
        for lost in (True, False):
            reader = pool.reader(ours.pid)  # the dead logger's pid, recycled
            readers = (os.dup(pipes[0][0]), os.dup(pipes[1][0]))
            pool.adopt("run-1", target, readers, reader, "/nonexistent")
            if lost:
                assert pool.lost(reader)
            pool.release("run-1")
            assert pool.open.get(ours.pid) is ours
    finally:
        for logger in list(pool.open.values()):
            pool._retire(logger)
        for read, write in pipes:
            os.close(read)
            os.close(write)
        for pid in pool.pids():
            os.waitpid(pid, 0)


# The job moves its stdout (our pipe) to another descriptor and puts at 1 a pipe of its
# own, opened read-write as ours are: only ours is the node's to read.
_MOVED = """
import os, time
ours = os.dup(1)
own_r, own_w = os.pipe()
os.dup2(os.open(f"/proc/self/fd/{own_w}", os.O_RDWR), 1)
while True:
    os.write(ours, b"tick\\n")
    os.write(1, b"private\\n")
    time.sleep(0.05)
"""


async def test_only_the_runs_own_pipes_are_taken_over(tmp_path) -> None:
    """A new monitor reads the pipes the run was given, wherever the job moved them, and
    no other pipe it finds at descriptor 1 (before, it read the job's own pipe there)."""
    import sys

    job = spec([sys.executable, "-c", _MOVED])
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node:
            await node.start("moved-0", job)
            pid = (await node.wait_for("moved-0", "running")).pid
            await wait_real(lambda: log_size(node.state_dir, "moved-0") > 10)
            kill_reader_then_monitor(node.state_dir, _pipe(pid, 2))
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            await wait_real(lambda: LOST_LINE.decode() in _log(node.state_dir, "moved-0"))
            size = log_size(node.state_dir, "moved-0")
            await wait_real(lambda: log_size(node.state_dir, "moved-0") > size + 50)
            text = _log(node.state_dir, "moved-0")
            assert "private" not in text
            assert text.split(LOST_LINE.decode())[1].count("tick") >= 10


async def test_a_run_with_secrets_too_many_to_send_is_taken_over_by_a_forked_logger(
    tmp_path,
) -> None:
    """An adopted run whose secrets are over 64 KiB (too many to send to a shared
    logger) gets a logger of its own, forked with them, not a stop."""
    names = [f"S{i}" for i in range(20)]
    secrets = {name: f"{name}-" + os.urandom(2000).hex() for name in names}
    job = spec(
        ["sh", "-c", 'while :; do echo "v=$S0"; sleep 0.05; done'],
        env={name: {"secret": name.lower()} for name in names},
    )
    command = dataclasses.replace(start_command("many-0", job), secrets=secrets)
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            pid = await _started(jobs, link, command)
            await wait_real(lambda: log_size(node.state_dir, "many-0") > 10)
            kill_reader_then_monitor(node.state_dir, _pipe(pid))
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            await wait_real(lambda: LOST_LINE.decode() in _log(node.state_dir, "many-0"), 20)
            size = log_size(node.state_dir, "many-0")
            await wait_real(lambda: log_size(node.state_dir, "many-0") > size + 50)
            text = _log(node.state_dir, "many-0")
            assert secrets["S0"] not in text
            assert text.split(LOST_LINE.decode())[1].count("v=***") >= 5
            assert {s.pid for s in link.of("many-0") if s.pid is not None} == {pid}
            await jobs.stop(StopInstance(instance_id="many-0", reason="done"))


async def test_a_record_of_the_previous_version_is_taken_over_as_before(tmp_path) -> None:
    """A run record without the pipes' inodes and the secrets' hashes (written by the
    previous version) is taken over as that version did: the read-write pipes at the
    leader's 1 and 2, the secrets' values from its environment as they are."""
    import glob
    import json

    from tests.jobs.harness import ended

    state_dir = str(tmp_path / "node")
    job = spec(
        ["sh", "-c", 'while :; do echo "token=$TOKEN"; sleep 0.05; done'],
        env={"TOKEN": {"secret": "tok"}},
    )
    command = dataclasses.replace(start_command("old-0", job), secrets={"TOKEN": SECRET})
    with trio.fail_after(60):
        async with open_node(state_dir, keep_monitor=True) as node, open_jobs(node) as (jobs, link):
            pid = await _started(jobs, link, command)
            await wait_real(lambda: log_size(state_dir, "old-0") > 10)
        (logger,) = _readers_of(_pipe(pid))
        monitor = monitor_pid(state_dir)
        assert monitor is not None
        os.kill(monitor, signal.SIGKILL)
        os.kill(logger, signal.SIGKILL)
        await wait_real(lambda: ended(monitor))
        records = glob.glob(os.path.join(state_dir, "runs", "*.json"))
        assert records
        for path in records:
            with open(path) as f:
                record = json.load(f)
            assert "pipes" in record["meta"] and "masked_sha256" in record["meta"]
            del record["meta"]["pipes"], record["meta"]["masked_sha256"]
            with open(path, "w") as f:
                json.dump(record, f)
        async with open_node(state_dir) as node:
            await node.manager.adopt()
            await wait_real(lambda: LOST_LINE.decode() in _log(state_dir, "old-0"), 20)
            size = log_size(state_dir, "old-0")
            await wait_real(lambda: log_size(state_dir, "old-0") > size + 50)
            text = _log(state_dir, "old-0")
            assert SECRET not in text
            assert text.split(LOST_LINE.decode())[1].count("token=***") >= 5


# The job's leader leaves nothing readable in /proc/PID/environ (it zeroes the strings
# the kernel shows there; a non-dumpable leader of a node run as an ordinary user gives
# EACCES instead, which root, as these tests run, never gets): its secret cannot be read.
_ENVIRON_GONE = """
import ctypes, os, sys, time
with open("/proc/self/stat", "rb") as f:
    fields = f.read().rsplit(b")", 1)[1].split()
start, end = int(fields[47]), int(fields[48])  # env_start, env_end (proc(5))
ctypes.memset(start, 0, end - start)
while True:
    os.write(1, b"token=" + os.environ["TOKEN"].encode() + b"\\n")
    time.sleep(0.05)
"""
ENVIRON_GONE = spec(["python3", "-c", _ENVIRON_GONE], env={"TOKEN": {"secret": "tok"}})


async def test_a_run_whose_environment_cannot_be_read_is_stopped_and_restarted(tmp_path) -> None:
    """The secrets of an adopted run are read from its leader's environment: one that
    cannot be read there is not taken over (its output would go unmasked), and the run,
    which nobody reads, is stopped with the reason and restarted, the secret never
    written."""
    command = dataclasses.replace(start_command("wiped-0", ENVIRON_GONE), secrets={"TOKEN": SECRET})
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            pid = await _started(jobs, link, command)
            # The log file appears with the job's first line: its size first.
            await wait_real(lambda: log_size(node.state_dir, "wiped-0") > 0)
            await wait_real(lambda: "token=***" in _log(node.state_dir, "wiped-0"))
            with open(f"/proc/{pid}/environ", "rb") as f:
                assert b"TOKEN" not in f.read()
            kill_reader_then_monitor(node.state_dir, _pipe(pid))
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            await wait_real(
                lambda: any(s.state.value == "exited" for s in link.of("wiped-0")), timeout=30
            )
            (exited,) = [s for s in link.of("wiped-0") if s.state.value == "exited"]
            assert exited.reason == UNTAKEN
            await wait_real(
                lambda: any(s.pid not in (None, pid) for s in link.of("wiped-0")), timeout=30
            )
            size = log_size(node.state_dir, "wiped-0")
            await wait_real(lambda: log_size(node.state_dir, "wiped-0") > size + 50)
            assert SECRET not in _log(node.state_dir, "wiped-0")
            await jobs.stop(StopInstance(instance_id="wiped-0", reason="done"))


async def test_a_logger_its_monitor_replaced_before_dying_keeps_the_run(tmp_path) -> None:
    """The earlier monitor replaced its killed logger before it was killed itself (what
    a loaded machine did to the test above, between its two kills). That replacement,
    forked with the secret, reads the run on, masked: the new monitor, which cannot
    take the run over, leaves it to that logger, and stops it once that one is gone."""
    command = dataclasses.replace(start_command("wiped-0", ENVIRON_GONE), secrets={"TOKEN": SECRET})
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            pid = await _started(jobs, link, command)
            await wait_real(lambda: "token=***" in _log(node.state_dir, "wiped-0"))
            (logger,) = _readers_of(_pipe(pid))
            monitor = monitor_pid(node.state_dir)
            assert monitor is not None
            os.kill(logger, signal.SIGKILL)
            await wait_real(lambda: bool(_readers_of(_pipe(pid)) - {logger}))  # replaced
            (replacement,) = _readers_of(_pipe(pid)) - {logger}
            os.kill(monitor, signal.SIGKILL)
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            size = log_size(node.state_dir, "wiped-0")
            # Two seconds of the job's lines: past the new monitor's second look.
            await wait_real(lambda: log_size(node.state_dir, "wiped-0") > size + 400, timeout=20)
            assert "exited" not in {s.state.value for s in link.of("wiped-0")}
            os.kill(replacement, signal.SIGKILL)
            await wait_real(
                lambda: any(s.state.value == "exited" for s in link.of("wiped-0")), timeout=30
            )
            (exited,) = [s for s in link.of("wiped-0") if s.state.value == "exited"]
            assert exited.reason == UNTAKEN
            assert SECRET not in _log(node.state_dir, "wiped-0")
