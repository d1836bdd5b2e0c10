"""Creating deployments in groups: the creates waiting together share one transaction.

A ``CreateDeployment`` ask is not stored at once. The Deployments manager queues it,
takes over its reply, and tells itself :class:`FlushCreates` (once per group): that
message lands behind every create already in the mailbox, so by the time it is handled
the queue holds all the creates that were waiting at that moment. They are then checked,
stored in one transaction with their first instances and the events about both, each
asker answered (a 201 means committed), and only then their supervisors started, which
place those instances: the answer does not wait for placement. There is no timer: a
lone create is stored as soon as the flush right behind it is handled, and under load
the groups grow by themselves (the creates arriving while one group is stored form the
next).

Before the transaction the Scheduler is asked why each first instance would wait
(``foresight.py``): an instance no node fits is stored with that reason and its
``pending`` event, written once rather than inserted and then updated after the
Scheduler's answer; the placement itself is still asked for after the commit.

A failing item fails only itself: each is checked before the transaction (its secrets,
its name against the rest of the group), and should the group's insert meet a name
already stored, the group is stored item by item, each conflict failing its own item.
The store is not read first: names are rarely taken, and the insert finds out anyway.
Each deployment's ``created`` event goes in the same transaction as the deployment.

While creates are queued the manager handles only creates: any other message stores the
queue first (:func:`flush`), so an update, a delete or a node report is never handled
ahead of a create that arrived before it.

``POST /deployments:batch`` comes as :class:`CreateDeployments`: all items or none, in
one transaction, each problem reported with its item's index (:class:`BatchRefused`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from symphony.actors import ActorCrashed, ActorStopped, MailboxFull, Reply
from symphony.errors import SymphonyError
from symphony.spec import DeploymentSpec, SpecError

from ..store import DeploymentRecord, EventRecord, InstanceRecord, NameConflict, NewEvent
from .events import instance_created, new_event
from .foresight import Foreseen
from .instances import first_instances
from .messages import Created, CreateDeployment, CreateDeployments, PlaceGroup, PlaceInstances

if TYPE_CHECKING:
    from .manager import Deployments

#: What can be wrong with one item of a group or a batch.
ItemError = SpecError | NameConflict


@dataclass(frozen=True, slots=True)
class FlushCreates:
    """Told by the Deployments manager to itself: store the creates queued before this."""


class BatchRefused(SymphonyError):
    """Items of a batch that cannot be created, by index; none of the batch was created."""

    def __init__(self, problems: dict[int, ItemError]) -> None:
        self.problems = dict(sorted(problems.items()))
        super().__init__("; ".join(f"item {i}: {e}" for i, e in self.problems.items()))

    @property
    def only_conflicts(self) -> bool:
        """Every problem is a name already taken (the items themselves are valid)."""
        return all(isinstance(e, NameConflict) for e in self.problems.values())


class CreateQueue:
    """The creates waiting for the next flush; touched only by the manager's ``receive``."""

    def __init__(self) -> None:
        self.waiting: list[tuple[CreateDeployment, Reply | None]] = []
        self.flush_told = False  # a FlushCreates is in the mailbox


async def queue(manager: Deployments, message: CreateDeployment) -> None:
    """Queue one create; its asker is answered by the flush that stores it."""
    try:
        reply: Reply | None = manager.defer_reply()
    except RuntimeError:  # told, not asked: nobody waits for the answer
        reply = None
    creates = manager.creates
    creates.waiting.append((message, reply))
    if creates.flush_told:
        return
    try:
        manager.ref.tell_nowait(FlushCreates())
        creates.flush_told = True
    except (MailboxFull, ActorStopped):
        await flush(manager)  # no room for the flush: store what waits now


async def flushed(manager: Deployments) -> None:
    """Handle :class:`FlushCreates`."""
    manager.creates.flush_told = False
    await flush(manager)


async def flush(manager: Deployments) -> None:
    """Store every queued create in one transaction, start them, answer each asker."""
    waiting, manager.creates.waiting = manager.creates.waiting, []
    if not waiting:
        return
    try:
        await _flush(manager, waiting)
    except Exception as error:
        # A broken store (say, locked past its busy timeout) crashes the manager, as it
        # did for one create: every asker not answered yet hears it as that crash (a
        # logged 500), not as an actor that merely stopped. Later calls are ignored.
        crash = ActorCrashed(
            f"actor {manager.name!r} crashed while storing creates: {type(error).__name__}: {error}"
        )
        crash.__cause__ = error
        for _, reply in waiting:
            if reply is not None:
                reply.fail(crash)
        raise


