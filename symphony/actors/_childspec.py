"""How a supervisor starts, restarts and stops one child: :class:`ChildSpec`.

Restart types (Erlang/OTP's vocabulary):

- ``permanent``: always restarted, whether it crashed or returned.
- ``transient``: restarted only after a crash; a normal stop ends it for good.
- ``temporary``: never restarted; it is removed from its supervisor when it ends.

Strategies, for the supervisor (what else restarts when one child restarts):

- ``one_for_one``: only that child.
- ``one_for_all``: every child (stopped in reverse order, started again in order).
- ``rest_for_one``: that child and every child started after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ._backoff import Backoff
from ._errors import ActorConfigError

if TYPE_CHECKING:
    from ._actor import Actor

RestartType = Literal["permanent", "transient", "temporary"]
Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]

#: The default delays between restarts (immutable, so every spec shares the one).
DEFAULT_BACKOFF = Backoff()

RESTART_TYPES: frozenset[str] = frozenset({"permanent", "transient", "temporary"})
STRATEGIES: frozenset[str] = frozenset({"one_for_one", "one_for_all", "rest_for_one"})


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildSpec:
    """The recipe for one supervised child.

    Args:
        name: unique within its supervisor; names the child in errors and logs.
        factory: a callable returning a *new* Actor for each (re)start.
        restart: ``permanent`` (default), ``transient`` or ``temporary``.
        shutdown_timeout: seconds a graceful stop may take before the child is cancelled.
        backoff: the delays between restarts of this child.
        mailbox_size: capacity of the child's mailbox, which persists across restarts.
    """

    name: str
    factory: Callable[[], Actor]
    restart: RestartType = "permanent"
    shutdown_timeout: float = 5.0
    backoff: Backoff = DEFAULT_BACKOFF
    mailbox_size: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ActorConfigError(f"ChildSpec name must be a non-empty str, got {self.name!r}")
        if not callable(self.factory):
            raise ActorConfigError(
                f"ChildSpec {self.name!r}: factory must be callable (a class or function "
                f"returning a new Actor), got {self.factory!r}"
            )
        if self.restart not in RESTART_TYPES:
            raise ActorConfigError(
                f"ChildSpec {self.name!r}: unknown restart type {self.restart!r}; "
                f"use one of {sorted(RESTART_TYPES)}"
            )
        timeout = self.shutdown_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or math.isnan(timeout):
            raise ActorConfigError(f"ChildSpec {self.name!r}: shutdown_timeout must be a number")
        if timeout < 0:
            raise ActorConfigError(
                f"ChildSpec {self.name!r}: shutdown_timeout must be >= 0, got {timeout}"
            )
        if not isinstance(self.backoff, Backoff):
            raise ActorConfigError(f"ChildSpec {self.name!r}: backoff must be a Backoff")
        size = self.mailbox_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ActorConfigError(
                f"ChildSpec {self.name!r}: mailbox_size must be a positive int, got {size!r}"
            )


def check_strategy(strategy: str, max_restarts: int, max_seconds: float) -> None:
    """Validate a supervisor's strategy and restart intensity."""
    if strategy not in STRATEGIES:
        raise ActorConfigError(
            f"unknown supervisor strategy {strategy!r}; use one of {sorted(STRATEGIES)}"
        )
    if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
        raise ActorConfigError(f"max_restarts must be an int >= 0, got {max_restarts!r}")
    if (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, int | float)
        or math.isnan(max_seconds)
        or max_seconds <= 0
    ):
        raise ActorConfigError(f"max_seconds must be a number > 0, got {max_seconds!r}")
