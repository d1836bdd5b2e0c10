"""A burst of starts shares a few logger processes, and each run's output stays its own.

A logger forked per run cost the monitor and the logger about 4 ms of CPU (the fork and
its copy-on-write faults): the largest cost of a burst on the node. The monitor now
gives each logger up to ``RUNS_PER_LOGGER`` runs. A real monitor here, the spawn
requests sent in one write: every job's lines land in its own files, its own secrets
masked (and only its own), and the loggers exit once the runs they had have all ended.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
from pathlib import Path

import pytest

from symphony.node.process import logfiles
from symphony.node.process.logpool import RUNS_PER_LOGGER
from symphony.node.process.logrelay import Relay, Target
from tests.jobs.harness import monitor_request, wait_real
from tests.test_process_monitor_restart_order import _loggers
from tests.test_process_monitor_restarts import _monitor
from tests.test_process_monitor_spawn_batch import _replies

SECRET = "s3cret-of-job-0"


def _request(request_id: int, name: str, work: Path) -> bytes:
    # Every job prints job-0's secret: only job-0's log masks it.
    script = f'echo "{name} says {SECRET}"; echo "{name} on stderr" >&2; exec sleep 1000'
    request = {
        "id": request_id,
        "op": "spawn",
        "run_id": f"{name}.first",
        "instance_id": name,
        "command": ["sh", "-c", script],
        "env": {"PATH": os.defpath, "SYMPHONY_RUN_ID": f"{name}.first"},
        "cwd": str(work),
        "mask": [SECRET] if name == "job-0" else [],
    }
    return json.dumps(request).encode() + b"\n"


def _log(state_dir: str, name: str, stream: str) -> str:
    path = Path(logfiles.log_path(state_dir, name, stream))
    return path.read_text() if path.exists() else ""


async def test_logger_pool_a_burst_shares_few_loggers_and_keeps_each_runs_output(
    tmp_path,
) -> None:
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    names = [f"job-{i}" for i in range(RUNS_PER_LOGGER + 8)]
    with _monitor(state_dir):
        monitor_pid = monitor_request(state_dir, {"op": "stats"})["pid"]
        directory = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)  # a short path
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(10)
                sock.connect(f"/proc/self/fd/{directory}/monitor.sock")
                sock.sendall(b"".join(_request(i, n, work) for i, n in enumerate(names, 1)))
                replies = _replies(sock, len(names))
        finally:
            os.close(directory)
        assert all(reply["ok"] for reply in replies), replies
        # Two loggers for 40 runs, where each run had one. (A logger takes its name
        # just after its fork: wait for that.)
        loggers = math.ceil(len(names) / RUNS_PER_LOGGER)
        await wait_real(lambda: len(_loggers(monitor_pid)) == loggers)

        def logged() -> bool:
            return all(f"{n} on stderr" in _log(state_dir, n, "stderr") for n in names) and all(
                f"{n} says" in _log(state_dir, n, "stdout") for n in names
            )

        await wait_real(logged)
        assert len(_loggers(monitor_pid)) == loggers
        for name in names:
            expected = f"{name} says {'***' if name == 'job-0' else SECRET}\n"
            assert _log(state_dir, name, "stdout") == expected
            assert _log(state_dir, name, "stderr") == f"{name} on stderr\n"

        # Once every run has ended, nothing is left for the loggers: they exit.
        for reply in replies:
            run_id = reply["run"]["run_id"]
            monitor_request(state_dir, {"op": "signal", "run_id": run_id, "signal": signal.SIGTERM})
        await wait_real(lambda: not _loggers(monitor_pid))


async def test_logger_pool_a_run_with_too_many_secrets_to_send_gets_a_logger_of_its_own(
    tmp_path,
) -> None:
    """Secrets past what one message to a logger carries: that run's logger is forked
    for it alone, masks them all the same, and exits when the run ends."""
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    many = [f"secret-number-{i:06d}" for i in range(4000)]  # about 100 KB
    with _monitor(state_dir):
        monitor_pid = monitor_request(state_dir, {"op": "stats"})["pid"]
        reply = monitor_request(
            state_dir,
            {
                "op": "spawn",
                "run_id": "big.first",
                "instance_id": "big",
                "command": ["sh", "-c", f"echo {many[0]} {many[-1]} plain; exec sleep 1000"],
                "env": {"PATH": os.defpath, "SYMPHONY_RUN_ID": "big.first"},
                "cwd": str(work),
                "mask": many,
            },
        )
        assert reply["ok"], reply
        await wait_real(lambda: "plain" in _log(state_dir, "big", "stdout"))
        assert len(_loggers(monitor_pid)) == 1
        assert _log(state_dir, "big", "stdout") == "*** *** plain\n"
        monitor_request(
            state_dir, {"op": "signal", "run_id": "big.first", "signal": signal.SIGTERM}
        )
        await wait_real(lambda: not _loggers(monitor_pid))


class _BrokenFile:
    """A log file whose writes fail as a bug would."""

    def write(self, data: bytes) -> None:
        if data:
            raise RuntimeError("a bug in the logger")

    def new_run(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_logger_pool_a_logger_that_fails_drains_every_runs_pipes_and_says_each_done(
    tmp_path,
) -> None:
    """After a bug, a logger still reads every run's pipes to the end (a job writing to a
    pipe nobody reads would die of SIGPIPE), and closes each run's done pipe."""
    relay = Relay(lambda *_: {"stdout": _BrokenFile(), "stderr": _BrokenFile()}, control=None)
    writers, dones = [], []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        done_r, done_w = os.pipe()
        target = Target(str(tmp_path / name), 1 << 20, 1, ())
        relay.add(target, {out_r: "stdout", err_r: "stderr"}, done_w)
        writers += [out_w, err_w]
        dones.append(done_r)
    os.write(writers[0], b"first line\n")
    with pytest.raises(RuntimeError, match="a bug"):
        relay.run()
    for fd in writers:
        os.write(fd, b"more\n")  # still read: no SIGPIPE
        os.close(fd)
    relay.drain()
    for done in dones:
        assert os.read(done, 2) == b"d"  # each run said done: written, not killed
        os.close(done)
