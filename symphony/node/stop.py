"""Stop a node for good: its agent, its jobs, its monitor (``symphony node stop``).

A node agent stopped by Ctrl-C or SIGTERM leaves its jobs running under the node
monitor, so that the next agent re-adopts them: restarting or upgrading the agent costs
the jobs nothing. :func:`stop_node` is the way to stop all of it, in this order:

0. only one stop at a time: a second one is refused (``node-stop.lock``);
1. **the agent**, if one still runs in the state directory: it gets SIGTERM (like
   Ctrl-C: its jobs stay), and we wait until it has let go of the directory's lock,
   then hold that lock ourselves, so that no agent starts (and re-adopts the jobs)
   while they are being stopped. An agent that shares its process with a Conductor
   (``symphony up``) is not signalled: stopping it would stop the Conductor too.
2. **the jobs**, each the way a stop from the Conductor does it: its stop signal to its
   whole process tree, its stop timeout, then SIGKILL
   (:meth:`~symphony.node.process.ProcessManager.stop_all`). None is started or
   restarted meanwhile, not even one that was waiting out a restart's backoff.
3. **the monitor**; then wait until it has exited.

What is running is learnt from the state directory alone, as a restarting agent learns
it: the lock file (the agent's pid), the agent's instance records, the monitor's run
records and its socket. Processes are never looked for by name::

    report = await stop_node(Path("storage/node"), say=print)
    print(len(report.instances), "instances stopped")
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from symphony.errors import SymphonyError
from symphony.statedir import StateDirInUse, hold_state_dir, lock_path, recorded_holder

from .process.client import monitor_alive, monitor_gone
from .process.localstate import InstanceStore, SavedInstance
from .process.manager import ProcessManager
from .process.proctree import Snapshot, is_same_process, marked_processes
from .process.records import FINAL_STATES, InstanceReport
from .process.runstore import RunStore
from .process.stopall import StoppedInstance

#: How long the agent may take to shut down after SIGTERM.
AGENT_STOP_TIMEOUT = 30.0
#: How long the monitor may take to exit once it has been told to.
MONITOR_EXIT_TIMEOUT = 15.0
POLL = 0.05


class NodeStopError(SymphonyError):
    """The node could not be stopped; the message says why and what to do."""


class NothingToStop(NodeStopError):
    """No agent, no monitor and no job of this node runs in the state directory."""


@dataclass(frozen=True, slots=True)
class NodeStopped:
    """What :func:`stop_node` stopped (``None``: that part was not running)."""

    state_dir: Path
    agent_pid: int | None
    monitor_pid: int | None
    instances: tuple[StoppedInstance, ...]
    #: Processes of this node's jobs still found after the monitor had gone (killed).
    leftovers_killed: int = 0


def jobs_dir(state_dir: Path) -> Path:
    """Where a node keeps its jobs (the process layer's own state directory)."""
    return Path(os.path.abspath(state_dir)) / "jobs"


async def stop_node(
    state_dir: Path,
    *,
    say: Callable[[str], None] = lambda line: None,
    agent_timeout: float = AGENT_STOP_TIMEOUT,
) -> NodeStopped:
    """Stop everything of the node whose state directory is ``state_dir`` (see above).

    ``say`` hears one line per step as it happens (the CLI prints them).

    Raises:
        NothingToStop: nothing of this node runs there.
        NodeStopError: the agent runs inside a Conductor's process, or did not stop.
    """
    state_dir = Path(os.path.abspath(state_dir))
    if not state_dir.is_dir():
        raise NothingToStop(f"nothing to stop: {state_dir} does not exist")
    if not (lock_path(state_dir, "node").exists() or jobs_dir(state_dir).is_dir()):
        # Not a node's directory (a wrong path): leave no lock files behind in it.
        raise NothingToStop(f"nothing to stop: {state_dir} holds no node state")
    with contextlib.ExitStack() as held:
        try:  # first, so that a second stop never takes the first for an agent
            held.enter_context(hold_state_dir(state_dir, "node-stop"))
        except StateDirInUse as busy:
            raise NodeStopError(
                f"another `symphony node stop` (pid {busy.holder or 'unknown'}) is stopping "
                f"the node in {state_dir}"
            ) from None
        agent_pid = await _stop_agent(state_dir, held, say=say, timeout=agent_timeout)
        jobs = jobs_dir(state_dir)
        # Read once, now that no agent writes them: what is found to run, counted,
        # marked to stop and stopped is the same list.
        records = _instance_records(jobs)
        if not _anything_runs(jobs, records):
            if agent_pid is None:
                raise NothingToStop(
                    f"nothing to stop: no node agent, node monitor or job runs in {state_dir}"
                )
            return NodeStopped(state_dir, agent_pid, None, ())
        monitor_pid, stopped = await _stop_jobs(jobs, records, say=say)
        leftovers = _kill_leftovers(jobs)
        return NodeStopped(state_dir, agent_pid, monitor_pid, tuple(stopped), leftovers)
    raise AssertionError("unreachable")  # ExitStack could swallow, as far as mypy knows


async def _stop_agent(
    state_dir: Path, held: contextlib.ExitStack, *, say: Callable[[str], None], timeout: float
) -> int | None:
    """Stop the agent holding ``state_dir`` if one does; return with its lock held by us."""
    try:
        held.enter_context(hold_state_dir(state_dir, "node"))
        return None
    except StateDirInUse as busy:
        agent = busy.holder
    if agent is None:
        raise NodeStopError(f"a node agent holds {state_dir} but its pid is unknown; stop it first")
    _refuse_if_shared_with_conductor(state_dir, agent)
    say(f"stopping the node agent (pid {agent})")
    with contextlib.suppress(ProcessLookupError):  # ended meanwhile: fine
        os.kill(agent, signal.SIGTERM)
    with trio.move_on_after(timeout):
        while True:
            try:
                held.enter_context(hold_state_dir(state_dir, "node"))
                say(f"stopped the node agent (pid {agent})")
                return agent
            except StateDirInUse:
                await trio.sleep(POLL)
    raise NodeStopError(
        f"the node agent (pid {agent}) did not stop within {timeout:g} s of SIGTERM; "
        f"its jobs are untouched"
    )


def _refuse_if_shared_with_conductor(state_dir: Path, agent: int) -> None:
    """``symphony up`` holds a Conductor's lock (in the parent directory) and the node's."""
    for directory in (state_dir, state_dir.parent):
        if recorded_holder(directory, "conductor") == agent:
            raise NodeStopError(
                f"the node in {state_dir} runs in the same process as a Conductor "
                f"(pid {agent}, as `symphony up` does): stop that process (Ctrl-C or "
                f"SIGTERM), which stops its jobs too"
            )


def _instance_records(jobs: Path) -> list[SavedInstance]:
    """The agent's instance records (none without a records directory: creating one in
    a directory that holds no node state would leave it behind)."""
    if not (jobs / "instances").is_dir():
        return []
    return InstanceStore(str(jobs)).load_all()


def _anything_runs(jobs: Path, records: list[SavedInstance]) -> bool:
    """A monitor, a job, or an instance that is to run (e.g. waiting to restart)."""
    if not jobs.is_dir():
        return False
    if monitor_alive(jobs):
        return True
    if (jobs / "runs").is_dir():
        for run in RunStore(str(jobs / "runs")).load_all():
            if run.state != "ended" and is_same_process(run.pid, run.start_ticks):
                return True
    return any(saved.final_state not in FINAL_STATES for saved in records)


async def _stop_jobs(
    jobs: Path, records: list[SavedInstance], *, say: Callable[[str], None]
) -> tuple[int, list[StoppedInstance]]:
    """Stop every job through the monitor (starting one if it died), then the monitor."""
    # node_id only goes into the environment of jobs the manager starts: it starts none.
    manager = ProcessManager(state_dir=str(jobs), node_id="node")
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run)
        monitor_pid = int((await manager.client.request("stats"))["pid"])
        count = len(records)
        if count:
            say(f"stopping {count} instance{'s' if count != 1 else ''}")
        stopped = await manager.stop_all(records)
        for instance in stopped:
            say(describe(instance))
        await manager.shutdown_monitor(kill_jobs=True)  # anything left over: SIGKILL
        nursery.cancel_scope.cancel()
    with trio.move_on_after(MONITOR_EXIT_TIMEOUT):
        await monitor_gone(jobs)
    if monitor_alive(jobs):
        raise NodeStopError(
            f"the node monitor (pid {monitor_pid}) did not exit within "
            f"{MONITOR_EXIT_TIMEOUT:g} s; its jobs were stopped"
        )
    say(f"stopped the node monitor (pid {monitor_pid})")
    return monitor_pid, stopped


def describe(instance: StoppedInstance) -> str:
    """One line for one instance: how it stopped, or how it had ended before."""
    report = instance.report
    if instance.ended_before is not None:
        return f"{report.instance_id}: had {instance.ended_before} already ({_outcome(report)})"
    pid = f" (pid {instance.pid})" if instance.pid else ""
    reason = (report.reason or "stopped").removeprefix("stopped: ")
    return f"stopped {report.instance_id}{pid}: {reason}"


def _outcome(report: InstanceReport) -> str:
    if report.signal:
        return f"by {report.signal}"
    return "no exit code" if report.exit_code is None else f"exit code {report.exit_code}"


def _kill_leftovers(jobs: Path) -> int:
    """A last check, once the monitor is gone: SIGKILL any process still carrying this
    node's job markers (none should), so that the promise "nothing runs" holds."""
    found = [
        info
        for processes in marked_processes(Snapshot.take(), str(jobs)).values()
        for info in processes
    ]
    for info in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(info.pid, signal.SIGKILL)
    return len(found)
