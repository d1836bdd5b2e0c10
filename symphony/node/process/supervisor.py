"""The ProcessSupervisor actor: one instance's life, from start to stop.

It owns one instance: starts a run through the node monitor, watches it (its end, its
health checks, stop requests), reports every state change as a
:class:`~symphony.node.process.records.StatusUpdate`, and restarts it by its policy.
The job processes belong to the monitor, not to this actor: if the agent dies, the
runs go on, and a new ProcessSupervisor adopts them (``adopt_live``/``adopt_ended``).

Messages: :class:`StopInstance` (ask; the reply, an InstanceReport, comes once the
instance is stopped: deferred while the stop signal, grace and SIGKILL play out) and
:class:`GetReport` (ask; returns an InstanceReport).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from symphony.actors import Actor, ActorStopped, Reply
from symphony.wire import JobSpec

from ..container import CONTAINER_KINDS, ContainerError
from ..container.launch import (
    CONTAINER_STOP_MARGIN,
    container_command,
    stop_instance_container,
    unless_stopped,
)
from ..ports import taken_ports
from .client import MonitorClient, MonitorError, MonitorLost
from .devices import device_env
from .health import watch_health
from .mirror import adopt_state, mirrored, restart_plan
from .proctree import RUN_ID_ENV, Snapshot
from .records import (
    FINAL_STATES,
    Health,
    InstanceReport,
    ProcessState,
    StartRequest,
    StatusUpdate,
    signal_name,
    stopped_fields,
)
from .restart import RESTART_JITTER, Decision, RestartTracker
from .sampler import TreeSampler

if TYPE_CHECKING:
    from ..sources.prepare import SourcePreparer

KILL_REPEAT = 1.0  # seconds between SIGKILL sweeps until a stopped run has ended


@dataclass(frozen=True, slots=True)
class StopInstance:
    """Ask: stop the instance (stop signal to its tree, grace, SIGKILL); reply when done."""


@dataclass(frozen=True, slots=True)
class GetReport:
    """Ask: the instance's current :class:`InstanceReport` (CPU/RSS from ``snapshot``)."""

    snapshot: Snapshot | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeContext:
    """What every instance on a node shares."""

    state_dir: str
    node_id: str
    base_env: Mapping[str, str]
    #: The random spread of restart delays (a node setting, not part of a job's spec).
    restart_jitter: float = RESTART_JITTER
    #: Secret values by instance id, then variable: in memory only (never on disk), as
    #: the Conductor sent them; a restart of the run reuses them.
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Where jobs' code and environments come from (``config.image``, ``git``,
    #: ``env_name``); None: a node that runs only jobs without them.
    sources: SourcePreparer | None = None
    #: The container runtimes found on the node: ``{"podman": "/usr/bin/podman"}``.
    container_runtimes: Mapping[str, str] = field(default_factory=dict)
    #: The node's GPU devices (ids); a job that holds none of them must see none.
    gpus: tuple[str, ...] = ()