async def _flush(
    manager: Deployments, waiting: list[tuple[CreateDeployment, Reply | None]]
) -> None:
    specs = [message.spec for message, _ in waiting]
    problems = check(manager, specs, against_store=False)
    first = FirstInstances(
        await manager.foresight.foresee(manager.scheduler, _good(specs, problems))
    )
    records, events = _store_group(manager, specs, problems, first)
    from .manager import Failed  # it imports this module

    for i, (_, reply) in enumerate(waiting):
        if reply is not None and i not in records:
            reply.send(Failed(problems[i]))
    replies = [waiting[i] for i in records]
    stored_first = first if events is not None else None  # one by one: stored without them
    await _start(manager, list(records.values()), replies, events, stored_first)


def _store_group(
    manager: Deployments,
    specs: list[DeploymentSpec],
    problems: dict[int, ItemError],
    first: FirstInstances,
) -> tuple[dict[int, DeploymentRecord], list[EventRecord] | None]:
    """Store the items without ``problems`` in one transaction with their ``first``
    instances: their records by index, and their events (None: not stored yet, nor
    their instances). A name already stored costs one
    read and a second try without it; only if that too meets a conflict (another writer
    of the database) is the group stored item by item. ``problems`` gains the failures."""
    for first_try in (True, False):
        good = [i for i in range(len(specs)) if i not in problems]
        try:
            stored, events = manager.store.create_deployments_noted(
                [specs[i] for i in good], created_event, first
            )
            return dict(zip(good, stored, strict=True)), events
        except NameConflict:
            taken = manager.store.taken_names(specs[i].name for i in good) if first_try else ()
            found = {i: NameConflict(specs[i].name) for i in good if specs[i].name in taken}
            if not found:
                break
            problems.update(found)
    good = [i for i in range(len(specs)) if i not in problems]
    return _one_by_one(manager, specs, good, problems), None


def _one_by_one(
    manager: Deployments,
    specs: list[DeploymentSpec],
    good: list[int],
    problems: dict[int, ItemError],
) -> dict[int, DeploymentRecord]:
    """The group met a conflict nobody foresaw: store each on its own (``problems``
    gains the ones that fail)."""
    records = {}
    for i in good:
        try:
            records[i] = manager.store.create_deployment(specs[i])
        except NameConflict as error:
            problems[i] = error
    return records


async def create_batch(
    manager: Deployments, message: CreateDeployments
) -> list[DeploymentRecord] | BatchRefused:
    """Create every item of a batch in one transaction, or none (the refusal says why)."""
    specs = list(message.specs)
    problems = check(manager, specs)
    if problems:
        return BatchRefused(problems)
    first = FirstInstances(await manager.foresight.foresee(manager.scheduler, specs))
    try:
        records, events = manager.store.create_deployments_noted(specs, created_event, first)
    except NameConflict as error:  # another writer of the database took it meanwhile
        return BatchRefused({[s.name for s in specs].index(error.name): error})
    await _start(manager, records, (), events, first)
    return records


def _good(specs: list[DeploymentSpec], problems: dict[int, ItemError]) -> list[DeploymentSpec]:
    return [spec for i, spec in enumerate(specs) if i not in problems]


def created_event(record: DeploymentRecord) -> NewEvent:
    """The event that says a deployment was created."""
    return new_event(record, "created", f"deployment {record.name} created")


class FirstInstances:
    """Makes each new deployment's first instances and their events, to be stored with
    it (``create_deployments_noted(first=...)``), and keeps them by deployment id for
    its supervisor, which starts with them and only has to place them. An instance
    with a ``foreseen`` reason (``foresight.py``) is made with it, and its ``pending``
    event, as its supervisor would note on hearing it from the Scheduler."""

    def __init__(self, foreseen: Foreseen | None = None) -> None:
        self.made: dict[str, list[InstanceRecord]] = {}
        self.foreseen = foreseen or {}

    def __call__(self, record: DeploymentRecord) -> tuple[list[InstanceRecord], list[NewEvent]]:
        reason = self.foreseen.get(record.name)
        instances = self.made[record.id] = first_instances(record, reason)
        events = [instance_created(record, i) for i in instances]
        if reason is not None:
            events += [
                new_event(record, "pending", f"{i.id} pending: {reason}", i) for i in instances
            ]
        return instances, events


