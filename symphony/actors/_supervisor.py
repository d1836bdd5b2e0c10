"""Supervisors: actors that start children, watch them and restart them by policy.

A supervisor starts its children in order and stops them in reverse order. When a child
ends, its restart type (``permanent``/``transient``/``temporary``) decides whether it
comes back, the supervisor's strategy decides which siblings restart with it, and its
:class:`Backoff` decides how long to wait first. More than ``max_restarts`` restarts
within ``max_seconds`` means something is deeply wrong: the supervisor then stops every
child and fails with :class:`SupervisorFailed`, and *its* parent decides what happens.

Example::

    supervisor = Supervisor(
        [ChildSpec(name="store", factory=Store), ChildSpec(name="api", factory=Api)],
        strategy="rest_for_one", max_restarts=3, max_seconds=5.0,
    )
    await spawn(nursery, supervisor, name="app")
    store = supervisor.child("store")   # a ref that stays valid across restarts

A child's mailbox lives as long as the child's *spec* stays in the supervisor, so refs
survive restarts and messages sent during a restart are handled by the next run.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import trio
import trio.lowlevel

from ._actor import Actor
from ._backoff import BackoffTracker
from ._childspec import ChildSpec, Strategy, check_strategy
from ._errors import ActorConfigError, DuplicateChild, SupervisorFailed
from ._mailbox import ActorRef, Mailbox

logger = logging.getLogger("symphony.actors")


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """A snapshot of one child, as returned by :meth:`Supervisor.which_children`."""

    name: str
    running: bool
    restarts: int


class _Child:
    """The supervisor's bookkeeping for one child spec (private to the supervisor)."""

    __slots__ = (
        "ended",
        "mailbox",
        "ready",
        "restart_scope",
        "restarts",
        "running",
        "scope",
        "spec",
        "start_error",
        "started",
        "started_at",
        "terminating",
        "tracker",
    )

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.mailbox = Mailbox(spec.name, spec.mailbox_size)
        self.tracker: BackoffTracker = spec.backoff.tracker()
        self.running = False  # from _start until the run's task ends
        # Set when the run ends; made only when someone waits for that (_terminate).
        self.ended: trio.Event | None = None
        self.scope: trio.CancelScope | None = None
        self.restart_scope: trio.CancelScope | None = None
        # The start handshake: set once the run has started or ended without starting
        # (then with start_error, what its factory or on_start raised, if anything).
        self.ready: trio.Event | None = None
        self.start_error: Exception | None = None
        self.started = False
        self.terminating = False
        self.started_at = 0.0
        self.restarts = 0

    async def wait_ended(self) -> None:
        """Wait until the current run's task has ended (at once if none runs)."""
        if self.running:
            if self.ended is None:
                self.ended = trio.Event()
            await self.ended.wait()

    def run_ended(self) -> None:
        self.running = False
        if self.ended is not None:
            self.ended.set()
            self.ended = None


@dataclass(frozen=True, slots=True)
class _AddChild:
    spec: ChildSpec


@dataclass(frozen=True, slots=True)
class _RemoveChild:
    name: str


class _WhichChildren:
    pass


@dataclass(frozen=True, slots=True)
class _Refused:
    """An error to re-raise in the caller rather than crash the supervisor."""

    error: Exception


class _StartedProbe:
    """The ``task_status`` of a child's run: marks the child started and wakes the
    supervisor's task waiting in :meth:`Supervisor._start`."""

    __slots__ = ("_child",)

    def __init__(self, child: _Child) -> None:
        self._child = child

    def started(self, value: ActorRef | None = None) -> None:
        # The optional value only matches trio's TaskStatus protocol: an actor always
        # reports its ref, and a child started without one would be a bug.
        if value is None:
            raise TypeError("an actor must report its ActorRef when it has started")
        self._child.started = True
        assert self._child.ready is not None
        self._child.ready.set()


