"""Named leases with fencing tokens: which Conductor leads, and until when.

Several Conductors share one database; one of them holds the ``conductor`` lease and is
the leader. A lease is a row: its ``holder`` (a name unique to one Conductor, i.e.
to its state directory), a fencing ``token``, an expiry time and the holder's advertised API URL::

    lease = store.acquire_lease("conductor", me, seconds=10, url="https://a:8000")
    if lease.holder == me:
        store.fence_writes("conductor", me, lease.token)   # writes only while it stands
        ...
        lease = store.acquire_lease("conductor", me, seconds=10, renew=lease.token)

The token rises by one every time the lease changes hands and never falls, so a
holder's token names its term. :meth:`LeaseTable.fence_writes` makes every later write
transaction of this store check, inside itself, that the lease still carries our
holder and token: a leader that was paused past its lease (SIGSTOP, a long GC, a
partition) and wakes up after a standby took over gets
:class:`~symphony.conductor.store.Fenced` for its next write, never a lost update.

Expiry compares the wall clocks of the Conductors (``expires_at`` is written by the
holder's clock, read by the others'): keep them in sync (NTP) to well within the lease.
The holder itself steps down by its own monotonic clock, before the lease can expire
(see :mod:`symphony.conductor.leadership`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._base import StoreBase
from ._db import Row


@dataclass(frozen=True, slots=True)
class Lease:
    """One lease as stored: who holds it, with which fencing token, until when."""

    name: str
    holder: str
    token: int
    expires_at: float
    url: str | None
    acquired_at: float
    #: Held by a Conductor without ``lease_seconds``: alone on its store, it never steps
    #: down, so no other Conductor may run beside it (see leadership.py).
    alone: bool = False

    def held_by(self, holder: str, now: float) -> bool:
        """Whether ``holder`` holds this lease at time ``now`` (Unix seconds)."""
        return self.holder == holder and now < self.expires_at


class LeaseTable(StoreBase):
    def get_lease(self, name: str) -> Lease | None:
        """The lease as stored (possibly expired), or None if nobody ever held it."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM leases WHERE name = ?",
            (name,),
        )
        return _lease(rows[0]) if rows else None

    def acquire_lease(
        self,
        name: str,
        holder: str,
        *,
        seconds: float,
        url: str | None = None,
        renew: int | None = None,
        alone: bool = False,
    ) -> Lease:
        """Try to take or keep the lease ``name`` for ``seconds``; returns it as it stands.

        The caller holds it iff the returned lease's ``holder`` is ``holder``. With
        ``renew`` (the token of the caller's current term) a lease still carrying that
        token is extended under the same token, even if its time ran out meanwhile
        (nobody else held it in between, so nothing was written by anyone else).
        Otherwise a free or expired lease is taken with the next token, and so is a
        lease ``holder`` holds from an earlier term (a restart: no need to wait for it).
        ``alone`` marks the lease as one that does not step down (stored with it).
        """
        now = self._clock()
        expires = now + seconds
        with self._write(fenced=False) as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM leases WHERE name = ?", (name,)).fetchone()
            current = _lease(row) if row is not None else None
            if current is None:
                conn.execute(
                    "INSERT INTO leases (name, holder, token, expires_at, url, acquired_at, "
                    "alone) VALUES (?, ?, 1, ?, ?, ?, ?)",
                    (name, holder, expires, url, now, int(alone)),
                )
                return Lease(name, holder, 1, expires, url, now, alone)
            if renew is not None and current.holder == holder and current.token == renew:
                conn.execute(
                    "UPDATE leases SET expires_at = ?, url = ?, alone = ? WHERE name = ?",
                    (expires, url, int(alone), name),
                )
                return Lease(name, holder, renew, expires, url, current.acquired_at, alone)
            # Our own holder name without our term's token: an earlier run of this same
            # Conductor (a holder name is one state directory, which one process holds at
            # a time), or this run after it stepped down. Either way that term is over.
            if current.expires_at > now and current.holder != holder:
                return current  # someone else's, still running
            token = current.token + 1
            conn.execute(
                "UPDATE leases SET holder = ?, token = ?, expires_at = ?, url = ?, "
                "acquired_at = ?, alone = ? WHERE name = ?",
                (holder, token, expires, url, now, int(alone), name),
            )
            return Lease(name, holder, token, expires, url, now, alone)

    def release_lease(self, lease: Lease) -> bool:
        """Give the lease up at once (a clean shutdown), so a standby need not wait for
        it to expire. False if it had changed hands already."""
        with self._write(fenced=False) as conn:
            cursor = conn.execute(
                "UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ? AND token = ?",
                (lease.name, lease.holder, lease.token),
            )
            return cursor.rowcount == 1

    def fence_writes(self, name: str, holder: str, token: int = 0) -> None:
        """Let later write transactions through only while ``holder`` holds the lease
        ``name`` with ``token``; they raise ``Fenced`` once it changed hands. Token 0
        (no term has it) refuses every write: a standby's store."""
        self._fence = (name, holder, token)

    def stop_fencing(self) -> None:
        """Write without checking any lease again (one Conductor alone)."""
        self._fence = None


_COLUMNS = "name, holder, token, expires_at, url, acquired_at, alone"


def _lease(row: Row) -> Lease:
    name, holder, token, expires_at, url, acquired_at, alone = row
    return Lease(
        name=str(name),
        holder=str(holder),
        token=int(token),
        expires_at=float(expires_at),
        url=None if url is None else str(url),
        acquired_at=float(acquired_at),
        alone=bool(alone),
    )
