"""What route handlers may reach: actor refs and settings, never actor state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from symphony.actors import ActorRef

from .hosts import LOOPBACK_HOSTS
from .snapshots import SnapshotCache

if TYPE_CHECKING:
    from ..deployments import EventLog
    from ..relay import RelayHub
    from ..store import Store
    from ..uploads import UploadStore


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiContext:
    """Handed to :func:`create_app`; routes read it from ``current_app.config``.

    ``token`` is the bearer token every non-public route wants; ``None`` turns the check
    off (``conductor.http.auth: none``, which the config allows only on loopback). It has
    no default on purpose: an embedding program must choose. ``allowed_hosts`` are the
    names a request's Host (and a change's Origin) may carry (see :mod:`.hosts`);
    the default suits a server on loopback. ``snapshots`` shares reads of the whole
    store between clients (see :mod:`.snapshots`); by default it reads on the event loop
    with the store's own connection; the Conductor passes one that reads in a thread.
    """

    registry: ActorRef
    scheduler: ActorRef
    deployments: ActorRef
    store: Store  # read-only queries from routes; writes go through actors
    events: EventLog  # the live event feed
    started_at: float
    version: str
    token: str | None
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS
    snapshots: SnapshotCache | None = None
    #: Archives uploaded for ``config.image: "upload:..."``; None: uploads are refused.
    uploads: UploadStore | None = None
    #: Visits, forwards and tunnels (``/x/``, ``GET /tunnels``); None: refused (503).
    relay: RelayHub | None = None
    #: Where browsers reach services (``conductor.relay.url``, behind a reverse proxy);
    #: None: the host a request named, with the relay port (see :mod:`.origins`).
    relay_url: str | None = None

    def __post_init__(self) -> None:
        if self.snapshots is None:
            object.__setattr__(self, "snapshots", SnapshotCache(self.store))

    def shared_reads(self) -> SnapshotCache:
        """The :class:`SnapshotCache` of this API (``snapshots``, or the default one)."""
        assert self.snapshots is not None  # set in __post_init__
        return self.snapshots
