"""A Conductor alone on its store: it holds the lease too, so no other runs beside it.

A Conductor without ``conductor.store.lease_seconds`` never steps down: with nobody to
take over, stopping its work when the store is slow would only stop and restart it.
Another Conductor on the same store (a second one started on it by mistake, or one that
has ``lease_seconds`` while this one has none) would then lead beside it: two that both
act on nodes and write, each unaware of the other's deployments, a split brain.

So a Conductor alone holds the store's ``conductor`` lease as well, marked ``alone``,
renewed every :data:`ALONE_SECONDS` / 3 and never waited on (a renewal that fails is
logged and tried again, with no step-down). Either way round, the second Conductor to
start refuses, in one line that names the first (:func:`refuse_beside`):

- one alone finds a live lease of another Conductor (with ``lease_seconds`` or not);
- one with ``lease_seconds`` finds a live lease marked ``alone`` (at its start, and
  also later: a standby's reads of the lease end its wait when they find one, see
  :mod:`.leadership`).

Its writes are fenced by its lease as a leader's are: should another Conductor take
the lease anyway (this one was paused, or cut off from the store, for longer than the
lease), its next write is refused, and it stops (its API answering what it serves, as
a leader stepping down does) and ends with :class:`SharedStoreConflict`. A Conductor
killed outright leaves its lease to run out: another Conductor may start on the store
:data:`ALONE_SECONDS` later at most, while the same one restarted takes it back at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio

from symphony.errors import SymphonyError

from .leadership import LEASE, release_quietly
from .store import Lease, Store

log = logging.getLogger("symphony.conductor.alone")

#: Seconds the lease of a Conductor alone runs for from each renewal: how long another
#: Conductor may have to wait after it was killed.
ALONE_SECONDS = 30.0

_ADVICE = "set conductor.store.lease_seconds on every Conductor of a shared store"


class SharedStoreConflict(SymphonyError):
    """Another Conductor runs on this store, and one of the two has no
    ``lease_seconds``: they cannot both run (see the module)."""


def refuse_beside(lease: Lease | None, holder: str, now: float, *, alone: bool) -> None:
    """Raise :class:`SharedStoreConflict` if the lease as read (``lease``) forbids
    ``holder`` to run: a live lease of another Conductor when ``holder`` runs ``alone``,
    or a live lease marked alone when it runs with a lease of its own."""
    if lease is None or lease.holder == holder or lease.expires_at <= now:
        return
    if not (alone or lease.alone):
        return  # both take turns by the lease: a standby
    until = time.strftime("%H:%M:%S UTC", time.gmtime(lease.expires_at))
    other = f"Conductor {lease.holder} (API {lease.url or 'not known yet'}; lease until {until})"
    if alone:
        raise SharedStoreConflict(
            f"{other} runs on this store, and this Conductor has no lease_seconds: {_ADVICE}"
        )
    raise SharedStoreConflict(f"{other} runs on this store without lease_seconds: {_ADVICE}")


class AloneLease:
    """The lease of one Conductor alone on its store: :meth:`take` it at the start,
    :meth:`keep` it while running, :meth:`release` it at the end."""

    def __init__(self, store: Store, holder: str, *, wall: Callable[[], float] = time.time):
        self.store = store
        self.holder = holder
        self.wall = wall
        #: The API URL published with the lease (another Conductor's refusal names it).
        self.url: str | None = None
        self._lease: Lease | None = None
        #: Who took the lease from us, once someone did.
        self.taken_by: str | None = None

    def take(self) -> None:
        """Take the lease (and fence this store's writes by it), or raise
        :class:`SharedStoreConflict` if another Conductor holds it."""
        lease = self._acquire()
        refuse_beside(lease, self.holder, self.wall(), alone=True)
        if lease.holder != self.holder:  # cannot be: a lease not live is taken
            raise SharedStoreConflict(f"Conductor {lease.holder} holds this store's lease")
        self._lease = lease
        self.store.fence_writes(LEASE, self.holder, lease.token)

    def renew(self) -> bool:
        """One renewal; False once another Conductor holds the lease. A store that
        fails is only logged: this Conductor runs on, and tries again later."""
        try:
            lease = self._acquire()
        except Exception as error:
            log.warning("renewal of the lease failed (trying again): %s", error)
            return True
        if lease.holder != self.holder or self._lease is None or lease.token != self._lease.token:
            if lease.holder == self.holder:
                # Our term ended (another Conductor held the lease meanwhile, and has let
                # it run out since), so the store gave us a new one: not ours to keep.
                release_quietly(self.store, lease)
                self.taken_by = "another Conductor (its lease has run out since)"
            else:
                self.taken_by = lease.holder
            return False
        self._lease = lease
        return True

    async def keep(self, lost: trio.Event) -> None:
        """Renew the lease until cancelled; set ``lost`` and return once another
        Conductor took it (a renewal saw it, or a write was refused for it)."""
        fenced = trio.Event()
        self.store.on_fenced = fenced.set
        while True:
            with trio.move_on_after(ALONE_SECONDS / 3):
                await fenced.wait()
                self.taken_by = self._holder_now()
                break
            if not self.renew():
                break
        log.error("%s", self.lost_error())
        lost.set()

    def lost_error(self) -> SharedStoreConflict:
        """What this Conductor ends with once its lease was taken."""
        return SharedStoreConflict(
            f"Conductor {self.taken_by or 'unknown'} took the lease of this store while "
            f"this Conductor, without lease_seconds, was running on it: {_ADVICE}"
        )

    def release(self) -> None:
        """Give the lease up (a clean stop), so another Conductor may start at once."""
        lease, self._lease = self._lease, None
        if lease is not None:
            release_quietly(self.store, lease)

    def _acquire(self) -> Lease:
        renew = None if self._lease is None else self._lease.token
        return self.store.acquire_lease(
            LEASE, self.holder, seconds=ALONE_SECONDS, url=self.url, renew=renew, alone=True
        )

    def _holder_now(self) -> str | None:
        try:
            lease = self.store.get_lease(LEASE)
        except Exception:
            return None
        return None if lease is None else lease.holder
