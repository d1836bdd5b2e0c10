"""A shared logger killed with SIGKILL takes none of its jobs with it.

The monitor keeps the read ends of each live run's pipes until the run's output is
written, so a pipe never loses its last reader while the monitor lives; when a logger
dies with runs, the monitor hands them to a new one, which appends to the same files
after a line that says output may be lost. A real monitor, real jobs, a real SIGKILL.
"""

from __future__ import annotations

import os
import re
import resource
import signal
from pathlib import Path

import pytest

from symphony.node.process import logfiles
from tests.jobs.harness import monitor_request, wait_real
from tests.test_process_monitor_announce import Agent
from tests.test_process_monitor_restart_order import _PATIENT_MONITOR, _loggers
from tests.test_process_monitor_restarts import POLICY, _monitor, _runs, _spawn

MARKER = "[symphony] the logger was killed: output it held may be lost"
# Each job prints a numbered line every few ms, forever.
TICKER = 'i=0; while :; do i=$((i+1)); echo "line $i"; sleep 0.005; done'
ALWAYS = {**POLICY, "type": "always", "max_restarts": None}


def _log(state_dir: str, name: str) -> str:
    path = Path(logfiles.log_path(state_dir, name, "stdout"))
    return path.read_text(errors="replace") if path.exists() else ""


def _last(state_dir: str, name: str) -> int:
    """The highest line number in the job's stdout log (0: none yet)."""
    numbers = re.findall(r"^line (\d+)$", _log(state_dir, name), re.M)
    return max((int(n) for n in numbers), default=0)


async def _kill_logger(monitor_pid: int, *, wait_for_replacement: bool = True) -> int:
    """SIGKILL the monitor's only logger; wait for its replacement and return its pid."""
    (logger,) = _loggers(monitor_pid)
    os.kill(logger, signal.SIGKILL)
    if not wait_for_replacement:
        return logger
    await wait_real(lambda: bool(_loggers(monitor_pid) - {logger}))
    (replacement,) = _loggers(monitor_pid)
    return replacement


async def _tickers(state_dir: str, work: Path, names: list[str]) -> dict[str, dict]:
    runs = {name: _spawn(state_dir, str(work), TICKER, name=name, policy=ALWAYS) for name in names}
    await wait_real(lambda: all(_last(state_dir, n) >= 5 for n in names))
    return runs


async def _still_running(state_dir: str, runs: dict[str, dict], after: dict[str, int]) -> None:
    """Every job's lines go on past ``after`` in its log, from the same run (no restart)."""
    await wait_real(lambda: all(_last(state_dir, n) > after[n] + 20 for n in runs), timeout=15)
    now = _runs(state_dir)
    assert len(now) == len(runs), now  # no run ended, none was restarted
    for name, run in runs.items():
        (same,) = [r for r in now if r["instance_id"] == name]
        assert (same["run_id"], same["pid"]) == (run["run_id"], run["pid"])
        assert same["state"] == "running"
        assert os.path.exists(f"/proc/{run['pid']}")


async def test_logger_killed_its_jobs_keep_running_and_logging(tmp_path) -> None:
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    names = ["a", "b", "c"]
    with _monitor(state_dir):
        monitor_pid = monitor_request(state_dir, {"op": "stats"})["pid"]
        runs = await _tickers(state_dir, work, names)
        assert len(_loggers(monitor_pid)) == 1  # the three share it
        at_kill = {n: _last(state_dir, n) for n in names}
        await _kill_logger(monitor_pid)
        await _still_running(state_dir, runs, at_kill)
        for name in names:
            log = _log(state_dir, name)
            assert log.count(MARKER + "\n") == 1, log[-2000:]
            # The marker is a line of its own, and numbered lines follow it.
            before, after = log.split(MARKER + "\n")
            assert before.endswith("\n") and re.match(r"line \d+\n", after)


async def test_logger_killed_twice_in_a_row(tmp_path) -> None:
    """The replacement killed too, as soon as it exists: a third logger takes the runs."""
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    names = ["a", "b", "c"]
    with _monitor(state_dir):
        monitor_pid = monitor_request(state_dir, {"op": "stats"})["pid"]
        runs = await _tickers(state_dir, work, names)
        at_kill = {n: _last(state_dir, n) for n in names}
        await _kill_logger(monitor_pid)
        await _kill_logger(monitor_pid)
        await _still_running(state_dir, runs, at_kill)
        # And once more, after the lines have come back.
        at_kill = {n: _last(state_dir, n) for n in names}
        await _kill_logger(monitor_pid)
        await _still_running(state_dir, runs, at_kill)
        for name in names:
            assert MARKER + "\n" in _log(state_dir, name)


