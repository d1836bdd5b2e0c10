"""How a DeploymentSupervisor reschedules a failed replica, or gives up (a mixin of it).

An instance is ``failed`` when its node spent its restart budget. Its replica then
gets a new instance after an exponential delay, preferring another node, up to the
spec's ``reschedule.attempts`` times (the policy itself, pure, is ``retries.py``); past
that, the deployment is ``failed`` until it is started again. The delay is a timer in
this actor's nursery that tells it :class:`~.messages.RescheduleDue`; such timers do
not survive a restart of the actor, so its start resumes them
(:meth:`Rescheduling._resume_retries`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import trio

from symphony.wire.states import InstanceState as S
from symphony.wire.states import is_live

from .messages import RescheduleDue

if TYPE_CHECKING:
    from symphony.actors import ActorRef

    from ..store import DeploymentRecord, InstanceRecord, Store
    from .retries import Decision, Retries


class Rescheduling:
    """The rescheduling of :class:`~.supervisor.DeploymentSupervisor`'s failed replicas."""

    if TYPE_CHECKING:  # provided by DeploymentSupervisor
        record: DeploymentRecord
        store: Store
        _retries: Retries
        _deleting: bool

        @property
        def ref(self) -> ActorRef: ...
        @property
        def nursery(self) -> trio.Nursery: ...
        def _event(
            self, kind: str, message: str, inst: InstanceRecord | None = None, **data: Any
        ) -> None: ...
        def _wanted(self) -> int: ...
        def _latest(self) -> dict[int, InstanceRecord]: ...

    def _resume_retries(self) -> None:
        """After a restart: replicas whose latest run failed are given up (the deployment
        failed) or rescheduled again (their delay timers did not survive)."""
        latest_of = self._latest()
        for replica in range(self._wanted()):
            latest = latest_of.get(replica)
            if latest is None or is_live(latest.state) or latest.state != S.FAILED:
                continue
            if self.record.failure is not None:
                self._retries.gave_up.add(replica)
            else:
                self._reschedule(latest)

    def _reschedule(self, inst: InstanceRecord) -> None:
        if self._deleting or inst.replica >= self._wanted():
            return
        policy = self.record.spec.reschedule
        decision = self._retries.failed(inst.replica, inst.node_id, policy)
        if decision.gives_up:
            reason = (
                f"replica {inst.replica} failed after {decision.attempts} reschedule "
                f"attempt(s): {inst.reason or 'its restart budget was spent'}"
            )
            self._fail_deployment(reason, inst)
            return
        assert decision.delay is not None
        elsewhere = f", preferring a node other than {inst.node_id}" if inst.node_id else ""
        self._event(
            "rescheduled",
            f"replica {inst.replica} will be rescheduled in {decision.delay:.1f} s "
            f"(attempt {decision.attempt} of {decision.attempts}{elsewhere})",
            inst,
            delay_seconds=round(decision.delay, 3),
        )
        self.nursery.start_soon(self._reschedule_later, decision)

    async def _reschedule_later(self, decision: Decision) -> None:
        assert decision.delay is not None
        await trio.sleep(decision.delay)
        await self.ref.tell(RescheduleDue(decision.replica, decision.avoid, decision.attempt))

    def _fail_deployment(self, reason: str, inst: InstanceRecord | None) -> None:
        """Stop trying: the deployment is ``failed`` until it is started again."""
        if self.record.failure is None:
            self.store.set_deployment_failure(self.record.id, reason)
            # The failure only: a newer spec the store may hold is this actor's to take
            # when told of it (see ``_told_change``), not by reading it back here.
            self.record = replace(self.record, failure=reason)
            self._event("failed", f"deployment failed: {reason}", inst)
