"""A restart comes before any bookkeeping: the monitor's order of work when jobs die.

The monitor runs in a driver process of its own here (it becomes a child subreaper), with
real jobs: two instances whose jobs are SIGKILLed together, and a restarted job killed
again while the monitor is still busy with the earlier deaths. What the driver prints is
what each announcement saw: which runs were running at that moment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import trio

from symphony.node.process import logfiles
from tests.jobs.harness import monitor_request, wait_real
from tests.test_process_monitor_restarts import POLICY, _monitor, _runs, _spawn

_DRIVER = r"""
import json, os, select, signal, sys, time
from symphony.node.process.monitor import Monitor

state_dir, work = sys.argv[1], sys.argv[2]
policy = {**json.loads(sys.argv[3]), "type": "always", "max_restarts": None}
seen = []


def zombie(pid):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return
        time.sleep(0.002)
    raise SystemExit(f"{pid} did not die")


def running():
    return {
        name: sorted(r.run_id for r in monitor.runs.values()
                     if r.instance_id == name and r.state == "running")
        for name in ("x", "y")
    }


def announce(run):
    seen.append({"ended": run.run_id, "running": running()})
    if len(seen) == 1:  # the monitor is busy with the first deaths: kill the new run
        (successor,) = [r for r in monitor.runs.values()
                        if r.instance_id == run.instance_id and r.state == "running"]
        os.kill(successor.pid, signal.SIGKILL)
        zombie(successor.pid)


monitor = Monitor(state_dir, announce=announce)
first = []
for name in ("x", "y"):
    first.append(monitor.spawn({
        "run_id": f"{name}.first", "instance_id": name, "cwd": work,
        "command": ["sh", "-c", "exec sleep 1000"],
        "env": {"PATH": os.defpath, "SYMPHONY_RUN_ID": f"{name}.first"},
        "restart": {"policy": policy, "jitter": 0, "state": None},
    }))
for run in first:
    os.kill(run.pid, signal.SIGKILL)
for run in first:
    zombie(run.pid)
while len(seen) < 2:  # the monitor's loop: reap, then wake for a logger or a death
    monitor.reap()
    logger = monitor.waiting_for()
    select.select([logger] if logger is not None else [], [], [], 0.01)
print(json.dumps(seen))
monitor.kill_all()
"""


def test_deaths_are_restarted_before_any_announcement(tmp_path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(tmp_path / "node"), str(work), json.dumps(POLICY)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(out.stdout)
    first = seen[0]["ended"].split(".")[0]
    other = "y" if first == "x" else "x"
    # Both jobs died together: both run again before the agent hears of either.
    for name in ("x", "y"):
        (now,) = seen[0]["running"][name]
        assert now != f"{name}.first"
    # The restarted job killed during that announcement was restarted before the
    # other death's bookkeeping went on: the next announcement sees its successor.
    assert seen[1]["ended"] == f"{other}.first"
    (again,) = seen[1]["running"][first]
    assert again not in (f"{first}.first", seen[0]["running"][first][0])


async def test_restarts_in_a_row_keep_their_lines_in_order(tmp_path) -> None:
    """Runs that end as soon as they start: each run's logger is forked while the
    previous one may still drain, and the log still lists the runs in order."""
    state_dir, runs = str(tmp_path / "node"), 6
    with _monitor(state_dir):
        _spawn(
            state_dir,
            str(tmp_path),
            'echo "$SYMPHONY_RUN_ID"; echo "$SYMPHONY_RUN_ID" >&2; exit 3',
            policy={**POLICY, "max_restarts": runs - 1},
        )
        await wait_real(
            lambda: (
                len(_runs(state_dir)) == runs
                and all(r["state"] == "ended" for r in _runs(state_dir))
            )
        )
        order = [r["run_id"] for r in _runs(state_dir)]
    for stream in ("stdout", "stderr"):
        with open(logfiles.log_path(state_dir, "job", stream)) as f:
            assert f.read().split() == order


def _loggers(monitor_pid: int) -> set[int]:
    """The monitor's children that are job loggers (named ``symphony-log``)."""
    with open(f"/proc/{monitor_pid}/task/{monitor_pid}/children") as f:
        children = [int(pid) for pid in f.read().split()]
    found = set()
    for pid in children:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if "(symphony-log)" in stat and stat.rsplit(")", 1)[1].split()[0] != "Z":
            found.add(pid)
    return found