async def test_logger_killed_while_a_run_ends_its_end_is_reported_once(tmp_path) -> None:
    """A run's end waits for its logger to write the run's output (a writer that escaped
    the run, here this test through ``/proc``, still holds its pipe). The logger killed
    meanwhile: the pipe is handed on, what comes later is still logged, after the marker
    on a line of its own, and the end is reported once, with its exit code."""
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    holder: list[int] = []
    with _monitor(state_dir, code=_PATIENT_MONITOR), Agent(state_dir) as agent:
        try:
            monitor_pid = monitor_request(state_dir, {"op": "stats"})["pid"]
            script = "echo first; while [ ! -f go ]; do sleep 0.01; done; exit 3"
            x = _spawn(state_dir, str(work), script, name="x", rule=False)
            holder.append(os.open(f"/proc/{x['pid']}/fd/1", os.O_WRONLY))
            os.write(holder[0], b"half a line")
            await wait_real(lambda: _log(state_dir, "x").endswith("half a line"))
            (work / "go").touch()
            await wait_real(lambda: not os.path.exists(f"/proc/{x['pid']}"))
            await _kill_logger(monitor_pid)
            os.write(holder[0], b"; the rest\n")  # no SIGPIPE: the pipe still has a reader
            await wait_real(lambda: _log(state_dir, "x").endswith("the rest\n"))
            assert not agent.ended()
            os.close(holder.pop())  # now the output is all written: the end comes
            agent.read_until(lambda: len(agent.ended()) == 1)
            # A reply comes after every end announced before it: none more.
            agent.sock.sendall(b'{"id": 7, "op": "stats"}\n')
            agent.read_until(lambda: any(m.get("id") == 7 for _, m in agent.messages))
        finally:
            for fd in holder:
                os.close(fd)
        (ended,) = agent.ended()
        assert (ended[1]["run"]["run_id"], ended[1]["run"]["exit_code"]) == ("x.first", 3)
    assert _log(state_dir, "x") == f"first\nhalf a line\n{MARKER}\n; the rest\n"


_LOW_LIMIT_MONITOR = (
    "import resource, sys; _, hard = resource.getrlimit(resource.RLIMIT_NOFILE); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)); "
    "from symphony.node.process.monitor_server import main; sys.exit(main(sys.argv[1:]))"
)


async def test_monitor_raises_its_open_files_limit_and_not_its_jobs(tmp_path) -> None:
    """Three descriptors per live run: the monitor raises its soft limit to the hard one;
    a job still gets the limit the monitor was started with."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("the hard open-files limit leaves nothing to raise")
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    with _monitor(state_dir, code=_LOW_LIMIT_MONITOR):
        monitor_pid = monitor_request(state_dir, {"op": "stats"})["pid"]
        _spawn(state_dir, str(work), "ulimit -n; exec sleep 1000", name="x", rule=False)
        await wait_real(lambda: _log(state_dir, "x") != "")
        assert _log(state_dir, "x") == "256\n"
        with open(f"/proc/{monitor_pid}/limits") as f:
            (line,) = [line for line in f if line.startswith("Max open files")]
        assert int(line.split()[3]) > 256


async def test_logger_killed_then_a_restart_goes_to_its_replacement_in_order(tmp_path) -> None:
    """An instance stays with its logger: after a rescue that is the replacement, so a
    restart forks none, and the runs' lines stay in order after the marker."""
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    with _monitor(state_dir):
        monitor_pid = monitor_request(state_dir, {"op": "stats"})["pid"]
        first = _spawn(
            state_dir, str(work), 'echo "$SYMPHONY_RUN_ID"; exec sleep 1000', policy=ALWAYS
        )
        await wait_real(lambda: _log(state_dir, "job") == f"{first['run_id']}\n")
        replacement = await _kill_logger(monitor_pid)
        await wait_real(lambda: MARKER in _log(state_dir, "job"))
        os.kill(first["pid"], signal.SIGKILL)
        await wait_real(lambda: len(_runs(state_dir)) == 2 and _runs(state_dir)[1]["pid"])
        second = _runs(state_dir)[1]
        await wait_real(lambda: second["run_id"] in _log(state_dir, "job"))
        assert _loggers(monitor_pid) == {replacement}
    expected = f"{first['run_id']}\n{MARKER}\n{second['run_id']}\n"
    assert _log(state_dir, "job") == expected
