"""NodeRecord: what the registry keeps of one node between heartbeats."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from symphony.actors import ActorRef

from .model import NodeState, NodeView

__all__ = ["NodeRecord"]


class NodeRecord:
    """What the registry keeps of one node.

    A heartbeat changes only the usage and the time of the last one; most are never
    looked at before the next comes. So a heartbeat is kept as it came (:meth:`beat`)
    and the :class:`NodeView` snapshot is made again only when someone reads ``view``:
    a dict and a float per heartbeat instead of a new sixteen-field object.
    """

    __slots__ = (
        "_beat",
        "_view",
        "deadline",
        "has_usage",
        "incarnation",
        "session",
        "usage_bytes",
    )

    def __init__(
        self,
        view: NodeView,
        session: ActorRef | None,
        deadline: float,
        incarnation: str | None = None,
    ) -> None:
        self._view = view
        self._beat: tuple[dict[str, Any], float] | None = None  # (usage, at) not in _view
        self.session = session
        self.deadline = deadline  # trio time after which a quiet node is lost
        self.incarnation = incarnation  # the accepted agent's token (see fencing.py)
        self.has_usage = False  # a full heartbeat came on this link: deltas apply to it
        #: Bytes of the usage held, counting every delta since the last full heartbeat
        #: whole (an over-estimate that each full heartbeat resets; see usagedelta.py).
        self.usage_bytes = 0

    @property
    def view(self) -> NodeView:
        if self._beat is not None:
            usage, at = self._beat
            self._beat = None
            self._view = replace(self._view, usage=usage, last_heartbeat=at)
        return self._view

    @view.setter
    def view(self, view: NodeView) -> None:
        self._view, self._beat = view, None

    @property
    def usage(self) -> dict[str, Any]:
        """The latest usage (without making a new view)."""
        return self._beat[0] if self._beat is not None else self._view.usage

    @property
    def fixed(self) -> NodeView:
        """The view without the latest heartbeat's usage and time: for what a heartbeat
        never changes (state, heartbeat interval, environments...)."""
        return self._view

    @property
    def state(self) -> NodeState:
        return self._view.state

    def beat(self, usage: dict[str, Any], at: float) -> None:
        """A heartbeat said ``usage`` at wall-clock time ``at``."""
        self._beat = (usage, at)
