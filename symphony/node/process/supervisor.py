"""The ProcessSupervisor actor: one instance's life, from start to stop.

It owns one instance: starts a run through the node monitor, watches it (its end, its
health checks, stop requests), reports every state change as a
:class:`~symphony.node.process.records.StatusUpdate`, and restarts it by its policy.
The job processes belong to the monitor, not to this actor: if the agent dies, the
runs go on, and a new ProcessSupervisor adopts them (``adopt_live``/``adopt_ended``).

The actor is built of three parts: what it knows of its instance and how it reports it
(:mod:`.supervised`), starting a run (:mod:`.runstart`), watching a run to its end
(:mod:`.runwatch`). This module holds the messages and the lifecycle that strings the
runs together: adopt or start, watch, wait out a restart's backoff, start again, until
the policy gives up or a stop comes.

Messages: :class:`StopInstance` (ask; the reply, an InstanceReport, comes once the
instance is stopped: deferred while the stop signal, grace and SIGKILL play out) and
:class:`GetReport` (ask; returns an InstanceReport).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from symphony.actors import Actor, ActorStopped, Reply
from symphony.wire import JobSpec

from .client import MonitorClient
from .mirror import adopt_state
from .nodecontext import NodeContext as NodeContext  # public here too, as it always was
from .proctree import Snapshot
from .records import ProcessState, StartRequest, StatusUpdate
from .restart import Decision
from .runstart import RunStarter
from .runwatch import KILL_REPEAT as KILL_REPEAT
from .runwatch import RunWatcher


@dataclass(frozen=True, slots=True)
class StopInstance:
    """Ask: stop the instance (stop signal to its tree, grace, SIGKILL); reply when done."""


@dataclass(frozen=True, slots=True)
class GetReport:
    """Ask: the instance's current :class:`InstanceReport` (CPU/RSS from ``snapshot``)."""

    snapshot: Snapshot | None = None


class ProcessSupervisor(RunStarter, RunWatcher, Actor):
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
        super().__init__(request=request, spec=spec, client=client, node=node, emit=emit)
        self._adopt_live = adopt_live
        self._adopt_ended = adopt_ended
        self._settled = settled  # adopted in a final state: nothing to run
        self._outcome = outcome  # adopted: how its last run ended, restarts so far
        if stop_requested:  # re-adopted mid-stop: stop what runs, never (re)start it
            self._stop.set()
        self._done = trio.Event()
        self._stop_replies: list[Reply] = []
        self._held = False  # the monitor was told of the stop (see _follow_restart)

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
            if self.spec.health_check is not None and not self._entered:
                self._entered = self._entered_again(self._adopt_live["run_id"])
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
        if self._stop.is_set() and not self._held and not isinstance(successor, str):
            # The monitor may be restarting the job still, ahead of the ends this agent
            # has yet to read: it hears of the stop now, not once they are read.
            self._held = True
            await self.client.request("signal", run_id=successor["run_id"], signal=0, stop=True)
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

    async def _start_and_supervise(self) -> Decision | None:
        started = await self._start_run()
        if started is None or isinstance(started, Decision):
            return started  # it did not start: what the policy (or the stop) decided
        return await self._supervise(started, adopted=False)
