"""Watching one run of an instance to its end, and deciding what follows.

:class:`RunWatcher` is the half of a
:class:`~symphony.node.process.supervisor.ProcessSupervisor` that watches a run the
monitor spawned (or an earlier agent left: adopted) until it ends
(:meth:`RunWatcher._supervise`). Beside its end it watches for a stop (the job's stop
signal to its whole tree, or its container runtime's stop; after the grace, SIGKILL
every :data:`KILL_REPEAT` seconds until the monitor reports the end) and, if the spec
has one, its health check (an unhealthy job is ended the same way). A run without a
health check is watched with one event and no task: a crash loop is cheap.

Once the run has ended (:meth:`RunWatcher._after_end`) it reports the exit and decides
what follows: the monitor's own decision when it restarted the run itself (see
:mod:`.mirror`), else the restart policy's (:class:`~.restart.RestartTracker`). A stop's
end is kept for the ``stopped`` update the lifecycle sends (:meth:`RunWatcher._stop_outcome`).
"""

from __future__ import annotations

import functools
import logging
import signal
from typing import Any

import trio

from ..container import CONTAINER_KINDS
from ..container.failure import runtime_failure
from ..container.launch import CONTAINER_STOP_MARGIN, stop_instance_container
from .health import watch_health
from .mirror import mirrored
from .records import Health, signal_name, stopped_fields
from .restart import Decision
from .sampler import TreeSampler
from .supervised import SupervisedInstance

KILL_REPEAT = 1.0  # seconds between SIGKILL sweeps until a stopped run has ended

logger = logging.getLogger(__name__)