def check(
    manager: Deployments, specs: Sequence[DeploymentSpec], *, against_store: bool = True
) -> dict[int, ItemError]:
    """What stops each item from being created, by index: a secret it names that does
    not exist, or a name taken by an earlier item or (``against_store``) a stored
    deployment."""
    problems: dict[int, ItemError] = {}
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        try:
            manager._check_secrets(spec)
        except SpecError as error:
            problems[i] = error
            continue
        if spec.name in seen:
            problems[i] = NameConflict(spec.name)
        seen.add(spec.name)
    if not against_store:
        return problems
    taken = manager.store.taken_names(seen)
    for i, spec in enumerate(specs):
        if i not in problems and spec.name in taken:
            problems[i] = NameConflict(spec.name)
    return problems


async def _start(
    manager: Deployments,
    records: list[DeploymentRecord],
    replies: Sequence[tuple[CreateDeployment, Reply | None]] = (),
    created: Sequence[EventRecord] | None = None,
    first: FirstInstances | None = None,
) -> None:
    """Publish the creations (``created``: their events, stored with them and with
    the ``first`` instances; else they are stored now), answer the askers (``replies``,
    by index), start a supervisor for each and poke the Timetable if one of them has a
    schedule.

    With ``first`` the answers go out before the supervisors start, and their askers
    run before that start too (:func:`_let_answers_out`): everything they report is
    committed, and what follows (the supervisors placing the first instances,
    the nodes starting them) is what any client watches afterwards anyway. Without, a
    supervisor makes the first instances as it starts, so its asker is answered after
    that. The supervisors are started within this message either way, so no later
    message to this actor finds a deployment without one."""
    if created is None:
        manager.events.add_many([created_event(r) for r in records])
    else:
        for event in created:
            manager.events.publish(event)
    answers = dict(zip((r.id for r in records), replies, strict=False))
    if first is not None:
        answered = False
        for record in records:
            answered |= _answer(record, answers.get(record.id), first.made.get(record.id))
        if answered:
            await _let_answers_out()
    manager.poke_timetable_for(r.spec for r in records)
    placements: list[PlaceInstances] = []
    for record in records:
        instances = first.made.get(record.id, []) if first is not None else []
        spec = manager._child_spec(record.id, record, instances, placements)
        await manager.start_child(spec)
        if first is None:
            _answer(record, answers.get(record.id), None)
    # The group's first placements in one message: the Scheduler plans them in one pass
    # and every supervisor hears back at the same moment, so the placements (or the
    # reasons no node fits, unless foreseen and stored already) share one transaction.
    if placements:
        await manager.scheduler.tell(PlaceGroup(tuple(placements)))


async def _let_answers_out() -> None:
    """Let the askers just answered run before the supervisors start.

    An answer wakes its asker (an HTTP request, to write its 201), but the asker runs
    only once this task yields, and the supervisors' start used to be the first to
    yield, in its middle: a 201 then waited for a supervisor's spawn, and at times for
    the placement and its save too, none of which the answer needs. Trio runs the
    tasks ready at a yield as one batch, in either order: after two yields every asker
    woken before the first has run up to its own next yield, which for an HTTP answer
    comes once its bytes are written. The yields raise no ``Cancelled``: a cancelled
    manager sees it where it did before, at the first start.
    """
    await trio.lowlevel.cancel_shielded_checkpoint()
    await trio.lowlevel.cancel_shielded_checkpoint()


def _answer(
    record: DeploymentRecord,
    asked: tuple[CreateDeployment, Reply | None] | None,
    instances: list[InstanceRecord] | None,
) -> bool:
    """Answer a create's asker (if any): the record, or with its first ``instances``
    when it asked for them and they were stored with it. Whether one was answered."""
    message, reply = asked if asked is not None else (None, None)
    if message is None or reply is None:
        return False
    if message.with_instances and instances is not None:
        reply.send(Created(record, tuple(instances)))
    else:
        reply.send(record)
    return True
