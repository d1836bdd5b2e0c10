"""What a new node monitor takes over from an earlier one: its runs and their processes.

A monitor that starts reads the run records an earlier one left (:func:`load`). Every
pid is verified (pid + start time): a live run whose leader still runs is *foreign*, not
a child of ours, so its end is noticed by polling (:func:`poll_foreign`), and its exit
status is unknown. Every process an earlier monitor started for this node is found by
the markers in its environment, wherever it was re-parented: a member of a live run is
tracked as one; any other (its record never written, or its run already ended) has no
owner and gets SIGKILL. So after a takeover nothing of this node runs that no record
owns. The output of the live runs is taken over too (:mod:`.adoptedlogs`).
"""

from __future__ import annotations

import os
import signal
import time

from .proctree import Snapshot, is_same_process, marked_processes, quietly

#: The end reason of an adopted run whose output no process of ours reads or can read.
UNTAKEN = "output could not be taken over after the monitor was replaced"

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .monitor import Monitor
    from .runstore import Run


def load(monitor: Monitor) -> None:
    """Take over the records of a previous monitor (see the module docstring)."""
    for run in monitor.store.load_all():
        monitor.runs[run.run_id] = run
    snapshot = Snapshot.take()
    for run_id, processes in marked_processes(snapshot, monitor.state_dir).items():
        owner = monitor.runs.get(run_id)
        if owner is None or owner.state == "ended":
            for info in processes:
                quietly(os.kill, info.pid, signal.SIGKILL)
        else:
            monitor.membership.tracked[run_id] = {(p.pid, p.start_ticks) for p in processes}
    for run in monitor.runs.values():
        if run.state == "ended":
            continue
        if is_same_process(run.pid, run.start_ticks):
            monitor.foreign[run.run_id] = run  # alive, but not our child: poll it
        else:
            foreign_gone(monitor, run, "the job ended while no node monitor was running")
    members = {r: [pid for pid, _ in found] for r, found in monitor.membership.tracked.items()}
    monitor.adopted.take(list(monitor.foreign.values()), members)  # output (.adoptedlogs)


def poll_foreign(monitor: Monitor) -> None:
    """End the foreign runs whose leader is gone (announced once no member is left)."""
    for run in list(monitor.foreign.values()):
        if not is_same_process(run.pid, run.start_ticks):
            foreign_gone(monitor, run, "the job was started by an earlier node monitor")
            if run.state == "ended":
                monitor.announce(run)
    monitor.adopted.poll()  # loggers of an earlier monitor gone: ours take their runs
    given_up, monitor.adopted.given_up = monitor.adopted.given_up, []
    for run_id in given_up:
        _stop_untaken(monitor, run_id)
    now = time.monotonic()
    for run in list(monitor.foreign.values()):  # their grace is over: SIGKILL
        if run.reason == UNTAKEN and monitor.stopping.get(run.run_id, now) < now:
            monitor.kill(run, monitor.members(run, monitor.snapshot()), signal.SIGKILL)


def _stop_untaken(monitor: Monitor, run_id: str) -> None:
    """Stop a run whose output nobody reads (:mod:`.adoptedlogs`): its job would wait for
    ever once its pipe is full. Stopped as the agent stops one, and ended with the
    reason :data:`UNTAKEN` (the agent then applies its restart policy)."""
    run = monitor.foreign.get(run_id)
    if run is None or run_id in monitor.stopping:
        return
    run.reason = UNTAKEN
    monitor.signal(run_id, signal.SIGTERM)


def foreign_gone(monitor: Monitor, run: Run, reason: str) -> None:
    """The leader of a run we cannot wait for is gone: end it, leftovers first.

    Its leftovers are no children of ours (they went to init with the old monitor),
    so only tracking and the environment markers find them; they get the run's
    stop signal treatment (SIGTERM, SIGKILL after the grace) like any run's.
    """
    monitor.foreign.pop(run.run_id, None)
    if run.exit_code is None and run.signal is None and run.reason != UNTAKEN:  # else known
        run.reason = f"exit status unknown: {reason}"
    run.ended_at = run.ended_at or time.time()
    snapshot = Snapshot.take()
    tracked = monitor.membership.tracked
    for info in marked_processes(snapshot, monitor.state_dir).get(run.run_id, ()):
        tracked.setdefault(run.run_id, set()).add((info.pid, info.start_ticks))
    leftovers = monitor.members(run, snapshot)
    if not leftovers:
        monitor.stopping.pop(run.run_id, None)
        run.state = "ended"
        monitor.store.save(run, durable=True)
        done = monitor.loggers.pop(run.run_id, None)  # if a logger of ours took it over
        if done is not None:
            os.close(done[1])
        monitor.pool.release(run.run_id)
        return
    run.state = "ending"
    monitor.store.save(run, durable=False)
    stop_deadline = monitor.stopping.get(run.run_id)
    if stop_deadline is None:
        monitor.kill(run, leftovers, signal.SIGTERM)
        monitor.kill_at[run.run_id] = time.monotonic() + run.grace
    else:
        monitor.kill_at[run.run_id] = stop_deadline
