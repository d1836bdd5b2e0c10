"""EventLog: a deployment's history, durable in the store and pushed to live listeners."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import trio

from ..store import DeploymentRecord, EventRecord, InstanceRecord, NewEvent, Store
from .savegroup import SaveGroup

log = logging.getLogger("symphony.conductor.events")


def new_event(
    deployment: DeploymentRecord,
    kind: str,
    message: str,
    instance: InstanceRecord | None = None,
    **data: Any,
) -> NewEvent:
    """An event of ``deployment`` (optionally about one instance), not recorded yet."""
    return NewEvent(
        kind,
        message,
        deployment_id=deployment.id,
        instance_id=instance.id if instance is not None else None,
        data={k: v for k, v in data.items() if v is not None},
    )


def instance_created(deployment: DeploymentRecord, instance: InstanceRecord) -> NewEvent:
    """The event that says a new instance of ``deployment`` was made."""
    return new_event(
        deployment, "created", f"replica {instance.replica}: instance {instance.id}", instance
    )


class EventLog:
    """Appends events to the store and fans them out to subscribers (the UI's live feed).

    A slow subscriber loses events rather than slowing the Conductor down: its buffer is
    bounded and ``send_nowait`` drops what does not fit (the feed then re-reads).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._listeners: set[trio.MemorySendChannel[EventRecord]] = set()
        self.group = SaveGroup(store, self.publish)

    def add(
        self,
        deployment: DeploymentRecord,
        kind: str,
        message: str,
        instance: InstanceRecord | None = None,
        **data: Any,
    ) -> EventRecord:
        """Record an event of ``deployment`` (optionally about one instance)."""
        return self.add_many([new_event(deployment, kind, message, instance, **data)])[0]

    def add_many(self, events: Sequence[NewEvent]) -> list[EventRecord]:
        """Record several events in one transaction (a burst of 300 placements is one
        commit, not 300), then publish them in order."""
        if not events:
            return []
        recorded = self.store.append_events(events)
        for event in recorded:
            self.publish(event)
        return recorded

    def add_with_instances(
        self,
        instances: Sequence[InstanceRecord],
        events: Sequence[NewEvent],
        counters: Mapping[str, int] | None = None,
    ) -> list[InstanceRecord]:
        """Save instances and record events about them in one transaction (with what to
        add to ``counters``), then publish the events; returns the instances as saved."""
        saved, recorded = self.store.save_instances_with_events(instances, events, counters)
        for event in recorded:
            self.publish(event)
        return saved

    async def add_with_instances_together(
        self,
        instances: Sequence[InstanceRecord],
        events: Sequence[NewEvent],
        counters: Mapping[str, int] | None = None,
    ) -> list[InstanceRecord]:
        """:meth:`add_with_instances`, in one transaction with the other supervisors'
        saves of the same moment (see :mod:`.savegroup`); returns once committed."""
        saved, _ = await self.group.save(instances, events, counters)
        return saved

    def publish(self, event: EventRecord) -> None:
        """Push ``event`` to every listener without waiting."""
        for listener in list(self._listeners):
            try:
                listener.send_nowait(event)
            except trio.WouldBlock:
                pass  # slow listener: it will notice the gap in ids and re-read
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._listeners.discard(listener)

    @contextlib.contextmanager
    def subscribe(self, max_buffer: int = 1000) -> Iterator[trio.MemoryReceiveChannel[EventRecord]]:
        """Receive every event published while the block runs."""
        send, receive = trio.open_memory_channel[EventRecord](max_buffer)
        self._listeners.add(send)
        try:
            yield receive
        finally:
            self._listeners.discard(send)
            send.close()
