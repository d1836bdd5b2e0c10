"""A state machine over one real node agent: jobs started and stopped while its monitor
and its loggers are killed.

One node's ProcessJobs (as the link drives it) with a real monitor and real jobs, in a
trio loop of its own thread; hypothesis picks the steps: start an instance (a job that
ticks a line every 50 ms, one that exits 0 at once and is never restarted, one that
fails fast and is restarted twice before it fails for good), stop a live one, stop one
that ended (the Conductor's forget, once it has the end), SIGKILL the monitor, SIGKILL
a logger (and wait until the monitor has handed its runs to a new one), SIGKILL any
logger of a ticking job, an earlier monitor's too, and maybe the monitor right after it
(the double faults of ``test_process_logger_then_monitor_killed.py`` and
``test_process_adopted_output.py``), a short real pause. After the steps,
once every start and stop is done and a monitor serves (polled with deadlines):

- the agent still runs;
- the manager lists exactly the instances started and not stopped (an ended one stays
  listed until the Conductor's stop forgets it);
- no process of a stopped instance is left;
- a ticking job never stopped kept its first pid through every kill (no restart), and
  its log still grows;
- the last status of every stopped instance the link was told is final.

Timing is real, so a run's interleavings vary; the choices are derandomized, and few.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from symphony.node.process import logfiles
from symphony.node.process.logrelay import LOST_LINE
from symphony.wire import StopInstance
from tests.jobs.harness import monitor_pid, open_jobs, open_node, spec, start_command, wait_real
from tests.test_process_monitor_restart_order import _loggers
from tests.test_process_monitor_storm import job_instances

#: The line a logger's replacement writes in each instance's files it takes over.
LOST = LOST_LINE.decode().strip()
EXAMPLES = 8
STEPS = 12

JOBS = {
    "tick": spec(["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done"]),
    "once": spec(["sh", "-c", "echo once"], restart_policy={"type": "never"}),
    "fail": spec(
        ["sh", "-c", "echo failing; exit 3"],
        restart_policy={"type": "on-failure", "backoff_seconds": 0.05, "max_restarts": 2},
    ),
}


class Agent:
    """A node agent (process manager, monitor, ProcessJobs, a link double) running in a
    trio loop on a thread of its own; ``call`` runs a coroutine function in that loop."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.token: trio.lowlevel.TrioToken | None = None
        self.parts: tuple[Any, Any, Any] | None = None  # node, jobs, link
        self.error: BaseException | None = None
        self._up = threading.Event()
        self._quit: trio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        if not self._up.wait(60) or self.parts is None:
            raise AssertionError(f"the agent did not come up: {self.error!r}")

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as error:  # kept for the checks
            self.error = error
        finally:
            self._up.set()

    async def _serve(self) -> None:
        self.token = trio.lowlevel.current_trio_token()
        self._quit = trio.Event()
        async with open_node(self.state_dir) as node, open_jobs(node) as (jobs, link):
            self.parts = (node, jobs, link)
            self._up.set()
            await self._quit.wait()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self.error is None

    def call(self, fn: Any, *args: Any) -> Any:
        assert self.running, f"the agent ended: {self.error!r}"
        return trio.from_thread.run(fn, *args, trio_token=self.token)

    def close(self) -> None:
        if self._thread.is_alive() and self._quit is not None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._quit.set, trio_token=self.token)
        self._thread.join(60)


def monitor_of(state_dir: str) -> int | None:
    """The monitor's pid (not its loggers'), if one serves."""
    with contextlib.suppress(OSError, AssertionError):
        return monitor_pid(state_dir)
    return None


def _pipes(pid: int) -> set[str]:
    """The pipes ``pid`` has open (``pipe:[inode]``)."""
    found = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("pipe:"):
                    found.add(target)
    return found


def _named(name: str) -> list[int]:
    """The live processes called ``name`` (their ``comm``)."""
    found = []
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError):
            if entry.isdigit():
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                if f"({name})" in stat and stat.rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry))
    return found