class RunWatcher(SupervisedInstance):
    """Watches the runs of one instance to their ends (see the module docstring)."""

    async def _supervise(self, run: dict[str, Any], *, adopted: bool) -> Decision | None:
        self.current = run
        self._sigkill_sent = False
        self._sampler = TreeSampler(run["pid"], run["start_ticks"])
        started = trio.current_time()
        self.reason = None
        self._set("running", adopted=adopted)
        terminate = trio.Event()
        unhealthy: list[str] = []
        self._waiting_reason: str | None = None  # why this run's probes are skipped

        async def stop_when_asked() -> None:
            await self._stop.wait()
            terminate.set()

        # Probing stops when the run is to end (a stop, or its health failed): a probe
        # is part of the job, and one under way is killed with its process group.
        probing = trio.CancelScope()

        async def check_health() -> None:
            assert self.spec.health_check is not None
            with probing:
                reason = await watch_health(
                    self.spec.health_check,
                    on_change=self._health_changed,
                    cwd=self.work_dir(),
                    env=functools.partial(self._probe_env, run["run_id"]),
                    pacer=self.node.probes,
                )
                unhealthy.append(reason)
                terminate.set()

        async def escalate() -> None:
            await terminate.wait()
            probing.cancel()
            # A stop also tells the monitor to restart the instance no more: the run may
            # have ended and been restarted by it already (see Monitor.hold).
            stop = self._stop.is_set()
            if stop:
                self._set("stopping", reason="stop requested")
            if self.spec.kind in CONTAINER_KINDS:  # the runtime stops it, then we sweep
                await stop_instance_container(
                    self.spec,
                    runtimes=self.node.container_runtimes,
                    instance_id=self.request.instance_id,
                    env=self.node.base_env,
                )
                await trio.sleep(CONTAINER_STOP_MARGIN)
            else:
                signum = int(self.spec.signum)
                await self.client.request("signal", run_id=run["run_id"], signal=signum, stop=stop)
                await trio.sleep(self.spec.stop_timeout_seconds)
            while True:  # past the grace: SIGKILL the tree until the monitor reports the end
                self._sigkill_sent = True
                await self.client.request(
                    "signal", run_id=run["run_id"], signal=signal.SIGKILL, stop=stop
                )
                await trio.sleep(KILL_REPEAT)

        ended = None
        if self.spec.health_check is None:
            ended = await self._ended_unless_stopped(run["run_id"])
        if ended is None:  # a stop, a health check: tasks watch the run beside its end
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stop_when_asked)
                nursery.start_soon(escalate)
                if self.spec.health_check is not None:
                    nursery.start_soon(check_health)
                ended = await self.client.wait_ended(run["run_id"])
                nursery.cancel_scope.cancel()
        return await self._after_end(
            ended, started=started, unhealthy=unhealthy[0] if unhealthy else None
        )

    def _probe_env(self, run_id: str) -> dict[str, str] | None:
        """An exec probe's environment: the job's own (as the monitor spawned run
        ``run_id``), made at each probe. None while a secret it names is not held: a
        restarted agent adopts its runs before its link is up, and the Conductor sends
        their secrets again only then; probed without them a healthy job would fail."""
        missing = self._missing_secrets()
        waiting = self._probe_waiting(missing)
        if waiting != self._waiting_reason:
            self._probe_waits(waiting)
        if missing:
            return None
        return {**self._job_env(run_id), **self._entered}

    def _probe_waiting(self, missing: list[str]) -> str | None:
        if not missing:
            return None
        names = self.spec.config.secret_env or {}
        which = ", ".join(f"{name} (secret {names[name]})" for name in missing)
        return f"health check waiting for the secret value of {which}"

    def _probe_waits(self, waiting: str | None) -> None:
        """Say once why the probes are skipped (or that they no longer are): else a
        check whose secret was deleted while the agent was down stays unjudged for ever,
        a hung job never restarted, and nothing tells why (the reason shows in ``ps``)."""
        if waiting is not None:
            # At every agent restart an adopted run waits a moment for its secrets: the
            # reason (in `ps`) is what tells a wait that lasts; the log says it quietly.
            logger.info("instance %s: %s", self.request.instance_id, waiting)
            self._set(self.state, reason=waiting)
        elif self.reason == self._waiting_reason:  # nothing else has said more since
            self._set(self.state, reason=None)
        self._waiting_reason = waiting

    async def _ended_unless_stopped(self, run_id: str) -> dict[str, Any] | None:
        """The run's end record once it has ended, or None as soon as a stop is asked.
        One event, no task: a job crashing in a loop ends many times a second, and the
        tasks that carry out a stop (a nursery, their start and cancellation) cost about
        a tenth of the agent's CPU per restart, on the cores the restarts need."""
        wake = self._wake = trio.Event()
        if self._stop.is_set():
            wake.set()
        self.client.watch_ended(run_id, wake)
        try:
            await wake.wait()
        finally:
            self.client.unwatch_ended(run_id)
        return self.client.ended(run_id)

    def _stop_outcome(self) -> dict[str, Any]:
        """The fields of the ``stopped`` update (see :func:`.records.stopped_fields`)."""
        timeout = self.spec.stop_timeout_seconds
        return stopped_fields(
            self._stopped_run, sigkill_sent=self._sigkill_sent, stop_timeout=timeout
        )

    def _runtime_failure(self, ended: dict[str, Any]) -> str | None:
        """A container run's reason when its runtime failed (exit code 125-127): the
        last words of the run's stderr log (:mod:`..container.failure`), its secret
        values masked once more (the logger masked them in the file)."""
        if self.spec.kind not in CONTAINER_KINDS:
            return None
        return runtime_failure(
            self.spec.kind,
            ended.get("exit_code"),
            str(ended.get("stderr") or ""),
            since=float(ended.get("started_at") or 0.0),
            secrets=self.node.secrets.get(self.request.instance_id, {}).values(),
        )

    def _health_changed(self, health: Health, reason: str | None) -> None:
        self.health = health
        self._set(self.state, reason=reason)

    async def _after_end(
        self, ended: dict[str, Any], *, started: float | None, unhealthy: str | None
    ) -> Decision | None:
        self.current = ended
        self.finished_at = ended.get("ended_at")
        self.exit_code = ended.get("exit_code")
        self.signal = signal_name(ended.get("signal"))
        wall = max(0.0, (ended.get("ended_at") or 0.0) - ended["started_at"])
        runtime = wall if started is None else max(wall, trio.current_time() - started)
        reason = unhealthy and f"unhealthy: {unhealthy}"
        reason = reason or ended.get("reason") or self._runtime_failure(ended)
        by_monitor = mirrored(ended, self.tracker, now=trio.current_time())
        if by_monitor is not None:  # it ended on its own: the monitor applied the rule
            self._successor = by_monitor.successor or by_monitor.spawn_error
        if self._stop.is_set() and self._successor is None:
            self._stopped_run = {**ended, "runtime": round(wall, 6)}
            await self.client.ack(ended["run_id"])  # stopped means nothing is left over
            return None  # the lifecycle reports "stopped" with this exit
        if by_monitor is not None:
            decision = by_monitor.decision
            reason = decision.reason or reason
        else:
            # An unknown exit status (its monitor was gone) counts as a failure: the job
            # more likely outlived a monitor replacement than finished; the reason
            # ("exit status unknown: ...") goes with the restart.
            failed = unhealthy is not None or self.exit_code != 0
            decision = self.tracker.decide(
                failed=failed, runtime=runtime, now=trio.current_time(), reason=reason
            )
        # One `exited` per exit: final when nothing follows (the policy gave up), so the
        # Conductor hears of the exit, and records its event, once.
        final = not decision.restart and decision.state == "exited"
        self._set(
            "exited",
            exit_code=self.exit_code,
            signal=self.signal,
            runtime=round(wall, 6),
            reason=reason,
            final=final,
        )
        self._final_sent = final
        self.client.ack_soon(ended["run_id"])
        return decision
