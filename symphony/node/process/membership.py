"""Which live processes belong to a run, and signalling them all (the node monitor's).

A run's *members* are the live processes that belong to it: the leader, its descendants,
every process seen in an earlier scan (pid + start time, so a reused pid is never
mistaken), and orphans of the monitor whose environment carries the run's id
(``SYMPHONY_RUN_ID``), including in other process groups or sessions.
"""

from __future__ import annotations

import os

from .proctree import ProcInfo, Snapshot, quietly

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .runstore import Run


class Membership:
    """The processes seen in each run (pid, start ticks), as of the last look."""

    def __init__(self, monitor_pid: int) -> None:
        self.pid = monitor_pid
        self.tracked: dict[str, set[tuple[int, int]]] = {}  # run id -> (pid, start ticks)

    def members(
        self, run: Run, snapshot: Snapshot, *, watched: bool, leaders: dict[int, Run]
    ) -> list[ProcInfo]:
        """The live processes of ``run`` (see the module docstring), and track them.

        ``watched``: the run's leader is one we wait for or poll (not yet gone);
        ``leaders``: the monitor's children that lead runs (never another run's member).
        """
        found: dict[int, ProcInfo] = {}

        def add(info: ProcInfo) -> None:
            found[info.pid] = info
            for child in snapshot.descendants(info.pid):
                found[child.pid] = child

        if watched:
            leader = snapshot.by_pid.get(run.pid)
            if leader is not None and snapshot.alive(run.pid, run.start_ticks):
                add(leader)
            elif leader is not None and leader.start_ticks == run.start_ticks:
                found.update((c.pid, c) for c in snapshot.descendants(run.pid))
        for pid, ticks in self.tracked.get(run.run_id, ()):
            if pid not in found and snapshot.alive(pid, ticks):
                add(snapshot.by_pid[pid])
        for pid in snapshot.marked_children(self.pid).get(run.run_id, ()):
            if pid not in found and pid not in leaders:
                add(snapshot.by_pid[pid])
        self.tracked[run.run_id] = {(p.pid, p.start_ticks) for p in found.values()}
        return list(found.values())

    def tracked_elsewhere(self, run: Run) -> bool:
        """Whether a process other than the leader was seen in ``run``."""
        return any(pid != run.pid for pid, _ in self.tracked.get(run.run_id, ()))


def kill(run: Run, members: list[ProcInfo], signum: int, *, unreaped: bool) -> None:
    """Send ``signum`` to every member of ``run`` (``unreaped``: its leader is a child of
    ours not reaped yet, whose pid is still its group's id)."""
    # Groups first (catches processes forked after the scan), then each member the
    # group signal did not reach (those in other groups or sessions). Never our own
    # group. Each process gets the signal once: a shell's TERM trap must run once.
    groups = {m.pgid for m in members}
    if unreaped:
        groups.add(run.pid)
    groups.discard(os.getpgrp())
    reached = {pgid for pgid in groups if pgid > 1 and quietly(os.killpg, pgid, signum)}
    for member in members:
        if member.pgid not in reached:
            quietly(os.kill, member.pid, signum)