class ProcessSupervisor(Actor):
    """Runs one instance by its spec (see the module docstring)."""

    def __init__(
        self,
        *,
        request: StartRequest,
        spec: JobSpec,
        client: MonitorClient,
        node: NodeContext,
        emit: Callable[[StatusUpdate], None],
        adopt_live: dict[str, Any] | None = None,
        adopt_ended: dict[str, Any] | None = None,
        settled: ProcessState | None = None,
        outcome: dict[str, Any] | None = None,
        stop_requested: bool = False,
    ) -> None:
        super().__init__()
        self.request = request
        self.spec = spec
        self.client = client
        self.node = node
        self._emit = emit
        self._adopt_live = adopt_live
        self._adopt_ended = adopt_ended
        self._settled = settled  # adopted in a final state: nothing to run
        self._outcome = outcome  # adopted: how its last run ended, restarts so far
        self.tracker = RestartTracker(spec.restart_policy, jitter=node.restart_jitter)
        self.state: ProcessState = "starting"
        self.current: dict[str, Any] | None = None
        self.exit_code: int | None = None
        self.signal: str | None = None
        self.reason: str | None = None
        self.health: Health | None = None
        self.finished_at: float | None = None  # wall clock end of the last run
        self.restart_at: float | None = None  # wall clock start of the next run (restarting)
        self._sampler: TreeSampler | None = None
        self._stop = trio.Event()
        if stop_requested:  # re-adopted mid-stop: stop what runs, never (re)start it
            self._stop.set()
        # Set by a stop request too, while a run is watched without tasks (_supervise).
        self._wake = trio.Event()
        self._done = trio.Event()
        self._stop_replies: list[Reply] = []
        self._stopped_run: dict[str, Any] | None = None  # how the run a stop ended, ended
        self._sigkill_sent = False  # the current run's stop needed SIGKILL
        self._final_sent = False  # the last exit was reported as the final word
        # What the monitor started itself after the last run (see ``mirror``): the new
        # run's record, or why it could not be spawned.
        self._successor: dict[str, Any] | str | None = None

    # ---- messages -------------------------------------------------------------------
    async def on_start(self) -> None:
        self.nursery.start_soon(self._lifecycle)

    async def receive(self, message: Any) -> Any:
        if isinstance(message, GetReport):
            return self.report(message.snapshot)
        if isinstance(message, StopInstance):
            if self._done.is_set():
                if self.state != "stopped":
                    self._set("stopped", reason="stop requested", final=True)
                return self.report()
            self._stop.set()
            self._wake.set()
            self._stop_replies.append(self.defer_reply())
            return None
        raise TypeError(f"ProcessSupervisor cannot handle {type(message).__name__}")

    def report(self, snapshot: Snapshot | None = None) -> InstanceReport:
        """The instance as it is now."""
        cpu, rss = 0.0, 0
        if snapshot is not None and self._sampler is not None and self.state == "running":
            cpu, rss = self._sampler.sample(snapshot)
        running = self.current is not None and self.state in ("running", "stopping")
        return InstanceReport(
            instance_id=self.request.instance_id,
            deployment_id=self.request.deployment_id,
            replica=self.request.replica,
            state=self.state,
            pid=self.current["pid"] if running and self.current else None,
            started_at=self.current.get("started_at") if running and self.current else None,
            run_id=self.current["run_id"] if self.current else None,
            restarts=self.tracker.restarts,
            exit_code=self.exit_code,
            signal=self.signal,
            reason=self.reason,
            health=self.health,
            cpu_percent=cpu,
            rss_bytes=rss,
            finished_at=self.finished_at if self.state in FINAL_STATES else None,
            restart_at=self.restart_at,
            devices=self.request.devices,
        )

    def outcome(self) -> dict[str, Any]:
        """How the last run ended, for the agent's own record (see ``localstate``)."""
        return {
            "exit_code": self.exit_code,
            "signal": self.signal,
            "reason": self.reason,
            "finished_at": self.finished_at,
            "restarts": self.tracker.restarts,
        }

    def _restore(self, outcome: dict[str, Any] | None) -> None:
        if not outcome:
            return
        code, name = outcome.get("exit_code"), outcome.get("signal")
        self.exit_code = code if isinstance(code, int) else None
        self.signal = name if isinstance(name, str) else None
        reason, finished = outcome.get("reason"), outcome.get("finished_at")
        self.reason = reason if isinstance(reason, str) else None
        self.finished_at = float(finished) if isinstance(finished, int | float) else None
        restarts = outcome.get("restarts")
        if isinstance(restarts, int) and restarts >= 0:
            self.tracker.restarts = restarts

    def _set(self, state: ProcessState, **fields: Any) -> None:
        self.state = state
        self.restart_at = fields.get("restart_at") if state == "restarting" else None
        if "reason" in fields:
            self.reason = fields["reason"]
        run = self.current
        self._emit(
            StatusUpdate(
                instance_id=self.request.instance_id,
                deployment_id=self.request.deployment_id,
                state=state,
                at=time.time(),
                run_id=run["run_id"] if run else None,
                pid=run["pid"] if run and state in ("running", "stopping") else None,
                started_at=run.get("started_at")
                if run and state in ("running", "stopping")
                else None,
                restarts=self.tracker.restarts,
                health=self.health,
                devices=self.request.devices,
                **fields,
            )
        )

    # ---- the life of the instance ---------------------------------------------------
    async def _lifecycle(self) -> None:
        try:
            await self._live()
        finally:
            # Cancelled (the monitor went away, the agent is shutting down): a deferred
            # reply is not answered by the runtime, so answer the pending stops here;
            # the manager then retries on the re-adopted instance.
            for reply in self._stop_replies:
                reply.fail(ActorStopped(f"the supervisor of {self.request.instance_id} ended"))
            self._stop_replies.clear()

    async def _live(self) -> None:
        decision: Decision | None = None
        self._restore(self._outcome)  # adopted: what an earlier agent knew
        if self._settled is not None:
            self.state = self._settled
            self._done.set()
            return
        if self._adopt_live is not None:
            adopt_state(self._adopt_live, self.tracker, now=trio.current_time())
            decision = await self._supervise(self._adopt_live, adopted=True)
        elif self._adopt_ended is not None:
            self.current = self._adopt_ended
            decision = await self._after_end(self._adopt_ended, started=None, unhealthy=None)
        while True:
            successor, self._successor = self._successor, None
            if successor is not None:  # restarted by the monitor: mirror, then watch it
                decision = await self._follow_restart(successor, decision)
                continue
            if self._stop.is_set():
                break
            if decision is not None:
                if not decision.restart:
                    if not self._final_sent:  # `failed`: the last word carries the exit
                        self._set(
                            decision.state,
                            reason=decision.reason,
                            final=True,
                            exit_code=self.exit_code,
                            signal=self.signal,
                        )
                    break
                self._set(
                    "restarting",
                    delay=decision.delay,
                    restart_at=time.time() + decision.delay,
                    reason=decision.reason,
                )
                with trio.move_on_after(decision.delay):
                    await self._stop.wait()
                if self._stop.is_set():
                    break
            decision = await self._start_and_supervise()
        if self._stop.is_set():
            self._set("stopped", final=True, **self._stop_outcome())
        self._done.set()
        report = self.report()
        for reply in self._stop_replies:
            reply.send(report)
        self._stop_replies.clear()

    async def _follow_restart(
        self, successor: dict[str, Any] | str, decision: Decision | None
    ) -> Decision | None:
        """The monitor restarted the run at once: say so as a restart by the agent would
        (``restarting``, ``starting``), then supervise the new run, or decide on its
        spawn error. A stop that came meanwhile stops the new run."""
        if not self._stop.is_set() and decision is not None and decision.restart:
            self._set(
                "restarting", delay=decision.delay, restart_at=time.time(), reason=decision.reason
            )
            self.current = None
            self.health = None
            self._set("starting")
        if isinstance(successor, str):
            self.reason = successor
            return self.tracker.decide(
                failed=True,
                runtime=0.0,
                now=trio.current_time(),
                reason=successor,
                spawn_error=True,
            )
        return await self._supervise(successor, adopted=False)

    def _job_env(self, run_id: str) -> dict[str, str]:
        request = self.request
        env = dict(self.node.base_env)
        env.update(self.spec.config.env)
        env.update(self._secret_values())
        env.update(
            SYMPHONY_DEPLOYMENT=request.deployment_id or "",
            SYMPHONY_INSTANCE=request.instance_id,
            SYMPHONY_NODE_ID=self.node.node_id,
            SYMPHONY_REPLICA="" if request.replica is None else str(request.replica),
        )
        # After the spec's env: a job cannot name devices it does not hold.
        env.update(device_env(request.devices, node_has_devices=bool(self.node.gpus)))
        env[RUN_ID_ENV] = run_id
        return env

    def _secret_values(self) -> dict[str, str]:
        """The values of the spec's secret variables that this node holds."""
        held = self.node.secrets.get(self.request.instance_id, {})
        return {name: held[name] for name in self.spec.config.secret_env or {} if name in held}

    def _missing_secrets(self) -> list[str]:
        held = self._secret_values()
        return sorted(name for name in self.spec.config.secret_env or {} if name not in held)

    def own_dir(self) -> str:
        """The instance's own directory in the state dir (its code goes there)."""
        return os.path.join(self.node.state_dir, "work", self.request.instance_id)

    def work_dir(self) -> str:
        """The job's working directory: ``config.cwd``, or its own dir in the state dir.
        With code (``image``, ``git``), a relative ``cwd`` is inside its own dir."""
        config = self.spec.config
        if config.cwd:  # "" only in a spec stored before it was refused
            has_code = config.image is not None or config.git is not None
            # An absolute cwd stays absolute.
            base = self.own_dir() if has_code else self.node.state_dir
            return os.path.join(base, config.cwd)
        return self.own_dir()

    async def _with_sources(
        self, command: list[str], env: dict[str, str]
    ) -> tuple[list[str], dict[str, str]]:
        """Put the job's code in place (once per instance) and enter its environment;
        raises SourceError with the reason."""
        from ..sources.envs import in_env
        from ..sources.prepare import SourceError

        config, sources = self.spec.config, self.node.sources
        if sources is None:
            raise SourceError("this node was started without a source cache")

        def say(text: str) -> None:
            self._set("starting", reason=text)

        await sources.prepare(config, self.own_dir(), say)
        if config.env_name is not None:
            return in_env(await sources.env(config.env_name), command, env)
        return command, env

    async def _start_and_supervise(self) -> Decision | None:
        self.current = None
        self.health = None
        self._set("starting")
        # 48 random bits, as uuid4().hex[:12] gave (uuid would stay resident in the agent)
        run_id = f"{self.request.instance_id}.{os.urandom(6).hex()}"
        cwd = self.work_dir()
        spec = self.spec
        missing = self._missing_secrets()
        if missing:
            # After an agent restart the values come again from the Conductor: until
            # then a run cannot start (the restart policy's backoff retries it).
            reason = f"spawn error: waiting for the secret value of {', '.join(missing)}"
            self.reason = reason
            return self.tracker.decide(
                failed=True, runtime=0.0, now=trio.current_time(), reason=reason, spawn_error=True
            )
        taken = taken_ports(spec.experiment.fixed_ports() if spec.experiment else ())
        if taken:
            listed = ", ".join(map(str, taken))
            reason = f"spawn error: fixed port {listed} taken on this node by another program"
            self.reason = reason
            return self.tracker.decide(
                failed=True, runtime=0.0, now=trio.current_time(), reason=reason, spawn_error=True
            )
        command, env = list(spec.config.command), self._job_env(run_id)
        if spec.kind == "exec" and spec.config.needs_sources:  # a container's image is no source
            from ..sources.prepare import SourceError

            try:
                prepared = await unless_stopped(self._stop, self._with_sources, command, env)
            except SourceError as error:
                self.reason = f"source: {error}"
                return Decision(restart=False, state="failed", reason=self.reason)
            if prepared is None or self._stop.is_set():
                return None  # stopped while its code was being fetched: nothing ran
            command, env = prepared
        if not self.spec.config.cwd:
            os.makedirs(cwd, mode=0o700, exist_ok=True)
        try:
            if spec.kind in CONTAINER_KINDS:  # the runtime's client is the job's process
                argv = await unless_stopped(
                    self._stop,
                    container_command,
                    spec,
                    runtimes=self.node.container_runtimes,
                    instance_id=self.request.instance_id,
                    workdir=cwd,
                    env=env,
                    base_env=self.node.base_env,
                    private=(RUN_ID_ENV,),
                    progress=self._progress,
                    devices=self.request.devices,
                )
                if argv is None:  # a stop came during the pull: nothing was started
                    return None
                command = argv
            reply = await self.client.request(
                "spawn",
                run_id=run_id,
                instance_id=self.request.instance_id,
                command=command,
                env=env,
                cwd=cwd,
                log_max_bytes=spec.log_max_bytes,
                log_backups=spec.log_backups,
                grace=spec.stop_timeout_seconds,
                # The devices go in the run record too: the monitor keeps it while the
                # run lives, whatever becomes of the agent.
                meta={
                    "instance_id": self.request.instance_id,
                    "devices": list(self.request.devices),
                },
                mask=list(self._secret_values().values()),
                restart=restart_plan(
                    spec, self.tracker, jitter=self.node.restart_jitter, now=trio.current_time()
                ),
            )
        except MonitorLost:
            raise  # not this job's fault: let the process layer restart and re-adopt
        except (MonitorError, ContainerError) as error:
            reason = f"spawn error: {error}"
            self.reason = reason
            return self.tracker.decide(
                failed=True, runtime=0.0, now=trio.current_time(), reason=reason, spawn_error=True
            )
        return await self._supervise(reply["run"], adopted=False)

    async def _supervise(self, run: dict[str, Any], *, adopted: bool) -> Decision | None:
        self.current = run
        self._sigkill_sent = False
        self._sampler = TreeSampler(run["pid"], run["start_ticks"])
        started = trio.current_time()
        self.reason = None
        self._set("running", adopted=adopted)
        terminate = trio.Event()
        unhealthy: list[str] = []

        async def stop_when_asked() -> None:
            await self._stop.wait()
            terminate.set()

        async def check_health() -> None:
            assert self.spec.health_check is not None
            reason = await watch_health(
                self.spec.health_check, on_change=self._health_changed, cwd=self.work_dir()
            )
            unhealthy.append(reason)
            terminate.set()

        async def escalate() -> None:
            await terminate.wait()
            if self._stop.is_set():
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
                await self.client.request("signal", run_id=run["run_id"], signal=signum)
                await trio.sleep(self.spec.stop_timeout_seconds)
            while True:  # past the grace: SIGKILL the tree until the monitor reports the end
                self._sigkill_sent = True
                await self.client.request("signal", run_id=run["run_id"], signal=signal.SIGKILL)
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

    def _progress(self, text: str) -> None:
        """News while a run is prepared (an image pull): a ``starting`` update."""
        self._set("starting", reason=text)

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
        reason = reason or ended.get("reason")
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