async def test_a_restart_hands_its_pipes_to_the_running_logger(tmp_path) -> None:
    """The monitor forks no logger for a run it restarts: the instance's logger goes on
    with the new run's pipes, ends the last run's unfinished line, and exits once no
    run of the monitor's follows the last one."""
    state_dir = str(tmp_path / "node")
    with _monitor(state_dir):
        monitor_pid = monitor_request(state_dir, {"op": "stats"})["pid"]
        _spawn(
            state_dir,
            str(tmp_path),
            'printf "%s" "$SYMPHONY_RUN_ID"; exec sleep 1000',
            policy={**POLICY, "type": "always", "max_restarts": None},
        )
        await wait_real(lambda: len(_loggers(monitor_pid)) == 1)
        logger = _loggers(monitor_pid)
        for count in (2, 3, 4):
            live = [r for r in _runs(state_dir) if r["state"] == "running"]
            await _printed(state_dir, live[0]["run_id"])
            os.kill(live[0]["pid"], signal.SIGKILL)
            await wait_real(
                lambda count=count: (
                    len(_runs(state_dir)) == count and _runs(state_dir)[-1]["state"] == "running"
                )
            )
            assert _loggers(monitor_pid) == logger
        last = _runs(state_dir)[-1]
        await _printed(state_dir, last["run_id"])
        monitor_request(
            state_dir, {"op": "signal", "run_id": last["run_id"], "signal": signal.SIGTERM}
        )
        await wait_real(lambda: not _loggers(monitor_pid))  # nothing follows: it exited
        order = [r["run_id"] for r in _runs(state_dir)]
    with open(logfiles.log_path(state_dir, "job", "stdout")) as f:
        assert f.read().split("\n") == order  # each run's line ended by the next run


async def _printed(state_dir: str, run_id: str) -> None:
    """Wait until the run has written its id: "running" comes when it has started, and a
    run killed before its printf leaves no line (the check below would see one short)."""
    path = logfiles.log_path(state_dir, "job", "stdout")

    def written() -> bool:
        with contextlib.suppress(FileNotFoundError), open(path) as f:
            return run_id in f.read()
        return False

    await wait_real(written)


# The monitor with a long bound on its wait for a logger, so that only a logger done (not
# the bound) can end that wait within this test.
_PATIENT_MONITOR = (
    "import sys; from symphony.node.process import monitor; monitor.LOGGER_WAIT = 120.0; "
    "from symphony.node.process.monitor_server import main; sys.exit(main(sys.argv[1:]))"
)


def _record(state_dir: str, run_id: str) -> dict:
    with open(os.path.join(state_dir, "runs", f"{run_id}.json")) as f:
        return json.load(f)


def _reaped(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}")


async def test_a_job_killed_while_a_logger_drains_is_restarted_at_once(tmp_path) -> None:
    """An ended run is announced only once its logger has written everything, and that
    can take long: here a writer that is no member of the run (this test, which opened
    the job's stdout through ``/proc``, as a process that escaped the run would hold it)
    keeps the pipe open. Meanwhile another job is killed: it is restarted at once, the
    announcement waits alone."""
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    holder: list[int] = []  # our descriptor of x's stdout
    with _monitor(state_dir, code=_PATIENT_MONITOR):
        try:
            await _restart_while_a_logger_drains(state_dir, work, holder)
        finally:  # before the monitor's shutdown, which waits for every logger
            for fd in holder:
                os.close(fd)


async def _restart_while_a_logger_drains(state_dir: str, work: Path, holder: list[int]) -> None:
    y = _spawn(
        state_dir,
        str(work),
        'echo "$SYMPHONY_RUN_ID" >> y.txt; exec sleep 1000',
        policy={**POLICY, "type": "always", "max_restarts": None},
    )
    await wait_real(lambda: (work / "y.txt").exists())
    # x waits for a go; meanwhile we open its stdout (the pipe its logger reads) for
    # writing: no scan of the monitor can find that writer among x's processes.
    script = "while [ ! -f go ]; do sleep 0.01; done; exit 0"
    x = _spawn(state_dir, str(work), script, name="x", rule=False)
    holder.append(os.open(f"/proc/{x['pid']}/fd/1", os.O_WRONLY))
    (work / "go").touch()
    await wait_real(lambda: _reaped(x["pid"]), timeout=30)
    os.kill(y["pid"], signal.SIGKILL)
    await wait_real(lambda: len((work / "y.txt").read_text().split()) == 2, timeout=30)
    # Restarted while x's end still waits for its logger: its record is written, and
    # its end announced, only with that.
    assert _record(state_dir, "x.first")["state"] == "running"
    # An agent that says hello meanwhile is answered once the end is announced (the
    # logs complete), so it never finds x ending under a leader that is gone; the
    # monitor answers everything else in the meantime.
    with _connected(state_dir) as hello:
        hello.send_request({"id": 1, "op": "hello"})
        hello.send_request({"id": 2, "op": "stats"})
        assert await trio.to_thread.run_sync(hello.reply) == 2  # the hello waits
        os.close(holder.pop())  # the logger can finish now
        assert await trio.to_thread.run_sync(hello.reply) == 1
        assert {r["run_id"]: r["state"] for r in hello.replies[1]["runs"]}["x.first"] == "ended"
    assert _record(state_dir, "x.first")["state"] == "ended"
    assert _record(state_dir, "x.first")["exit_code"] == 0


