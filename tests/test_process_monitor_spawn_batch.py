"""Spawns that arrive together start every job before any is given to a logger.

A job is a ``posix_spawn``; giving it to a logger may fork one (with its copy-on-write
faults, most of what a spawn costs the monitor). In a burst of starts the last job must
not wait for any of that, so the monitor starts the jobs of all the spawn requests it
has read, then gives them to their loggers and answers them, in order.

The monitor runs in its own process, started with code that writes down each job start
and each run given to a logger as they happen; the requests go out in one write.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from symphony.node.process import logfiles
from tests.jobs.harness import wait_real
from tests.test_process_monitor_restarts import _monitor

_TRACED = r"""
import os, sys
from symphony.node.process import logpool, monitor, monitor_server, spawn

order = os.path.join(sys.argv[-1], "order.log")
start_job, start_logger = monitor.start_job, spawn.Started.start_logger
attach = logpool.LoggerPool.attach


def note(what):
    with open(order, "a") as f:
        f.write(what + "\n")


def traced_start_job(**kwargs):
    started = start_job(**kwargs)
    note("job")
    return started


def traced_start_logger(self, **kwargs):
    note("logger")
    return start_logger(self, **kwargs)


def traced_attach(self, *args, **kwargs):
    note("logger")
    return attach(self, *args, **kwargs)


monitor.start_job = traced_start_job
spawn.Started.start_logger = traced_start_logger
logpool.LoggerPool.attach = traced_attach
os.makedirs(sys.argv[-1], exist_ok=True)
sys.exit(monitor_server.main(sys.argv[1:]))
"""


def _request(request_id: int, name: str, work: Path, command: list[str]) -> bytes:
    request = {
        "id": request_id,
        "op": "spawn",
        "run_id": f"{name}.first",
        "instance_id": name,
        "command": command,
        "env": {"PATH": os.defpath, "SYMPHONY_RUN_ID": f"{name}.first"},
        "cwd": str(work),
    }
    return json.dumps(request).encode() + b"\n"


def _replies(sock: socket.socket, count: int) -> list[dict]:
    data = b""
    while data.count(b"\n") < count:
        chunk = sock.recv(65536)
        assert chunk, "the monitor closed the connection"
        data += chunk
    return [json.loads(line) for line in data.split(b"\n")[:count]]


def _exchange(state_dir: str, data: bytes, count: int) -> list[dict]:
    """Send ``data`` to the monitor in one write; its first ``count`` replies."""
    directory = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)  # a short path
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(f"/proc/self/fd/{directory}/monitor.sock")
            sock.sendall(data)
            return _replies(sock, count)
    finally:
        os.close(directory)


async def test_spawns_read_together_start_all_jobs_before_their_loggers(tmp_path) -> None:
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    names = ["a", "b", "c"]
    with _monitor(state_dir, code=_TRACED):
        lines = [
            _request(i, name, work, ["sh", "-c", f"echo hello from {name}; exec sleep 1000"])
            for i, name in enumerate(names, start=1)
        ]
        # A refused spawn among them is answered in its place, after those before it.
        lines.insert(2, _request(9, "bad", work, ["/nonexistent/program"]))
        replies = _exchange(state_dir, b"".join(lines), 4)

        assert [r["id"] for r in replies] == [1, 2, 9, 3]
        assert [r["ok"] for r in replies] == [True, True, False, True]
        assert replies[2]["spawn_error"] is True
        good = [r["run"] for r in replies if r["ok"]]
        assert [run["instance_id"] for run in good] == names
        assert all(run["state"] == "running" and run["pid"] > 0 for run in good)
        order = Path(state_dir, "order.log").read_text().split()
        # Jobs a and b first, then their loggers (the refused spawn's logger writes
        # its error, and is forked where it failed), then job c and its logger.
        assert order == ["job", "job", "logger", "logger", "logger", "job", "logger"]

        # Every job's output is in its own log.
        def logged() -> bool:
            return all(
                Path(logfiles.log_path(state_dir, name, "stdout")).exists()
                and f"hello from {name}"
                in Path(logfiles.log_path(state_dir, name, "stdout")).read_text()
                for name in names
            )

        await wait_real(logged)


_SENDS = r"""
import os, socket, sys
from symphony.node.process import monitor_server

sends = os.path.join(sys.argv[-1], "sends.log")
send = socket.socket.send


def traced_send(self, data, *args):
    # How many replies each write to an agent carries (noted first: once they are
    # sent, the test may look at once).
    replies = bytes(data).count(b'"ok": ')
    if replies:
        with open(sends, "a") as f:
            f.write(f"{replies}\n")
    return send(self, data, *args)


socket.socket.send = traced_send
os.makedirs(sys.argv[-1], exist_ok=True)
sys.exit(monitor_server.main(sys.argv[1:]))
"""


async def test_spawns_read_together_are_answered_in_one_write(tmp_path) -> None:
    """The replies to spawns read together go out in one write: they wake the agent
    once. Written one by one, each could wake it to read one reply (a turn of its event
    loop and a task woken per start), and the monitor made a system call for each."""
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    names = [f"job-{i}" for i in range(4)]
    with _monitor(state_dir, code=_SENDS):
        lines = [
            _request(i, name, work, ["sleep", "1000"]) for i, name in enumerate(names, start=1)
        ]
        replies = _exchange(state_dir, b"".join(lines), len(names))
        assert [r["id"] for r in replies] == [1, 2, 3, 4]
        assert all(r["ok"] for r in replies)
        assert Path(state_dir, "sends.log").read_text().split() == ["4"]


_WATCHED = r"""
import os, sys
from symphony.node.process import monitor, monitor_server

walks = os.path.join(sys.argv[-1], "walks.log")


class Loggers(dict):
    # A walk over every logger of the node, noted: once per spawn made a burst of N
    # spawns cost N * N steps.
    def __iter__(self):
        with open(walks, "a") as f:
            f.write("walk\n")
        return super().__iter__()

    __reversed__ = __iter__


init = monitor.Monitor.__init__


def watched_init(self, *args, **kwargs):
    init(self, *args, **kwargs)
    self.loggers = Loggers(self.loggers)


monitor.Monitor.__init__ = watched_init
os.makedirs(sys.argv[-1], exist_ok=True)
sys.exit(monitor_server.main(sys.argv[1:]))
"""


async def test_a_spawn_finds_its_instances_logger_without_walking_every_logger(
    tmp_path,
) -> None:
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    names = [f"job-{i}" for i in range(5)]
    with _monitor(state_dir, code=_WATCHED):
        directory = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)  # a short path
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(10)
                sock.connect(f"/proc/self/fd/{directory}/monitor.sock")
                for i, name in enumerate(names, start=1):  # one at a time: one attach each
                    command = ["sh", "-c", f"echo hello from {name}; exec sleep 1000"]
                    sock.sendall(_request(i, name, work, command))
                    (reply,) = _replies(sock, 1)
                    assert reply["ok"] and reply["run"]["instance_id"] == name
        finally:
            os.close(directory)
        walks = Path(state_dir, "walks.log")
        assert not walks.exists(), walks.read_text()

        def logged() -> bool:
            paths = [Path(logfiles.log_path(state_dir, n, "stdout")) for n in names]
            return all(
                p.exists() and f"hello from {n}" in p.read_text()
                for n, p in zip(names, paths, strict=True)
            )

        await wait_real(logged)
