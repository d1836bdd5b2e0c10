"""Changing a deployment: update, promote, roll back, restart (a mixin of the manager).

Each change is checked, stored (a new version if its template is new: it rolls out),
recorded as an event and only then told to the deployment's supervisor
(:class:`SpecChanged`), so what the API acknowledged is on disk before anything acts on
it; a supervisor restarted meanwhile reads it back from the store. A promote is asked
of the supervisor (bounded: it drives the roll) from a background task that answers
the API later, so a supervisor with a full mailbox holds up no other request; nothing
is stored here. A change to a
deployment being deleted is refused before anything is stored (see ``teardown.py``).

Who waits on whom: the manager handles these asks from the API and *tells* (or, for a
promote, asks) the supervisor below it; the supervisor never waits on the manager.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import trio

from symphony.actors import ActorCrashed, ActorRef, ActorStopped, AskTimeout, Reply
from symphony.spec import DeploymentSpec, SpecError, secret_refs

from ..store import (
    DeploymentRecord,
    GenerationConflict,
    NameConflict,
    NotFound,
    RollConflict,
    Store,
)
from . import restarting
from .creating import BatchRefused
from .messages import (
    DeleteDeployment,
    Promote,
    PromoteDeployment,
    RestartDeployment,
    RollbackDeployment,
    SpecChanged,
    UpdateDeployment,
)
from .roll import PROMOTED, RESTART_REASON, ROLLING, kept_during
from .versions import restart_copy, rollback_target, rolled_back, version_of

if TYPE_CHECKING:
    from ..secrets import SecretVault
    from .backlog import Backlog
    from .events import EventLog
    from .manager import Deployments

#: The errors a create or update may meet that are the caller's to fix. Anything else
#: is a bug or a broken store: it crashes this actor (its supervisor restarts it from the
#: store), and the asker gets ActorCrashed, which the API answers with a logged 500.
REFUSALS = (SpecError, NameConflict, NotFound, GenerationConflict, RollConflict)
Refusal = SpecError | NameConflict | NotFound | GenerationConflict | RollConflict | BatchRefused


def _being_deleted(record: DeploymentRecord) -> GenerationConflict:
    return GenerationConflict(
        f"deployment {record.name} is being deleted (its processes are stopping); "
        "nothing was changed"
    )


def _busy(record: DeploymentRecord) -> str:
    return (
        f"deployment {record.name} is busy: it has not yet handled the changes told to "
        "it before; nothing was changed, try again"
    )


def _cannot_promote(record: DeploymentRecord, error: Exception) -> RollConflict:
    return RollConflict(f"deployment {record.name} cannot be promoted now: {error}")


async def _promoted(
    record: DeploymentRecord,
    child: ActorRef,
    reply: Reply,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Ask ``child`` to promote (bounded: it drives the roll) and answer with what it
    says. Started with ``nursery.start`` and ``started()`` first: this task goes on at
    once into the ask, which puts Promote in the mailbox (or in line for room, first
    come first in) before it first yields, so before the manager reads its next
    message: nothing told to ``child`` after it overtakes it."""
    task_status.started()
    try:
        answer = await child.ask(Promote(), timeout=10)
    except (AskTimeout, ActorStopped) as error:
        reply.send(Failed(_cannot_promote(record, error)))
    except ActorCrashed as crash:  # restarted by its own supervisor; the asker hears why
        reply.fail(crash)
    else:
        reply.send(Failed(RollConflict(answer)) if isinstance(answer, str) else answer)


@dataclass(frozen=True, slots=True)
class Failed:
    """A refused request: the API turns ``error`` into the right HTTP status."""

    error: Refusal


