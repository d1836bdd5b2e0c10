"""Who hears of an instance's status updates on the node, and what is kept of them.

Every :class:`~symphony.node.process.records.StatusUpdate` the supervisors emit goes,
once the :class:`~symphony.node.process.manager.ProcessManager` has acted on it (its
record saved, its devices released), to a :class:`StatusFeed`: the ``on_status``
callback given to the manager, then every subscriber's channel (the node's link pumps
one to the Conductor). A subscriber that does not keep up loses updates rather than
holding up the node (counted in :attr:`StatusFeed.dropped_updates`). The last
:data:`EVENTS_KEPT` updates of each instance are kept for :meth:`StatusFeed.events`
until the instance is forgotten.

Example::

    feed = StatusFeed(on_status=print)
    updates = feed.subscribe()
    feed.record(update)
    feed.publish(update)    # print(update), then into ``updates``
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import trio

from .records import StatusUpdate

EVENTS_KEPT = 200  # status records kept per instance for ``events()``


class StatusFeed:
    """The listeners of status updates and each instance's recent ones (module docstring)."""

    def __init__(self, on_status: Callable[[StatusUpdate], None] | None = None) -> None:
        #: Called with every update first, on the event loop (it must not block).
        self.on_status = on_status
        self._subscribers: list[trio.MemorySendChannel[StatusUpdate]] = []
        self._events: dict[str, deque[StatusUpdate]] = {}
        self.dropped_updates = 0

    def record(self, update: StatusUpdate) -> None:
        """Keep ``update`` among its instance's last ones."""
        self._events.setdefault(update.instance_id, deque(maxlen=EVENTS_KEPT)).append(update)

    def publish(self, update: StatusUpdate) -> None:
        """Hand ``update`` to the callback, then to every subscriber (never blocks)."""
        if self.on_status is not None:
            self.on_status(update)
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(update)
            except trio.WouldBlock:
                self.dropped_updates += 1  # a slow subscriber loses updates, never blocks us
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.remove(channel)

    def subscribe(self, max_buffer: int = 4096) -> trio.MemoryReceiveChannel[StatusUpdate]:
        """A channel receiving every status update from now on (dropped when full)."""
        send, receive = trio.open_memory_channel[StatusUpdate](max_buffer)
        self._subscribers.append(send)
        return receive

    def events(self, instance_id: str) -> list[StatusUpdate]:
        """The last status updates of one instance, oldest first."""
        return list(self._events.get(instance_id, ()))

    def forget(self, instance_id: str) -> None:
        """Drop what is kept of an instance the node forgot."""
        self._events.pop(instance_id, None)

    def kept_instances(self) -> list[str]:
        """The instances whose updates are kept (those the node has not forgotten)."""
        return list(self._events)
