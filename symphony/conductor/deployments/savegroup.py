"""SaveGroup: the saves of supervisors woken at the same moment, in one transaction.

A burst of creates placed on one node wakes a hundred supervisors at once, twice or
three times: the Scheduler's placements, then the node's ``starting`` and ``running``
reports, each a frame whose updates the Deployments manager hands to every supervisor
concerned in one go. Each supervisor used to save its instances and events in a
transaction of its own: a hundred ``BEGIN``/``COMMIT`` pairs where one would do.

Here a supervisor's save joins a group instead. The first save of a group waits turns
of Trio's scheduler while others join (the supervisors woken with it run meanwhile, up
to their own save; it stops after :data:`QUIET_TURNS` turns in which no one joined, or
:data:`MAX_TURNS`), then stores the whole group in one transaction, and every member
goes on once it is committed: still *saved before acted on*. Each member's events keep the
order it noted them in, and the members the order they joined in, which is the order
their transactions would have had one by one.

All or nothing per member, as before: if the group's transaction fails (one member
names a deployment deleted meanwhile, say), nothing of it is written and each member is
saved alone, so only the one at fault sees the error.

Who waits on whom: a member waits for the group's first member (the one that commits),
which waits for nothing but the scheduler's turn and the store, so no cycle. The commit
is shielded from cancellation: a member cancelled while it waits (its actor stopping) is
still written with the others, like a save that had returned just before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import trio

from ..store import EventRecord, InstanceRecord, NewEvent, Store

#: A group is committed after this many turns of the scheduler in a row in which no
#: save joined it. Supervisors placed one after the other hear of it a few turns apart
#: (the Scheduler places each as its request comes): 2 left half of a burst's
#: placements alone, 4 groups most of them.
QUIET_TURNS = 4
#: At most this many turns of the scheduler between a group's first save and its
#: commit: a steady stream of saves still commits every few milliseconds.
MAX_TURNS = 16


@dataclass
class _Member:
    instances: Sequence[InstanceRecord]
    events: Sequence[NewEvent]
    counters: Mapping[str, int] | None
    saved: list[InstanceRecord] = field(default_factory=list)
    recorded: list[EventRecord] = field(default_factory=list)
    error: Exception | None = None
    committed: bool = False


@dataclass
class _Group:
    """The members that joined, and what they wait on: one event for the whole group,
    set once its transaction is done (an event per member cost a burst's hundred
    saves a hundred events, each set in turn)."""

    members: list[_Member]
    done: trio.Event = field(default_factory=trio.Event)


class SaveGroup:
    """Groups the saves made in one turn of the scheduler (see the module docstring)."""

    def __init__(self, store: Store, publish: Callable[[EventRecord], None]) -> None:
        """``publish``: called with each event recorded, in the order of their ids, right
        after the commit (by the member that commits, so listeners never see them out of
        order)."""
        self.store = store
        self.publish = publish
        self._forming: _Group | None = None
        self.groups = 0  #: transactions committed (or tried) for groups so far
        self.saves = 0  #: saves made through them

    @property
    def forming(self) -> bool:
        """Whether a group waits for members now (a save made now would join it)."""
        return self._forming is not None

    async def save(
        self,
        instances: Sequence[InstanceRecord],
        events: Sequence[NewEvent],
        counters: Mapping[str, int] | None = None,
    ) -> tuple[list[InstanceRecord], list[EventRecord]]:
        """As ``Store.save_instances_with_events``, committed with the saves made at the
        same moment; returns once this member is on disk (or raises its error)."""
        member = _Member(instances, events, counters)
        if self._forming is not None:
            self._forming.members.append(member)
            await self._forming.done.wait()
        else:
            group = self._forming = _Group([member])
            with trio.CancelScope(shield=True):
                await self._gather(group.members)
                self._forming = None
                self._commit(group)
        if member.error is not None:
            raise member.error
        if not member.committed:  # the committing task died of something worse
            raise RuntimeError("the save was interrupted before its commit")
        return member.saved, member.recorded

    @staticmethod
    async def _gather(group: list[_Member]) -> None:
        """Let the others join: wait turns of the scheduler until :data:`QUIET_TURNS`
        in a row added no one (a fan-out that yields between its sends wakes one
        supervisor per turn, which may run before or after this task in it), up to
        :data:`MAX_TURNS`."""
        size, quiet = len(group), 0
        for _ in range(MAX_TURNS):
            await trio.lowlevel.cancel_shielded_checkpoint()
            quiet = quiet + 1 if len(group) == size else 0
            if quiet == QUIET_TURNS:
                return
            size = len(group)

    def _commit(self, group: _Group) -> None:
        members = group.members
        self.groups += 1
        self.saves += len(members)
        try:
            if len(members) > 1:
                self._together(members)
            else:
                self._alone(members[0])
            for member in members:
                for event in member.recorded:
                    self.publish(event)
        finally:
            group.done.set()

    def _together(self, group: list[_Member]) -> None:
        counters: dict[str, int] = {}
        for member in group:
            for name, amount in (member.counters or {}).items():
                counters[name] = counters.get(name, 0) + amount
        try:
            saved, recorded = self.store.save_instances_with_events(
                [i for m in group for i in m.instances],
                [e for m in group for e in m.events],
                counters or None,
            )
        except Exception:  # nothing was written: each alone, to find the one at fault
            for member in group:
                self._alone(member)
            return
        for member in group:
            member.saved, saved = saved[: len(member.instances)], saved[len(member.instances) :]
            member.recorded, recorded = (
                recorded[: len(member.events)],
                recorded[len(member.events) :],
            )
            member.committed = True

    def _alone(self, member: _Member) -> None:
        try:
            member.saved, member.recorded = self.store.save_instances_with_events(
                member.instances, member.events, member.counters
            )
            member.committed = True
        except Exception as error:  # this member's own, raised in its task
            member.error = error