class Changes:
    """The change paths of :class:`~.manager.Deployments` (see the module docstring)."""

    if TYPE_CHECKING:  # provided by Deployments
        store: Store
        secrets: SecretVault | None
        events: EventLog
        deleting: dict[str, trio.Event]
        backlog: Backlog

        @property
        def nursery(self) -> trio.Nursery: ...
        def defer_reply(self) -> Reply: ...
        def child(self, name: str) -> ActorRef: ...
        async def tell_child(self, child: ActorRef, message: Any) -> None: ...
        def poke_timetable_for(self, specs: Iterable[DeploymentSpec]) -> None: ...
        async def _delete(self, message: DeleteDeployment) -> Failed | None: ...

    async def _change(
        self, message: UpdateDeployment | DeleteDeployment
    ) -> DeploymentRecord | Failed | None:
        if isinstance(message, UpdateDeployment):
            return await self._update(message)
        return await self._delete(message)

    async def _update(self, message: UpdateDeployment) -> DeploymentRecord | Failed:
        record = self.store.get_deployment(message.id_or_name)
        if record is None:
            return Failed(NotFound(f"no deployment {message.id_or_name!r}"))
        try:
            spec = record.spec.patched(dict(message.patch))
        except REFUSALS as error:
            return Failed(error)
        change = ", ".join(sorted(message.patch)) or "nothing"
        return await self.store_change(record, spec, f"changed {change}", message.patch)

    async def store_change(
        self,
        record: DeploymentRecord,
        spec: DeploymentSpec,
        what: str,
        patch: Mapping[str, Any],
        *,
        roll_state: str = ROLLING,
        reason: str | None = None,
        version: int | None = None,
        back_to: int | None = None,
        forget: int | None = None,
        kind: str = "updated",
    ) -> DeploymentRecord | Failed:
        """Store a changed spec (a new version if its template is new: it rolls out, a
        rollback without canaries; ``version``: that new version whatever the template,
        a rolling restart; ``back_to``: that kept version whatever the template, a
        rollback, which may go back to the version a rolling restart copied; ``forget``:
        that kept version is forgotten in the same write) and tell the deployment's
        supervisor."""
        if record.id in self.deleting:
            return Failed(_being_deleted(record))
        restart = version is not None
        try:
            self._check_secrets(spec)  # a rollback too: its secrets may be gone
            if version is None:
                version = back_to if back_to is not None else version_of(self.store, record, spec)
                # A PATCH back to a version that rolled out good goes back to it as a
                # rollback does, without canaries: as the roll's canaries, its instances
                # would be marked and then superseded by the next change, leaving no
                # good version to go back to.
                if roll_state == ROLLING and version is not None:
                    roll_state = PROMOTED if _proved(self.store, record, version) else ROLLING
            updated = self.store.update_deployment(
                record.id,
                spec,
                version=version,
                roll_state=roll_state if version else None,
                roll_reason=reason,
                forget=forget,
                keep=None if restart else kept_during(record),
            )
        except REFUSALS as error:
            return Failed(error)
        self.poke_timetable_for((record.spec, spec))
        new_roll = version is not None  # a roll of that version starts (see SpecChanged)
        if new_roll:
            what += f", version {version}"
        self.events.add(updated, kind, f"{what} (generation {updated.generation})")
        # "symphony start" (or a restart) of a failed deployment: it starts afresh.
        starting = restart or patch.get("desired_state") == "running"
        fresh_start = starting and updated.failure is not None
        if fresh_start:
            updated = self.store.set_deployment_failure(record.id, None) or updated
        await self.tell_child(self.child(record.id), SpecChanged(updated, fresh_start, new_roll))
        return updated

    def _check_secrets(self, spec: DeploymentSpec) -> None:
        """Refuse a spec that references a secret that does not exist (a 422)."""
        if self.secrets is not None:
            self.secrets.check_spec(spec)
        elif secret_refs(spec):
            raise SpecError([{"path": "config.env", "message": "this Conductor keeps no secrets"}])

    async def _promote(self, message: PromoteDeployment) -> Failed | None:
        """Refuse it now, or answer it later from a background task: a supervisor's
        mailbox may be full (its Backlog just emptied into it) and the ask waits for room,
        which must not hold up every other request."""
        record = self.store.get_deployment(message.id_or_name)
        if record is None:
            return Failed(NotFound(f"no deployment {message.id_or_name!r}"))
        if record.id in self.deleting:
            return Failed(_being_deleted(record))
        try:
            child = self.child(record.id)
        except KeyError as error:
            return Failed(_cannot_promote(record, error))
        if self.backlog.behind(child):  # a promote must not overtake what waits
            return Failed(RollConflict(_busy(record)))
        reply = self.defer_reply()
        await self.nursery.start(_promoted, record, child, reply)
        return None

    async def _rollback(self, message: RollbackDeployment) -> DeploymentRecord | Failed:
        record = self.store.get_deployment(message.id_or_name)
        if record is None:
            return Failed(NotFound(f"no deployment {message.id_or_name!r}"))
        versions = self.store.list_versions(record.id)
        target = rollback_target(versions, record.version, message.version)
        if isinstance(target, str):
            return Failed(RollConflict(target))
        try:
            spec = rolled_back(record, target)
        except SpecError as error:  # an old template a rule added since refuses: a 422
            return Failed(error)
        what = f"rollback to version {target.version}"
        if (record.roll_reason or "").startswith(RESTART_REASON):
            what += f" (ends the {record.roll_reason})"
        # Without canaries: the version ran before. Named, not found by its template: a
        # rolling restart's version has the template of the one it restarted.
        return await self.store_change(
            record,
            spec,
            what,
            {},
            roll_state=PROMOTED,
            reason=what,
            back_to=target.version,
            forget=restart_copy(record, target),
        )

    async def _restart(self, message: RestartDeployment) -> DeploymentRecord | Failed:
        record = self.store.get_deployment(message.id_or_name)
        if record is None:
            return Failed(NotFound(f"no deployment {message.id_or_name!r}"))
        # A mixin: ``self`` is always the Deployments manager restarting needs.
        manager = cast("Deployments", self)
        return await restarting.restart(manager, record, "rolling restart requested")


def _proved(store: Store, record: DeploymentRecord, version: int) -> bool:
    """Whether ``version`` is a kept version of the deployment that rolled out good."""
    return any(v.version == version and v.status == "good" for v in store.list_versions(record.id))
