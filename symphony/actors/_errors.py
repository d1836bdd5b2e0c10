"""The exceptions of the actor runtime, one tree::

    ActorError                     base of everything the runtime raises
    ├── ActorStopped               the actor is not running: a tell or ask cannot be delivered
    ├── AskTimeout                 no reply within the ask's timeout (also a TimeoutError)
    ├── MailboxFull                tell_nowait() found the bounded mailbox full
    ├── ActorCrashed               the actor raised while handling your ask (cause attached)
    ├── SupervisorFailed           a supervisor gave up: restart intensity exceeded
    └── ActorConfigError           bad use: an invalid ChildSpec, Backoff or strategy
        └── DuplicateChild         a child name already used in that supervisor (also ValueError)

Exceptions raised *inside* an actor keep their own type and traceback; the runtime adds a
note saying which actor failed rather than wrapping them.
"""

from __future__ import annotations

from typing import NoReturn


class ActorError(Exception):
    """Base class of every error raised by :mod:`symphony.actors`."""


class ActorStopped(ActorError):
    """The actor is not running, so a message cannot be delivered or answered.

    Raised at once by ``tell``/``ask`` to an actor that has stopped; to askers whose
    request was still queued when its mailbox closed for good; and to askers whose
    request was being handled, or whose reply was deferred, when the run that owed the
    answer ended (stopped, crashed or cancelled): an ask never hangs on a dead actor.
    """


class AskTimeout(ActorError, TimeoutError):
    """No reply arrived within the ``timeout`` given to :meth:`ActorRef.ask`."""


class MailboxFull(ActorError):
    """``tell_nowait`` found the actor's bounded mailbox full (use ``await tell`` to wait)."""


class ActorCrashed(ActorError):
    """The actor raised while handling this ask; ``__cause__`` is the original error."""


class SupervisorFailed(ActorError):
    """A supervisor exceeded its restart intensity and stopped; its parent decides next."""


class ActorConfigError(ActorError, ValueError):
    """An invalid argument to the runtime, for example a negative backoff delay."""


class DuplicateChild(ActorConfigError):
    """A supervisor already has a child with this name."""


def sole_exception(error: BaseException) -> BaseException | None:
    """The one exception that ``error`` stands for, or None if it stands for several.

    A nursery wraps what escapes it in an exception group, often nested groups around a
    single failure. Code that owns the nursery (an actor's run, a connect helper, a
    command's ``trio.run``) re-raises that one failure as itself, so its callers can
    ``except OSError`` as usual::

        except BaseExceptionGroup as group:
            single = sole_exception(group)
            if single is None:
                raise
            raise single from None

    ``error`` that is not a group is returned as is; a group holding two or more
    exceptions (at any depth) gives None.
    """
    while isinstance(error, BaseExceptionGroup):
        if len(error.exceptions) != 1:
            return None
        error = error.exceptions[0]
    return error


def raise_unchanged(error: BaseException) -> NoReturn:
    """Raise ``error`` (say, the :func:`sole_exception` of a group being handled) as it
    was: a plain ``raise error`` inside ``except`` would make the group its context, and
    its traceback would then print the whole group again; the cause and context it
    carried are kept instead."""
    saved = error.__cause__, error.__context__, error.__suppress_context__
    try:
        raise error
    finally:
        error.__cause__, error.__context__, error.__suppress_context__ = saved
