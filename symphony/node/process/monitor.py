"""The node monitor's core: it owns every job process, reaps them and records exits.

One small, single-threaded, blocking Python process per node (see ``monitor_server`` for
its socket and ``daemon`` for how the agent starts it). It outlives the agent, so a
killed agent loses no job and no exit code. Why one per node and not one per job: a
Python process costs ~10 MB, a run record here costs a few kilobytes (measured in
``benchmarks/process.py``).

The monitor is a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``): when a job's
process dies, its orphaned children are re-parented to the monitor instead of init. So
(1) no zombie is left behind, the monitor reaps everything, and (2) a job's leftovers can
still be found after its leader is gone.

A run's *members* are the live processes that belong to it (:mod:`.membership`). A new
monitor takes over the runs an earlier one left (:mod:`.takeover`).

When a leader exits, its exit code (or signal) and time are recorded, and any members
left get SIGTERM, then SIGKILL after the run's grace period; the run *ends* (and is
announced) only when no member is left. Like a container whose PID 1 exits: nothing of a
run survives it, so a restart can never make a job run twice.

**Restarts.** A spawn may carry the instance's restart rule (``restart``: its policy,
the jitter and the rule's state so far, :mod:`.restartrule`). When such a run ends on
its own (the agent sent it no signal: no stop, no health check's kill), the monitor
applies the rule itself, in the same loop iteration as the reaping: policy, backoff and
budget. With no delay, it spawns the next run at once from the same request (kept in
memory only: it holds the job's secrets), so a restart costs no round trip to the
agent; then it announces the end with its decision (``Run.decision``) and the new run.
The agent mirrors that. A restart with a delay is waited out by the agent (which can
cancel it with a stop); runs adopted from an earlier monitor have no request kept and
are decided by the agent, as before.

**Restart first, bookkeeping after.** Only the job's own start is on a restart's path:
reap, decide, ``posix_spawn``. Everything else waits in a queue done in order once
the deaths are handled, with a reap before each step (``_catch_up``): the new run's
pipes handed to its logger (:mod:`.logpool`; at worst a fork, whose copy-on-write
faults slow the monitor for a while after), the records, the wait for the last run's
output, the announcement (which wakes the agent, and the Conductor after it). So a job
killed while the monitor is busy with an earlier death is restarted within one step,
not after all of them. The guarantees hold in the queue's order: a run's pipes reach
its logger before that run's end is handled, and are read after the instance's
previous run's output is written (so two runs' lines never mix), and an end is
announced only once its logger has written everything of it. A step never blocks: the
end of a run whose logger still drains (well under a millisecond; up to
:data:`LOGGER_WAIT` if a process that escaped the run holds its pipe) waits at the head
of the queue while the loop, woken by the run's done pipe (:meth:`Monitor.waiting_for`),
goes on.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from collections.abc import Callable
from functools import partial

from . import logfiles
from .adoptedlogs import AdoptedOutput, mask_meta, pipe_meta
from .joblogger import logger_gone, wait_logger
from .logpool import LoggerPool
from .membership import Membership, kill
from .proctree import RUN_ID_ENV, STATE_DIR_ENV, ProcInfo, Snapshot, become_subreaper, read_proc
from .restartrule import Restarts, rule_of_plan
from .runstore import Run, RunStore, text_field
from .spawn import SpawnError, Started, start_job
from .syncer import Syncer
from .takeover import load, poll_foreign

TYPE_CHECKING = False  # not typing: 0.8 MiB the long-lived monitor would keep
if TYPE_CHECKING:
    from typing import Any

SCAN_INTERVAL = 2.0  # seconds between membership scans of running jobs
ENDING_POLL = 0.05  # seconds between checks that a dead leader's leftovers are gone
FOREIGN_POLL = 1.0  # seconds between liveness checks of runs we cannot waitpid()
LOGGER_WAIT = 2.0  # seconds an ended run's announcement waits at most for its logger


class Monitor:
    """Every run of one node, and the operations the agent asks for."""

    def __init__(self, state_dir: str, *, announce: Callable[[Run], None]) -> None:
        self.state_dir = os.path.abspath(state_dir)
        self.store = RunStore(os.path.join(self.state_dir, "runs"))
        self.announce = announce  # called once per run when it has ended
        self.pid = os.getpid()
        self.runs: dict[str, Run] = {}
        self.leaders: dict[int, Run] = {}  # our children we wait for
        self.foreign: dict[str, Run] = {}  # live runs started by an earlier monitor
        self.membership = Membership(self.pid)  # the processes of each run
        self.kill_at: dict[str, float] = {}  # ending run id -> when to SIGKILL leftovers
        self.stopping: dict[str, float] = {}  # signalled run id -> end of its grace
        # run id -> its logger: (pid, a descriptor at EOF once it has drained the run)
        self.loggers: dict[str, tuple[int, int]] = {}
        self.logged: dict[str, list[str]] = {}  # instance id -> its runs in loggers, in order
        self.pool = LoggerPool(self.loggers)  # the loggers' processes, shared by runs
        self.adopted = AdoptedOutput(self.pool)  # the output of an earlier monitor's runs
        self._next_scan = self._next_foreign = 0.0
        self._snapshot: Snapshot | None = None
        self._unsynced: list[str] = []  # ended runs whose record awaits fsync
        self._syncer = Syncer(self.store.sync, self.store.delete)  # off the loop
        # run id -> (its spawn request, its restart rule): in memory only (secrets)
        self.plans: dict[str, tuple[dict[str, Any], Restarts]] = {}
        self.signalled: set[str] = set()  # runs the agent signalled: it decides for them
        # Bookkeeping left behind by restarts, done in order once no job is waiting to
        # be restarted (see _catch_up): loggers to fork, records to write, exits to announce.
        self._after: deque[Callable[[], bool | None]] = deque()
        # The logger the head of that queue waits for: (run id, deadline)
        self._waiting: tuple[str, float] | None = None
        self.finishing: set[str] = set()  # ended runs not announced yet (loggers drain)
        self.closing = False  # shutting down with its jobs: restart nothing
        self.subreaper = become_subreaper()
        load(self)  # an earlier monitor's runs

    def records(self) -> list[dict[str, Any]]:
        """Every run's record, for the agent's hello. An end whose bookkeeping waits (for
        its logger) shows as ``ending``: it is reported, and acknowledged, once announced."""
        ending = {"state": "ending"}
        return [
            {**run.public(), **ending} if run.run_id in self.finishing else run.public()
            for run in self.runs.values()
        ]

    def snapshot(self) -> Snapshot:
        """The process table, scanned at most once per loop iteration.

        200 stop requests or exits arriving together share one ``/proc`` scan (a few ms
        with hundreds of processes) instead of paying for one each. A spawn invalidates
        it; a process forked since the scan is still caught by the group kill.
        """
        if self._snapshot is None:
            self._snapshot = Snapshot.take()
        return self._snapshot

    def sync(self) -> None:
        """Make the exits recorded in this iteration durable (in the background, within
        ``SYNC_DELAY`` unless the agent acknowledges them first: see :mod:`.syncer`)."""
        if self._unsynced:
            self._syncer.submit(self._unsynced)
            self._unsynced.clear()

    def flush(self) -> None:
        """Wait until every exit recorded so far is durable (before the monitor exits)."""
        self.sync()
        self._syncer.flush()

    def idle(self) -> bool:
        """True when exiting would lose nothing: no run lives (ours or an earlier
        monitor's), no end waits for its leftovers or its bookkeeping. An ended run the
        agent has not acknowledged yet is no reason to stay: its record is on disk, made
        durable by :meth:`flush` before the monitor exits, and the next monitor reports
        it (:mod:`.takeover`)."""
        if self.leaders or self.foreign or self.kill_at or self._after or self.finishing:
            return False
        return all(run.state == "ended" for run in self.runs.values())

    def new_iteration(self) -> None:
        """Called by the loop before handling a new batch of events."""
        self._snapshot = None

    # ---- operations -----------------------------------------------------------------
    def spawn(self, request: dict[str, Any], *, rule: Restarts | None = None) -> Run:
        """Start a run (raises SpawnError with the reason, or ValueError for bad input).

        With a restart rule (``request["restart"]``, or ``rule`` for a restart of ours),
        the monitor restarts the run when it ends on its own (see the module docstring).
        """
        run, started = self.start(request, rule)
        self.attach(run, started)
        return run

    def start(self, request: dict[str, Any], rule: Restarts | None) -> tuple[Run, Started]:
        """Start the job of a run, not yet its logger (:meth:`attach`, before any reap)."""
        run_id = text_field(request, "run_id")
        instance_id = logfiles.check_instance_id(request.get("instance_id"))
        if run_id in self.runs:
            raise ValueError(f"run {run_id!r} already exists")
        command = request.get("command")
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(part, str) for part in command)
        ):
            raise ValueError("command must be a non-empty list of strings")
        env = request.get("env")
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise ValueError("env must be a mapping of strings to strings")
        mask = request.get("mask") or []
        if not isinstance(mask, list) or not all(isinstance(m, str) for m in mask):
            raise ValueError("mask must be a list of strings")
        if rule is None and request.get("restart") is not None:
            rule = rule_of_plan(request["restart"], time.monotonic())
        stdout = logfiles.log_path(self.state_dir, instance_id, "stdout")
        stderr = logfiles.log_path(self.state_dir, instance_id, "stderr")
        os.makedirs(os.path.dirname(stdout), mode=0o700, exist_ok=True)
        self._snapshot = None
        started = start_job(
            command=command,
            env={**env, STATE_DIR_ENV: self.state_dir},  # see _load
            cwd=text_field(request, "cwd"),
            log_dir=os.path.dirname(stdout),
            max_bytes=int(request.get("log_max_bytes", 10 * 1024 * 1024)),
            backups=int(request.get("log_backups", 5)),
            mask=tuple(m.encode() for m in mask),
        )
        # Read now: the job is our child and not reaped, so its entry is there even if
        # it has died already.
        info = read_proc(started.pid)
        run = Run(
            run_id=run_id,
            instance_id=instance_id,
            pid=started.pid,
            start_ticks=info.start_ticks if info else 0,
            started_at=time.time(),
            stdout=stdout,
            stderr=stderr,
            log_max_bytes=int(request.get("log_max_bytes", 10 * 1024 * 1024)),
            log_backups=int(request.get("log_backups", 5)),
            grace=float(request.get("grace", 10.0)),
            meta=dict(request.get("meta") or {}),
        )
        if mask:  # where a new monitor finds them, should it have to (.adoptedlogs)
            run.meta.update(mask_meta(env, mask))
        run.meta.update(pipe_meta(started.pipes.out_r, started.pipes.err_r))
        self.runs[run_id] = run
        self.leaders[started.pid] = run
        if rule is not None:
            self.plans[run_id] = ({k: v for k, v in request.items() if k != "restart"}, rule)
        return run, started

    def attach(self, run: Run, started: Started) -> None:
        """Give a started run to a logger (:mod:`.logpool`), then write the run's record.

        A run of an instance whose previous run is with a logger goes to that logger;
        otherwise to one with room, told to wait for the previous run's logger if that
        may still drain. A run too large to describe to a shared logger gets one of its own.
        """
        # Its instance's latest run with a logger (a scan of all loggers was quadratic).
        logged = self.logged.setdefault(run.instance_id, [])
        previous = next((r for r in reversed(logged) if r in self.runs), None)
        after = self.loggers[previous][1] if previous in self.loggers else None
        try:
            pid = self.pool.attach(run.run_id, started, previous=previous, after=after)
            if pid is None:
                pid, _ = started.start_logger(after=after)
        except OSError as error:  # the job was killed: the agent decides what comes next
            started.abandon()
            run.reason = f"spawn error: cannot start the job's logger: {error}"
        else:
            self.loggers[run.run_id] = (pid, started.pipes.done_r)
            logged.append(run.run_id)
        self.store.save(run, durable=False)

    def _restart(self, run: Run) -> None:
        """Apply the restart rule to a run that ended on its own; restart it if the rule
        says so at once. Sets ``run.decision`` (None: the agent decides)."""
        plan = self.plans.pop(run.run_id, None)
        signalled = run.run_id in self.signalled
        self.signalled.discard(run.run_id)
        if plan is None or signalled or run.reason or self.closing:
            return
        request, rule = plan
        now = time.monotonic()
        runtime = max(0.0, (run.ended_at or time.time()) - run.started_at)
        failed = run.exit_code != 0 or run.signal is not None
        decision = rule.decide(failed=failed, runtime=runtime, now=now)
        out: dict[str, Any] = {**decision.public(), "restarts": rule.export(now)}
        if decision.restart and decision.delay == 0:
            run_id = f"{run.instance_id}.{os.urandom(6).hex()}"
            fresh = {
                **request,
                "run_id": run_id,
                "env": {**request["env"], RUN_ID_ENV: run_id},
                "meta": {**(request.get("meta") or {}), "restarts": out["restarts"]},
            }
            try:
                successor, started = self.start(fresh, rule)
            except (SpawnError, ValueError, OSError) as error:
                out["spawn_error"] = str(error)
            else:
                out["next"] = successor.public()
                self._after.append(partial(self.attach, successor, started))
        run.decision = out

    def signal(self, run_id: str, signum: int, *, stop: bool = False) -> int:
        """Send ``signum`` to every member of a run; return how many members there were
        (``stop``: it stops the instance, see :meth:`hold`)."""
        run = self.runs.get(run_id)
        if run is None:
            raise KeyError(f"no run {run_id!r}")
        if stop:
            self.hold(run)
        if run.state == "ended":
            return 0
        members = self.members(run, self.snapshot())
        if signum:
            self.signalled.add(run_id)  # a stop or a health check's kill: the agent decides
            self.kill(run, members, signum)
            if signum != signal.SIGKILL:
                # A stop is under way: its signal reached every member. If the leader
                # goes first, its leftovers get SIGKILL when the grace is over, not a
                # second stop signal.
                self.stopping.setdefault(run_id, time.monotonic() + run.grace)
        return len(members)

    def hold(self, run: Run) -> None:
        """Restart the instance of ``run`` no more: it is being stopped. Its run may have
        ended and been restarted here since the agent knew (a stop then chased over a
        thousand restarts); whichever run lives now, its end is left to the agent."""
        self.plans.pop(run.run_id, None)  # live: nothing of the instance started after it
        if run.state == "ended":
            for run_id in [r for r in self.plans if self.runs[r].instance_id == run.instance_id]:
                del self.plans[run_id]

    def ack(self, run_id: str) -> None:
        """The agent has reported this run's end: forget it."""
        run = self.runs.get(run_id)
        self.signalled.discard(run_id)
        if run is not None and run.state == "ended":
            del self.runs[run_id]
            self._syncer.forget(run_id)  # its record: deleted off the loop

    def kill_all(self) -> None:
        """SIGKILL every member of every run and wait until they are all reaped."""
        self.closing = True  # nothing killed here is restarted
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            snapshot = Snapshot.take()
            alive = False
            for run in list(self.runs.values()):
                if run.state != "ended":
                    members = self.members(run, snapshot)
                    alive = alive or bool(members)
                    self.kill(run, members, signal.SIGKILL)
            self.reap()
            self.tick(force=True)
            if not alive:
                break
            time.sleep(0.01)
        self._catch_up(block=True)  # every end is announced before the monitor goes

    # ---- membership -----------------------------------------------------------------
    def members(self, run: Run, snapshot: Snapshot) -> list[ProcInfo]:
        """The live processes of ``run`` (:mod:`.membership`), and track them."""
        watched = self.leaders.get(run.pid) is run or run.run_id in self.foreign
        return self.membership.members(run, snapshot, watched=watched, leaders=self.leaders)

    def kill(self, run: Run, members: list[ProcInfo], signum: int) -> None:
        """Send ``signum`` to every member of ``run``, once each."""
        kill(run, members, signum, unreaped=self.leaders.get(run.pid) is run)

    # ---- events ---------------------------------------------------------------------
    def reap(self) -> None:
        """Collect every exited child: job leaders get their exit recorded and, by their
        restart rule, their next run started; then the bookkeeping (:meth:`_catch_up`)."""
        self._collect()
        self._catch_up()

    def _collect(self) -> None:
        """Collect every exited child: the part of :meth:`reap` that nothing waits for."""
        fresh = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run = self.leaders.pop(pid, None)
            if run is None:
                self.pool.reaped(pid)  # a logger, or an orphan re-parented to us
                continue
            if not fresh:  # one scan after these deaths, shared by the whole batch
                self._snapshot = None
                fresh = True
            run.ended_at = time.time()
            if os.WIFSIGNALED(status):
                run.signal = os.WTERMSIG(status)
            else:
                run.exit_code = os.waitstatus_to_exitcode(status)
            self._leader_gone(run)

    def _orphans(self) -> bool | None:
        """Whether we have children that are not job leaders (None: cannot tell).

        When a leader dies its children are re-parented to us, so a run with no tracked
        member elsewhere and no orphan among our children has no leftovers: that answer
        costs one small read instead of a scan of the whole process table.
        """
        try:
            with open(f"/proc/self/task/{self.pid}/children") as f:
                children = f.read().split()
        except OSError:
            return None
        # Our children, never leftovers:
        loggers = self.pool.pids().union(pid for pid, _ in self.loggers.values())
        return any(int(c) not in self.leaders and int(c) not in loggers for c in children)

    def _leader_gone(self, run: Run) -> None:
        if not self.membership.tracked_elsewhere(run) and self._orphans() is False:
            self._end(run)
            return
        leftovers = self.members(run, self.snapshot())
        if not leftovers:
            self._end(run)
            return
        run.state = "ending"
        stop_deadline = self.stopping.get(run.run_id)
        if stop_deadline is None:
            self.kill(run, leftovers, signal.SIGTERM)
            self.kill_at[run.run_id] = time.monotonic() + run.grace
        else:  # they had the stop signal already: one stop, one signal
            self.kill_at[run.run_id] = stop_deadline

    def _end(self, run: Run) -> None:
        run.state = "ended"
        self.kill_at.pop(run.run_id, None)
        self.stopping.pop(run.run_id, None)
        self.membership.tracked.pop(run.run_id, None)
        # The restart first: it waits for nothing. The rest waits behind it.
        self._restart(run)
        self.finishing.add(run.run_id)
        self._after.append(partial(self._finish, run))

    def _finish(self, run: Run) -> bool:
        """An ended run's bookkeeping: its logs complete, its record, its announcement.

        False (nothing done yet) while its logger still drains: the queue waits for it.
        """
        # The logger drains the last bytes of the job's pipes: once it closes the run's
        # done pipe, the files hold everything, so whoever reads them after the exit is
        # announced sees it all. (A restart's pipes reach the logger before this: they
        # were queued first.)
        logger = self.loggers.get(run.run_id)
        if logger is not None:
            if self._waiting is None or self._waiting[0] != run.run_id:
                self._waiting = (run.run_id, time.monotonic() + LOGGER_WAIT)
            if time.monotonic() < self._waiting[1]:
                # Not written yet, or its logger was killed: then another takes it over.
                written = logger_gone(logger[1])
                if written is None or (written is False and self.pool.rescue(run.run_id)):
                    return False
            self._waiting = None
            os.close(self.loggers.pop(run.run_id)[1])  # a rescue replaced the descriptor
        if rest := [r for r in self.logged.pop(run.instance_id, []) if r != run.run_id]:
            self.logged[run.instance_id] = rest
        self.pool.release(run.run_id)  # its logger exits once it has no run left
        self.store.save(run, durable=False)
        self.finishing.discard(run.run_id)
        self.announce(run)  # first, so that a restart does not wait for the disk...
        self._unsynced.append(run.run_id)  # ...which sync() hands to its fsync thread
        return True

    def _catch_up(self, *, block: bool = False) -> None:
        """Do the bookkeeping restarts left behind, one step at a time, reaping before
        each: a job that died meanwhile is restarted before the next step, not after
        them all (a fork, a record, an announcement that wakes the agent: each costs
        the restart a millisecond or more on a busy machine). A step that must wait for
        a logger stops the queue until the loop sees that logger done (``block``: wait
        here instead, when the monitor is closing)."""
        while self._after:
            self._collect()
            if not self._after:
                return
            if self._after[0]() is False:
                if not block or self._waiting is None:
                    return
                done = self.loggers[self._waiting[0]][1]
                wait_logger(done, self._waiting[1] - time.monotonic(), close=False)
                continue
            self._after.popleft()

    def waiting_for(self) -> int | None:
        """The descriptor of the logger the bookkeeping waits for (readable once that
        logger is done), for the loop to wake on; None if it waits for none."""
        return self.loggers[self._waiting[0]][1] if self._waiting else None

    def tick(self, *, force: bool = False) -> None:
        """Periodic work: leftovers, membership scans, foreign runs."""
        now = time.monotonic()
        if self.kill_at:
            self._snapshot = None  # leftovers are dying: look afresh
            snapshot = self.snapshot()
            for run_id, deadline in list(self.kill_at.items()):
                run = self.runs[run_id]
                leftovers = self.members(run, snapshot)
                if not leftovers:
                    self._end(run)
                elif now >= deadline:
                    self.kill(run, leftovers, signal.SIGKILL)
        if now >= self._next_scan and (self.leaders or self.foreign):
            self._next_scan = now + SCAN_INTERVAL
            snapshot = Snapshot.take()
            for run in [*self.leaders.values(), *self.foreign.values()]:
                self.members(run, snapshot)
        if self.foreign and (force or now >= self._next_foreign):
            self._next_foreign = now + FOREIGN_POLL
            poll_foreign(self)
        self._catch_up()

    def next_timeout(self) -> float:
        """How long the loop may sleep before :meth:`tick` has work."""
        if self._waiting is not None:  # its logger wakes the loop: this is the bound
            return max(0.0, self._waiting[1] - time.monotonic())
        if self.kill_at:
            return ENDING_POLL
        if self.foreign:
            return max(0.0, min(FOREIGN_POLL, self._next_foreign - time.monotonic()))
        if self.leaders:
            return max(0.0, min(SCAN_INTERVAL, self._next_scan - time.monotonic()))
        return 5.0