class _Connection:
    """A raw connection to a monitor: requests out, replies in as they come."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""
        self.replies: dict[int, dict] = {}

    def send_request(self, request: dict) -> None:
        self.sock.sendall(json.dumps(request).encode() + b"\n")

    def reply(self) -> int:
        """Wait for the next reply (events are skipped); its request id."""
        while True:
            while b"\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                assert chunk, "the monitor closed the connection"
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\n", 1)
            message = json.loads(line)
            if "id" in message:
                self.replies[message["id"]] = message
                return int(message["id"])


@contextlib.contextmanager
def _connected(state_dir: str) -> Iterator[_Connection]:
    directory = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)  # a short socket path
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30)
            sock.connect(f"/proc/self/fd/{directory}/monitor.sock")
            yield _Connection(sock)
    finally:
        os.close(directory)


_SLOW_DISK_DRIVER = r"""
import json, os, select, signal, sys, threading, time

real_fsync, real_unlink, real_rename, done_by = os.fsync, os.unlink, os.rename, []


def slow_fsync(fd):  # a disk busy with other commits
    time.sleep(1.0)
    real_fsync(fd)
    done_by.append(("fsync", threading.current_thread().name))


def slow_unlink(path):  # the directory's block is being written by a commit
    time.sleep(1.0)
    real_unlink(path)
    done_by.append(("delete", threading.current_thread().name))


def slow_rename(source, target):
    if not target.endswith(".free"):
        return real_rename(source, target)
    # A deletion that keeps the file as a spare (see .spares): as slow as an unlink.
    time.sleep(1.0)
    real_rename(source, target)
    done_by.append(("delete", threading.current_thread().name))


os.fsync, os.unlink, os.rename = slow_fsync, slow_unlink, slow_rename
from symphony.node.process.monitor import Monitor

state_dir, work = sys.argv[1], sys.argv[2]
policy = {**json.loads(sys.argv[3]), "type": "always", "max_restarts": None}
ended = []
monitor = Monitor(state_dir, announce=lambda run: ended.append(run.run_id))
run = monitor.spawn({
    "run_id": "y.first", "instance_id": "y", "cwd": work,
    "command": ["sh", "-c", "exec sleep 1000"],
    "env": {"PATH": os.defpath, "SYMPHONY_RUN_ID": "y.first"},
    "restart": {"policy": policy, "jitter": 0, "state": None},
})
loop = []  # how long each pass of the loop's work took, its sync() included
for count in (1, 2, 3):
    os.kill(run.pid, signal.SIGKILL)
    began = time.monotonic()
    while len(ended) < count:  # the loop: wake on the child's death or on its logger
        logger = monitor.waiting_for()
        select.select([logger] if logger is not None else [], [], [], 0.002)
        monitor.new_iteration()
        monitor.reap()
        monitor.sync()
    if count < 3:
        monitor.ack(ended[-1])  # the agent has seen that exit: its record can go
    loop.append(time.monotonic() - began)
    (run,) = [r for r in monitor.runs.values() if r.state == "running"]
print(json.dumps(loop), flush=True)
monitor.flush()
print(json.dumps(done_by), flush=True)
monitor.kill_all()
"""


def test_the_monitor_never_waits_for_the_disk(tmp_path) -> None:
    """An ended run's record is fsynced (its exit outlives a crash of the machine) unless
    the agent acknowledges it first, and deleted once acknowledged: by a thread of the
    monitor's, so that a restart never waits behind a slow disk."""
    work = tmp_path / "work"
    work.mkdir()
    driver = [sys.executable, "-c", _SLOW_DISK_DRIVER]
    out = subprocess.run(
        [*driver, str(tmp_path / "node"), str(work), json.dumps(POLICY)],
        capture_output=True,
        timeout=120,
        check=True,
    )
    loop, done_by = (json.loads(line) for line in out.stdout.splitlines())
    # Each fsync and deletion takes a second here; three deaths, three restarts, and two
    # acknowledgements in far less.
    assert sum(loop) < 1.0, loop
    assert sorted({what for what, _ in done_by}) == ["delete", "fsync"]
    assert {thread for _, thread in done_by} == {"fsync"}  # never by the loop