class Supervisor(Actor):
    """An actor that runs and restarts child actors (OTP-style).

    Args:
        children: specs started in this order when the supervisor starts.
        strategy: ``one_for_one`` (default), ``one_for_all`` or ``rest_for_one``.
        max_restarts: restarts allowed within ``max_seconds`` before giving up.
        max_seconds: the sliding window of the restart intensity.
    """

    def __init__(
        self,
        children: tuple[ChildSpec, ...] | list[ChildSpec] = (),
        *,
        strategy: Strategy = "one_for_one",
        max_restarts: int = 3,
        max_seconds: float = 5.0,
    ) -> None:
        super().__init__()
        check_strategy(strategy, max_restarts, max_seconds)
        self.strategy = strategy
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self._children: dict[str, _Child] = {}  # insertion order is start order
        for spec in children:
            self._add(spec)
        self._restart_times: deque[float] = deque()
        # Serializes changes that touch several children (group restarts, add, remove,
        # shutdown) so that one never sees another half done.
        self._lock = trio.Lock()
        self._stopping = False

    # ---- public API (safe to call from any task) ------------------------------------
    def child(self, name: str) -> ActorRef:
        """The stable ref of child ``name`` (valid across its restarts)."""
        try:
            return ActorRef(self._children[name].mailbox)
        except KeyError:
            raise KeyError(f"supervisor {self.name!r} has no child named {name!r}") from None

    async def add_child(self, spec: ChildSpec, *, timeout: float = 30.0) -> ActorRef:
        """Start a new child at the end of the order and return its ref.

        Raises:
            DuplicateChild: a child with that name exists.
        """
        ref: ActorRef = self._unwrap(await self.ref.ask(_AddChild(spec), timeout=timeout))
        return ref

    async def remove_child(self, name: str, *, timeout: float = 30.0) -> None:
        """Stop child ``name`` gracefully (its shutdown timeout applies) and forget it."""
        self._unwrap(await self.ref.ask(_RemoveChild(name), timeout=timeout))

    async def which_children(self, *, timeout: float = 5.0) -> list[ChildInfo]:
        """A snapshot of the children in start order."""
        children: list[ChildInfo] = await self.ref.ask(_WhichChildren(), timeout=timeout)
        return children

    @staticmethod
    def _unwrap(result: Any) -> Any:
        if isinstance(result, _Refused):
            raise result.error
        return result

    # ---- actor hooks -------------------------------------------------------------------
    async def on_start(self) -> None:
        for child in list(self._children.values()):
            await self._start(child)

    async def receive(self, message: Any) -> Any:
        if isinstance(message, _AddChild):
            try:
                return await self.start_child(message.spec)
            except Exception as error:  # reported to the caller, not a crash of ours
                return _Refused(error)
        if isinstance(message, _RemoveChild):
            try:
                await self.terminate_child(message.name)
            except KeyError as error:
                return _Refused(error)
            return None
        if isinstance(message, _WhichChildren):
            return [ChildInfo(c.spec.name, c.running, c.restarts) for c in self._children.values()]
        raise TypeError(f"supervisor {self.name!r} does not handle {type(message).__name__}")

    # ---- for subclasses: the same operations from inside the supervisor's own task ----------
    async def start_child(self, spec: ChildSpec) -> ActorRef:
        """Add and start a child (what ``add_child`` asks for); raises what the start raised.

        For subclasses handling their own messages; from outside use ``add_child``.
        """
        # The lock as `async with` takes it, without the yield when it is free (the
        # start that follows waits for the child anyway): a check for cancellation,
        # then the lock at once, or a wait for it.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self._lock.acquire_nowait()
        except trio.WouldBlock:
            await self._lock.acquire()
        try:
            child = self._add(spec)
            try:
                await self._start(child)
            except Exception:
                self._forget(child)
                raise
            return ActorRef(child.mailbox)
        finally:
            self._lock.release()

    async def terminate_child(self, name: str) -> None:
        """Stop child ``name`` gracefully and forget it (``KeyError`` if unknown).

        For subclasses handling their own messages; from outside use ``remove_child``.
        """
        async with self._lock:
            child = self._children.get(name)
            if child is None:
                raise KeyError(f"no child named {name!r}")
            await self._terminate(child)
            self._forget(child)

    async def run(
        self, mailbox: Mailbox, *, task_status: trio.TaskStatus[ActorRef] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the supervisor; when the run ends for any reason, its children end for good.

        A graceful stop closes each child's mailbox in ``on_stop``; a crash
        (``SupervisorFailed``) or a cancellation gets here without it. The children's
        mailboxes belong to this run (a restarted supervisor builds new ones), so they
        close now: asks queued in them fail with ``ActorStopped`` instead of waiting for
        a child that will never run again, and the old refs fail fast.
        """
        ours = self._mailbox is None  # else super().run refuses: not our run to end
        try:
            await super().run(mailbox, task_status=task_status)
        finally:
            if ours:
                for child in self._children.values():
                    child.mailbox.close()

    async def on_stop(self) -> None:
        self._stopping = True
        for child in self._children.values():
            if child.restart_scope is not None:
                child.restart_scope.cancel()
        async with self._lock:
            for child in reversed(list(self._children.values())):
                await self._terminate(child)
                child.mailbox.close()

    # ---- starting and stopping one child ------------------------------------------------
    def _add(self, spec: ChildSpec) -> _Child:
        if not isinstance(spec, ChildSpec):
            raise ActorConfigError(f"expected a ChildSpec, got {type(spec).__name__}")
        if spec.name in self._children:
            raise DuplicateChild(f"supervisor already has a child named {spec.name!r}")
        child = _Child(spec)
        self._children[spec.name] = child
        return child

    def _forget(self, child: _Child) -> None:
        if self._children.get(child.spec.name) is child:
            del self._children[child.spec.name]
        child.mailbox.close()

    async def _start(self, child: _Child) -> None:
        """Start one run of ``child``; raises what its factory or on_start raised.

        The run's task is started with ``start_soon`` into the supervisor's nursery
        and this task waits for its handshake: what ``nursery.start`` guarantees (the
        run has started, or its error is raised here; a caller cancelled meanwhile
        cancels the start and waits for it to end), without the temporary nursery and
        the move of the task between nurseries that ``nursery.start`` costs.
        """
        child.started = False
        child.terminating = False
        child.start_error = None
        child.running = True
        child.scope = trio.CancelScope()
        ready = child.ready = trio.Event()
        self.nursery.start_soon(self._run_child, child)
        try:
            await ready.wait()
        except BaseException:
            if not child.started:
                # Cancelled before the run started: it is cancelled too, and ends first.
                child.scope.cancel()
                with trio.CancelScope(shield=True):
                    await child.wait_ended()
            raise
        finally:
            child.ready = None
        if child.start_error is not None:
            error, child.start_error = child.start_error, None
            raise error
        if not child.started:
            raise RuntimeError(f"child {child.spec.name!r} ended before it had started")

    async def _run_child(self, child: _Child) -> None:
        error: Exception | None = None
        scope = child.scope
        assert scope is not None
        try:
            actor = child.spec.factory()
            if not isinstance(actor, Actor):
                raise ActorConfigError(
                    f"factory of child {child.spec.name!r} returned "
                    f"{type(actor).__name__}, not an Actor"
                )
            with scope:
                child.started_at = trio.current_time()
                try:
                    await actor.run(child.mailbox, task_status=_StartedProbe(child))
                except Exception as exc:
                    error = exc
        except Exception as exc:  # the factory's
            error = exc
        finally:
            child.run_ended()
            if not child.started and child.ready is not None:
                child.start_error = error  # reported to whoever called _start
                child.ready.set()
        if not child.started:
            return
        await self._after_exit(child, error)

    async def _terminate(self, child: _Child) -> None:
        """Stop ``child`` gracefully within its shutdown timeout, else cancel it."""
        child.terminating = True
        if child.restart_scope is not None:
            child.restart_scope.cancel()
        if not child.running:
            return
        with trio.move_on_after(child.spec.shutdown_timeout):
            if child.mailbox.running is not None:
                child.mailbox.running.request_stop()
            await child.wait_ended()
        if child.running:
            logger.warning(
                "child %r did not stop within %s s; cancelling it",
                child.spec.name,
                child.spec.shutdown_timeout,
            )
            assert child.scope is not None
            child.scope.cancel()
            await child.wait_ended()

    # ---- restarts ------------------------------------------------------------------------
    async def _after_exit(self, child: _Child, error: Exception | None) -> None:
        if child.terminating or self._stopping:
            return
        child.tracker.observe_run(trio.current_time() - child.started_at)
        restart = child.spec.restart == "permanent" or (
            child.spec.restart == "transient" and error is not None
        )
        if error is not None:
            logger.warning("child %r crashed", child.spec.name, exc_info=error)
        if not restart:
            self._forget(child)  # ended for good: its ref now fails fast
            return
        with trio.CancelScope() as child.restart_scope:
            if self.strategy == "one_for_one":
                await self._restart_group(child, error)
            else:
                async with self._lock:
                    await self._restart_group(child, error)
        child.restart_scope = None

    def _group(self, child: _Child) -> list[_Child]:
        """The children that restart together with ``child``, in start order."""
        children = list(self._children.values())
        if self.strategy == "one_for_all":
            return children
        if self.strategy == "rest_for_one":
            return children[children.index(child) :]
        return [child]

    async def _restart_group(self, failed: _Child, error: Exception | None) -> None:
        while True:
            await self._count_restart(failed, error)
            group = self._group(failed)
            for other in reversed(group):
                if other is not failed:
                    await self._terminate(other)
                    if other.spec.restart == "temporary":
                        self._forget(other)  # as in OTP: removed, never restarted
            group = [m for m in group if self._children.get(m.spec.name) is m]
            delay = failed.tracker.next_delay()
            logger.info("restarting %r in %.3f s", failed.spec.name, delay)
            await trio.sleep(delay)
            failed.restarts += 1
            try:
                for member in group:
                    failed = member
                    await self._start(member)
                return
            except Exception as exc:  # a restart's on_start failed: that is a crash too
                logger.warning("child %r failed to restart", failed.spec.name, exc_info=exc)
                error = exc

    async def _count_restart(self, child: _Child, error: Exception | None) -> None:
        now = trio.current_time()
        self._restart_times.append(now)
        while self._restart_times and self._restart_times[0] < now - self.max_seconds:
            self._restart_times.popleft()
        if len(self._restart_times) <= self.max_restarts:
            return
        failure = SupervisorFailed(
            f"supervisor {self.name!r} gave up: more than {self.max_restarts} restarts "
            f"within {self.max_seconds} s (last: child {child.spec.name!r}"
            + (f" raised {type(error).__name__}: {error})" if error else " returned)")
        )
        logger.error("%s", failure)
        self._stopping = True
        for other in reversed(list(self._children.values())):
            if other is not child:
                await self._terminate(other)
        raise failure from error
