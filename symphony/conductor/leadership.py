"""Leadership: which of several Conductors sharing one store does the work.

Each Conductor names itself by an id kept in its state directory (``conductor-id``) and
competes for the store's ``conductor`` lease (see
:mod:`symphony.conductor.store._leases`). The holder is the **leader**: it runs the
actor tree (scheduler, deployments, schedules, the node links). The others are
**standbys**: they keep trying to take the lease and, once it is theirs, load the state
from the store and lead.

Timing, for a lease of ``seconds``:

- the leader renews every ``seconds / 3``; each renewal lets it lead until its start
  (on the leader's monotonic clock) plus ``seconds`` minus a safety margin
  (``seconds / 4``). Past that deadline without a renewal it **steps down** (stops its
  actors, drops the node links), before the lease it last wrote can expire;
- a standby reads the lease every :data:`STANDBY_POLL` seconds (a quarter of a shorter
  lease) and tries to take it at its expiry, or as soon as it was given up: it takes
  over within ``seconds`` of the leader's last renewal, or within a poll of a release;
- writes are fenced: a leader whose lease was taken anyway (it was paused, say) has
  every write refused with :class:`~symphony.conductor.store.Fenced`.

Used by :mod:`symphony.conductor.service`; tests drive it with a real store.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import trio

from .store import Lease, Store

log = logging.getLogger("symphony.conductor.leadership")

#: The lease the Conductors compete for.
LEASE = "conductor"
#: Seconds between a standby's reads of the lease (at most; a quarter of a shorter lease).
STANDBY_POLL = 0.1
#: The file in a Conductor's state directory that names it (a holder of the lease).
ID_FILE = "conductor-id"


def conductor_id(state_dir: Path) -> str:
    """This Conductor's stable name (made on its first start). The state directory's
    lock guarantees that one process at a time uses it."""
    path = state_dir / ID_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        name = f"conductor-{uuid.uuid4().hex[:12]}"
        path.write_text(name + "\n", encoding="utf-8")
        return name


class Leadership:
    """Takes, keeps and gives up the lease for one Conductor.

    ``await leadership.until_change()`` returns when the role must change: a leader
    lost (or could not renew) its lease, a standby won it. ``is_leader()`` is true only
    while the lease is ours and our deadline has not passed: actors may ask it any time.
    """

    def __init__(
        self,
        store: Store,
        *,
        holder: str,
        seconds: float,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not seconds > 0:
            raise ValueError(f"lease_seconds must be above 0, got {seconds!r}")
        self.store = store
        self.holder = holder
        self.seconds = seconds
        self.wall = wall  # the clock lease expiry is written in (the store's)
        #: The API URL published with the lease (standbys forward to it).
        self.url: str | None = None
        self._lease: Lease | None = None  # ours, while leading
        # The last lease we held, kept past a step-down so that release() can still
        # give it up (by its token: one taken over since is untouched).
        self._held: Lease | None = None
        self._seen: Lease | None = None  # the lease as last read
        self._deadline = -math.inf  # trio time until which we may lead
        self._fenced = trio.Event()  # a write found the lease gone: stop leading now
        store.on_fenced = self._fenced.set
        self._failed_at = -math.inf  # when a standby's read of the lease last failed

    @property
    def margin(self) -> float:
        """How long before our lease's expiry we stop leading."""
        return self.seconds / 4

    @property
    def lease(self) -> Lease | None:
        """Our lease while we lead, else None."""
        return self._lease if self.is_leader() else None

    def is_leader(self) -> bool:
        return self._lease is not None and trio.current_time() < self._deadline

    @property
    def seen(self) -> Lease | None:
        """The lease as last read (anyone's, possibly expired)."""
        return self._seen

    def leader_url(self) -> str | None:
        """Where the leader's API is, as last seen in the store (None: not known)."""
        seen = self._seen
        if seen is None or seen.holder == self.holder or seen.expires_at <= self.wall():
            return None
        return seen.url

    def refresh(self) -> Lease | None:
        """Read the lease again (a standby forwarding a request wants a fresh leader)."""
        self._seen = self.store.get_lease(LEASE)
        return self._seen

    def try_acquire(self) -> bool:
        """One attempt to take (or renew) the lease; True if we lead now.

        Fences the store either way: as the holder's term, or (standby) refusing every
        write."""
        started = trio.current_time()
        renew = self._lease.token if self._lease is not None else None
        lease = self.store.acquire_lease(
            LEASE, self.holder, seconds=self.seconds, url=self.url, renew=renew
        )
        self._seen = lease
        if lease.holder != self.holder:
            self._held = None
            if self._lease is not None:
                log.warning("lease taken over by %s (token %d)", lease.holder, lease.token)
            self.step_down()
            return False
        if renew is None:
            log.info("leading (lease token %d)", lease.token)
        self._lease = self._held = lease
        self._deadline = started + self.seconds - self.margin
        self.store.fence_writes(LEASE, self.holder, lease.token)
        return True

    def renew_or_step_down(self) -> bool:
        """Renew the lease now; if that fails (another holder, a busy or unreachable
        store) stop leading at once. True if we lead."""
        if self._attempt() and self.is_leader():
            return True
        self.step_down()
        return False

    def step_down(self) -> None:
        """Stop leading now: refuse every write until the lease is ours again."""
        self._lease, self._deadline = None, -math.inf
        self.store.fence_writes(LEASE, self.holder)

    def release(self) -> None:
        """Give the lease up (clean shutdown) so a standby takes over at once.

        Even past our deadline (a renewal came late), and even once we stepped down for
        it: the lease is released only if it still carries our last token, so one
        another Conductor took meanwhile is untouched, and one still ours need not be
        waited out."""
        lease, self._held = self._lease or self._held, None
        self.step_down()
        if lease is not None:
            release_quietly(self.store, lease)

    async def keep_until(self, done: trio.Event) -> None:
        """Renew the lease (as a leader does) until ``done`` is set or the lease is lost:
        a leader that is stopping keeps it while it drains (see :mod:`.stopping`).

        A lease still ours whose deadline passed (the loop stalled just then) is renewed
        at once if nobody took it, as after a long start; else this returns at once."""
        if self._lease is None or not (self.is_leader() or self.renew_or_step_down()):
            return
        async with trio.open_nursery() as nursery:

            async def renew() -> None:
                await self._keep()
                nursery.cancel_scope.cancel()

            nursery.start_soon(renew)
            await done.wait()
            nursery.cancel_scope.cancel()

    async def until_change(self) -> None:
        """Return when the role must change (see the class docstring)."""
        if self.is_leader():
            await self._keep()
        else:
            await self._seek()

    def _attempt(self) -> bool | None:
        try:
            return self.try_acquire()
        except Exception as error:  # a busy or unreachable store: try again soon
            log.warning("lease %s failed: %s", "renewal" if self._lease else "attempt", error)
            return None

    async def _keep(self) -> None:
        interval = self.seconds / 3
        self._fenced = trio.Event()
        self.store.on_fenced = self._fenced.set
        while True:
            with trio.move_on_at(self._deadline):
                with trio.move_on_after(interval):
                    await self._fenced.wait()
                    log.warning("a write was refused: the lease changed hands; stepping down")
                    # Writes are refused from now on; the API answers what it serves as
                    # it steps down (the refusals in flight keep their 503).
                    self.step_down()
                    return
                if self._attempt() is False:
                    return  # another holder (step_down done)
            if not self.is_leader():
                log.warning("lease not renewed in time: stepping down")
                self.step_down()
                return

    async def _seek(self) -> None:
        # A read every poll (cheap, and no write lock taken), an attempt to take the lease
        # only when it is free: a lease given up (a clean stop) is taken within a poll.
        poll = min(STANDBY_POLL, self.seconds / 4)
        while True:
            seen = self._seen
            delay = poll
            if seen is not None:
                # Try right when the current lease runs out.
                delay = min(poll, max(0.01, seen.expires_at - self.wall() + 0.01))
            await trio.sleep(delay)
            if self._free() and self._attempt():
                return
            if self._beside_alone():
                return  # the next attempt (the caller's) refuses to run beside it

    def _beside_alone(self) -> bool:
        """Whether a Conductor without ``lease_seconds`` holds the lease as last read:
        one that never steps down, beside which no Conductor may run (see .alone)."""
        seen = self._seen
        return (
            seen is not None
            and seen.alone
            and seen.holder != self.holder
            and seen.expires_at > self.wall()
        )

    def _free(self) -> bool:
        """Whether the lease may be ours for the taking (read again). If the read fails,
        an attempt follows at most every second, to say why in the log."""
        try:
            seen = self.refresh()
        except Exception:
            if trio.current_time() - self._failed_at < 1.0:
                return False
            self._failed_at = trio.current_time()
            return True
        return seen is None or seen.holder == self.holder or seen.expires_at <= self.wall()


def release_quietly(store: Store, lease: Lease) -> None:
    """Give ``lease`` up at once, if it still carries its token; a store that fails is
    only logged (it may be gone: the lease then runs out by itself)."""
    try:
        store.release_lease(lease)
    except Exception as error:
        log.warning("could not release the lease: %s", error)
