"""An actor runtime on Trio: actors with bounded mailboxes, supervision trees, backoff.

Symphony's Conductor and Node are built from these pieces, and you can embed them in
your own Trio program. See ``docs/actors.md`` for a guide with complete examples.

- :class:`Actor`: subclass it; handle messages in ``receive`` (its return value answers
  an ``ask``). Start it with :func:`spawn` or under a :class:`Supervisor`.
- :class:`InlineActor`: an actor without a task, for handlers that never wait: each
  message is handled in the sender's task as it is sent (same refs, no queue).
- :class:`ActorRef`: how others reach an actor: ``await ref.tell(msg)``,
  ``ref.tell_nowait(msg)``, ``await ref.ask(msg, timeout=...)``, ``await ref.stop()``.
- :class:`Supervisor` and :class:`ChildSpec`: OTP restart types and strategies, restart
  intensity, children added and removed at run time.
- :class:`Backoff`: exponential delays with jitter and a reset after a stable run.
- :class:`Outbox`: sends up the actor graph that never wait, with coalescing and
  drop-oldest (see "Who may await whom" in the guide).

This package imports nothing else of Symphony.
"""

from ._actor import Actor, spawn
from ._backoff import Backoff, BackoffTracker
from ._childspec import ChildSpec, RestartType, Strategy
from ._errors import (
    ActorConfigError,
    ActorCrashed,
    ActorError,
    ActorStopped,
    AskTimeout,
    DuplicateChild,
    MailboxFull,
    SupervisorFailed,
    raise_unchanged,
    sole_exception,
)
from ._inline import InlineActor
from ._mailbox import ActorRef, Reply
from ._outbox import Outbox
from ._supervisor import ChildInfo, Supervisor

__all__ = [
    "Actor",
    "ActorConfigError",
    "ActorCrashed",
    "ActorError",
    "ActorRef",
    "ActorStopped",
    "AskTimeout",
    "Backoff",
    "BackoffTracker",
    "ChildInfo",
    "ChildSpec",
    "DuplicateChild",
    "InlineActor",
    "MailboxFull",
    "Outbox",
    "Reply",
    "RestartType",
    "Strategy",
    "Supervisor",
    "SupervisorFailed",
    "raise_unchanged",
    "sole_exception",
    "spawn",
]