def log_size(state_dir: str, name: str) -> int:
    with contextlib.suppress(OSError):
        return os.path.getsize(logfiles.log_path(state_dir, name, "stdout"))
    return 0


def machine_for(root: Path) -> type[RuleBasedStateMachine]:
    examples = iter(range(10**6))

    class NodeMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.state_dir = str(root / f"node{next(examples)}")
            self.agent = Agent(self.state_dir)
            self.node, self.jobs, self.link = self.agent.parts  # type: ignore[misc]
            self.started: dict[str, str] = {}  # instance -> kind
            self.stopped: set[str] = set()  # stopped or forgotten
            self.kills = 0

        # ---- the steps --------------------------------------------------------------------
        @initialize(kinds=st.lists(st.sampled_from(sorted(JOBS)), min_size=1, max_size=3))
        def first_jobs(self, kinds: list[str]) -> None:
            """Every example starts with a few jobs, so that its kills and stops have
            targets (hypothesis tries many short examples)."""
            for kind in ["tick", *kinds]:
                self.start(kind)

        @rule(kind=st.sampled_from(sorted(JOBS)))
        def start(self, kind: str) -> None:
            name = f"{kind}{len(self.started)}-0"
            self.started[name] = kind
            self.agent.call(self.jobs.start, start_command(name, JOBS[kind]))

        # No preconditions: what is live depends on real timing (which instances ended),
        # and hypothesis requires the same draws when it runs a choice sequence again.
        @rule(index=st.integers(0, 50))
        def stop_live(self, index: int) -> None:
            live = self.live()
            if live:
                self._stop(live[index % len(live)], "stopped")

        @rule(index=st.integers(0, 50))
        def forget_ended(self, index: int) -> None:
            ended = [n for n in self.live() if any(s.final for s in self.link.of(n))]
            if ended:  # none may have ended yet (real time): then this step does nothing
                self._stop(ended[index % len(ended)], "ended")

        @rule()
        def kill_monitor(self) -> None:
            pid = monitor_of(self.state_dir)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self.kills += 1

        @rule(index=st.integers(0, 50))
        def kill_logger(self, index: int) -> None:
            """Kill one, and wait until the monitor has handed its runs to a new one."""
            tickers = [n for n in self.live() if self.started[n] == "tick"]
            self.agent.call(wait_real, lambda: all(self._ran(n) for n in tickers), 15.0)
            pid = monitor_of(self.state_dir)
            loggers = sorted(_loggers(pid)) if pid is not None else []
            if not loggers:
                return
            logger = loggers[index % len(loggers)]
            held = self._runs_of(logger)
            before = {name: self._markers(name) for name in held}
            with contextlib.suppress(ProcessLookupError):
                os.kill(logger, signal.SIGKILL)
            self.agent.call(
                wait_real, lambda: all(self._markers(n) > before[n] for n in held), 15.0
            )

        @rule(index=st.integers(0, 50), monitor_too=st.booleans())
        def kill_any_logger(self, index: int, monitor_too: bool) -> None:
            """Kill a logger that reads a live ticking job, whichever monitor forked it
            (an earlier one's, whose runs the current one adopted), and with
            ``monitor_too`` the monitor a moment after, before it can replace the
            logger: a double fault, which costs no job its life."""
            tickers = [n for n in self.live() if self.started[n] == "tick"]
            pipes = set().union(*(_pipes(pid) for n in tickers for pid in self._pids(n)))
            loggers = sorted(p for p in _named("symphony-log") if _pipes(p) & pipes)
            if loggers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(loggers[index % len(loggers)], signal.SIGKILL)
            pid = monitor_of(self.state_dir) if monitor_too else None
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

        def _runs_of(self, logger: int) -> list[str]:
            """The live ticking instances whose output ``logger`` reads."""
            pipes = _pipes(logger)
            return [
                name
                for name in self.live()
                if self.started[name] == "tick"
                and any(_pipes(pid) & pipes for pid in self._pids(name))
            ]

        def _pids(self, name: str) -> set[int]:
            return {s.pid for s in self.link.of(name) if s.pid is not None}

        def _markers(self, name: str) -> int:
            with contextlib.suppress(OSError):
                path = logfiles.log_path(self.state_dir, name, "stdout")
                with open(path, errors="replace") as f:
                    return f.read().count(LOST)
            return 0

        @rule(seconds=st.sampled_from([0.02, 0.1, 0.3]))
        def pause(self, seconds: float) -> None:
            time.sleep(seconds)

        def live(self) -> list[str]:
            return sorted(set(self.started) - self.stopped)

        def _stop(self, name: str, reason: str) -> None:
            self.stopped.add(name)
            self.agent.call(self.jobs.stop, StopInstance(instance_id=name, reason=reason))

        # ---- the checks -------------------------------------------------------------------
        @invariant()
        def agent_runs(self) -> None:
            assert self.agent.running, f"the agent ended: {self.agent.error!r}"

        def teardown(self) -> None:
            try:
                if self.agent.running:
                    try:
                        self.agent.call(self._settled)
                    except AssertionError as error:  # shown even if a replay passes
                        print(f"failed: {error}")
                        raise
                assert self.agent.running, f"the agent ended: {self.agent.error!r}"
            finally:
                self.agent.close()

        async def _settled(self) -> None:
            manager, jobs, link = self.node.manager, self.jobs, self.link
            story = f"started {self.started}, stopped {sorted(self.stopped)}"
            await wait_real(
                lambda: manager.ready and not jobs._stopping and not jobs._waiting, timeout=30
            )
            live = set(self.live())
            listed = {r.instance_id for r in await manager.list_instances()}
            odd = {n: [(s.state.value, s.reason) for s in link.of(n)] for n in listed ^ live}
            assert listed == live, f"{story}: listed {sorted(listed)}; told {odd}"
            await wait_real(lambda: not job_instances(self.state_dir) & self.stopped, timeout=15)
            # Every stopped instance's last word is final (the pump may lag a little).
            await wait_real(
                lambda: all(link.of(n) and link.of(n)[-1].final for n in self.stopped),
                timeout=15,
            )
            tickers = [n for n in live if self.started[n] == "tick"]
            await wait_real(lambda: all(self._ran(n) for n in tickers), timeout=15)
            for name in tickers:
                statuses = link.of(name)
                pids = {s.pid for s in statuses if s.pid is not None}
                states = [
                    (s.state.value, s.exit_code, s.signal, s.reason)
                    if s.state.value == "exited"
                    else s.state.value
                    for s in statuses
                ]
                assert len(pids) == 1, f"{story}: {name} ran as {pids}, {states}"
                assert {s.state.value for s in statuses} <= {"starting", "running"}, (
                    f"{name}: {states}"
                )
                (pid,) = pids
                (report,) = [r for r in await manager.list_instances() if r.instance_id == name]
                assert report.pid == pid and report.restarts == 0, f"{name}: {report}"
                assert os.path.exists(f"/proc/{pid}")
                size = log_size(self.state_dir, name)
                await wait_real(lambda n=name, s=size: log_size(self.state_dir, n) > s + 20)

        def _ran(self, name: str) -> bool:
            return any(s.state.value == "running" for s in self.link.of(name))

    return NodeMachine


def run_machine(
    root: Path, *, examples: int = EXAMPLES, steps: int = STEPS, derandomize: bool = True
) -> None:
    run_state_machine_as_test(
        machine_for(root),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            derandomize=derandomize,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        ),
    )


@pytest.mark.timeout(180)
def test_node_agent_under_starts_stops_and_kills(tmp_path: Path) -> None:
    run_machine(tmp_path)


if __name__ == "__main__":  # a longer search: python3 -m tests.test_process_node_machine N
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        examples = int(sys.argv[1]) if len(sys.argv) > 1 else 40
        run_machine(Path(directory), examples=examples, steps=20, derandomize=False)
