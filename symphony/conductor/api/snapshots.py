"""Shared reads of every deployment and instance: one read serves every client.

Each ``/live`` stream sweeps the whole store once per second, and ``GET /deployments``
lists it all. Read once per client, 50 browser tabs on 2,000 deployments meant 50 full
reads a second, each tens of milliseconds of the event loop that also carries the nodes'
heartbeats. A :class:`SnapshotCache` instead hands every caller the same
:class:`Snapshot`, read at most once per period for the streams, and reads it in a worker
thread on a connection of its own (:class:`~symphony.conductor.store.StoreReader`)::

    snapshot = await cache.recent(max_age=1.0)   # /live: at most one period old
    snapshot = await cache.current()             # GET /deployments: every write so far

Two freshness rules, because the callers differ:

- :meth:`SnapshotCache.recent` (the streams' sweep): any snapshot begun less than
  ``max_age`` ago will do, or an older one if nothing was written since. A stream
  sweeping once a period thus sees a change at most two periods after it was written.
- :meth:`SnapshotCache.current` (a listing): it must show every write acknowledged
  before the request (a client that created a deployment sees it in the next list), so
  a snapshot begun before the latest commit is not reused. Concurrent listings still
  share one read.

One read runs at a time; everyone else waits for it and then takes it if it fits. A
snapshot's JSON views are made once and shared, so they must never be mutated; so is
each deployment's encoded JSON text, which the next snapshot keeps while the deployment
is unchanged: a listing of 10,000 deployments joins texts instead of encoding them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Literal, TypeVar

import trio

from ..store import DeploymentRecord, EventRecord, InstanceRecord, Store
from .jsonout import json_compact
from .paging import ListFilter, select
from .rowview import ROWS_PREFIX, row_of
from .sse import sse, sse_raw
from .views import deployment_json, event_json, with_usage

Fingerprint = tuple[Any, ...]
#: How much of each deployment a listing shows: everything, all but its spec (a
#: summary), or the summary as a row of values (see :mod:`.rowview`).
View = Literal["full", "summary", "rows"]
T = TypeVar("T")
#: How many snapshots back a snapshot remembers what changed (a stream that skipped
#: more compares everything once).
HISTORY = 8
#: Encoded event messages kept for the streams (each takes them once, right away).
EVENT_MESSAGES = 1024


def fingerprint(record: DeploymentRecord, instances: Iterable[InstanceRecord]) -> Fingerprint:
    """Changes whenever the deployment or one of its instances is written."""
    marks = sorted((i.id, i.updated_at, i.state) for i in instances)
    return (record.updated_at, record.generation, tuple(marks))


class Snapshot:
    """Every deployment with its instances as read at one moment; shared, never changed.

    ``version`` is the store's commit count noted before the read began: the snapshot
    shows at least every write up to it. ``taken_at`` is ``trio.current_time()`` then.
    ``seq`` numbers the snapshots of one cache; each knows which deployments are new or
    changed since each of its last :data:`HISTORY` predecessors (:meth:`changed_since`).
    """

    def __init__(
        self,
        records: list[DeploymentRecord],
        instances: list[InstanceRecord],
        *,
        version: int,
        taken_at: float,
        previous: Snapshot | None = None,
    ) -> None:
        self.version = version
        self.taken_at = taken_at
        self.records = records
        grouped: dict[str, list[InstanceRecord]] = {}
        for inst in instances:
            grouped.setdefault(inst.deployment_id, []).append(inst)
        self._instances = grouped
        self.fingerprints = {r.id: fingerprint(r, grouped.get(r.id, ())) for r in records}
        # A deployment unchanged since the previous snapshot keeps its JSON view and its
        # encoded forms: a listing joins them, so only what changed is encoded again.
        self._json: dict[str, dict[str, Any]] = {}
        self._encoded: dict[View, dict[str, bytes]] = {"full": {}, "summary": {}, "rows": {}}
        if previous is not None:
            before = previous.fingerprints
            same = [i for i, mark in self.fingerprints.items() if before.get(i) == mark]
            self._json = _kept(previous._json, same)
            self._encoded = {v: _kept(texts, same) for v, texts in previous._encoded.items()}
        self._sse: dict[tuple[str, View], bytes] = {}
        self._keys: list[tuple[float, str]] | None = None
        self._by_id = {r.id: r for r in records}
        self._order = {r.id: n for n, r in enumerate(records)}
        self.seq: int = 0 if previous is None else previous.seq + 1
        self._diffs: tuple[frozenset[str], ...] = ()  # newest first
        if previous is not None:
            before = previous.fingerprints
            changed = frozenset(i for i, mark in self.fingerprints.items() if before.get(i) != mark)
            self._diffs = (changed, *previous._diffs[: HISTORY - 1])

    def changed_since(self, seq: int | None) -> frozenset[str] | None:
        """Ids of the deployments new or changed since snapshot ``seq``; None if unknown."""
        if seq is None or not 0 <= self.seq - seq <= len(self._diffs):
            return None
        return frozenset().union(*self._diffs[: self.seq - seq])

    def records_of(self, ids: Iterable[str]) -> list[DeploymentRecord]:
        """The records of those of ``ids`` this snapshot has, in list order."""
        found = (self._by_id[i] for i in ids if i in self._by_id)
        return sorted(found, key=lambda record: self._order[record.id])

    @property
    def keys(self) -> list[tuple[float, str]]:
        """Each record's ``(created_at, id)``, in list order: what pages are cut by."""
        if self._keys is None:
            self._keys = [(r.created_at, r.id) for r in self.records]
        return self._keys

    def page(
        self,
        chosen: ListFilter,
        *,
        after: tuple[float, str] | None = None,
        limit: int | None = None,
        usage: dict[str, dict[str, float]] | None = None,
        view: View = "full",
    ) -> bytes:
        """The body of a filtered or paged ``GET /deployments`` (see :mod:`.paging`)."""
        records, cursor = select(
            self.records,
            self.keys,
            chosen,
            lambda record: str(self.deployment_json(record)["state"]),
            after=after,
            limit=limit,
        )
        parts = [self._encode(r, usage, view) for r in records]
        return _listing_body(parts, view) + b',"next_cursor":' + json.dumps(cursor).encode() + b"}"

    def instances(self, deployment_id: str) -> list[InstanceRecord]:
        return self._instances.get(deployment_id, [])

    def deployment_json(self, record: DeploymentRecord) -> dict[str, Any]:
        """The API's JSON of one deployment of this snapshot (made once, then shared)."""
        view = self._json.get(record.id)
        if view is None:
            view = self._json[record.id] = deployment_json(record, self.instances(record.id))
        return view

    def deployment_sse(self, record: DeploymentRecord, view: View = "full") -> bytes:
        """The ``/live`` message of one deployment in ``view``, made once for every
        stream from the text a listing in that view uses (not encoded a second time)."""
        key = (record.id, view)
        message = self._sse.get(key)
        if message is None:
            message = self._sse[key] = _deployment_sse(self.encoded(record, view))
        return message

    def encoded(self, record: DeploymentRecord, view: View = "full") -> bytes:
        """The JSON text of one deployment in a listing's ``view``, made once per change
        of the deployment and shared by every listing."""
        cache = self._encoded[view]
        text = cache.get(record.id)
        if text is None:
            text = cache[record.id] = json_compact(_shown(self._view_for(record, view), view))
        return text

    def _view_for(self, record: DeploymentRecord, view: View) -> dict[str, Any]:
        """The shared JSON view if made already (or wanted whole), else the summary
        made without the spec: a third less work, and only its text is kept."""
        if view == "full" or record.id in self._json:
            return self.deployment_json(record)
        return deployment_json(record, self.instances(record.id), with_spec=False)

    def _encode(
        self, record: DeploymentRecord, usage: dict[str, dict[str, float]] | None, view: View
    ) -> bytes:
        """:meth:`encoded`, or a fresh text when an instance of it has current figures
        (they are not part of the snapshot, so a view with them is never kept)."""
        if usage and any(inst.id in usage for inst in self.instances(record.id)):
            return json_compact(_shown(with_usage(self.deployment_json(record), usage), view))
        return self.encoded(record, view)

    def deployments_array(self, view: View = "full") -> bytes:
        """Every deployment's JSON in ``view`` as one JSON array (the first message of
        ``/live``): the texts a listing in that view joins, shared with it."""
        return b"[" + b",".join(self.encoded(r, view) for r in self.records) + b"]"

    def listing(
        self, usage: dict[str, dict[str, float]] | None = None, *, view: View = "full"
    ) -> bytes:
        """The body of ``GET /deployments``: the deployments' kept texts joined, with
        the instances' current figures where ``usage`` has any."""
        parts = [self._encode(r, usage, view) for r in self.records]
        return _listing_body(parts, view) + b"}"


def summary_of(view: dict[str, Any]) -> dict[str, Any]:
    """A deployment's summary (``?view=summary``): its view without ``spec``, which is
    most of its size; what ``symphony ps`` and other tables need is all there."""
    return {key: value for key, value in view.items() if key != "spec"}


def _shown(view: dict[str, Any], shown: View) -> Any:
    """A deployment's JSON view as a listing in the ``shown`` view has it."""
    if shown == "full":
        return view
    return row_of(view) if shown == "rows" else summary_of(view)


def _kept(cache: dict[str, T], ids: Iterable[str]) -> dict[str, T]:
    """The entries of ``cache`` for ``ids`` (the deployments unchanged since it was made)."""
    return {i: cache[i] for i in ids if i in cache}


def _deployment_sse(text: bytes) -> bytes:
    """The ``deployment`` message of one deployment's encoded JSON: the bytes of
    ``sse("deployment", {"deployment": view})``."""
    return sse_raw("deployment", b'{"deployment":' + text + b"}")


def _listing_body(parts: list[bytes], view: View) -> bytes:
    """``{"deployments":[...]`` of encoded deployments (after the columns, for rows):
    the same bytes as encoding the whole answer at once, left open for what follows."""
    start = ROWS_PREFIX + b'"deployments":[' if view == "rows" else b'{"deployments":['
    return start + b",".join(parts) + b"]"


class DeploymentRead:
    """One deployment as re-read after an event: shared by the streams until a write."""

    def __init__(
        self, record: DeploymentRecord | None, instances: list[InstanceRecord], *, version: int
    ) -> None:
        self.record = record
        self.instances = instances
        self.version = version
        self.mark = None if record is None else fingerprint(record, instances)
        self._view: dict[str, Any] | None = None
        self._messages: dict[View, bytes] = {}

    def message(self, view: View = "full") -> bytes:
        """Its ``deployment`` message in ``view`` (only for one that exists)."""
        message = self._messages.get(view)
        if message is None:
            assert self.record is not None
            if self._view is None:
                self._view = deployment_json(self.record, self.instances)
            text = json_compact(_shown(self._view, view))
            message = self._messages[view] = _deployment_sse(text)
        return message


class SnapshotCache:
    """Hands out shared :class:`Snapshot` s of ``store`` (see the module's docstring).

    With ``off_thread`` (the Conductor's setting) each read opens a read-only connection
    in a worker thread; without it, reads use the store's own connection on the event
    loop (an in-memory store, or a test on Trio's virtual clock).
    """

    def __init__(self, store: Store, *, off_thread: bool = False) -> None:
        self._store = store
        self._off_thread = off_thread
        self._latest: Snapshot | None = None
        self._reading: trio.Event | None = None
        #: How many full reads were made (tests and benchmarks count them).
        self.reads = 0
        self._one: dict[str, DeploymentRead] = {}
        self._one_version = -1
        self._events: dict[int, bytes] = {}

    def deployment(self, deployment_id: str) -> DeploymentRead:
        """One deployment and its instances as of now: a small read on the event loop,
        shared (with its encoded message) by every caller until the next write: every
        stream re-reads a deployment on the same event."""
        commits = self._store.commits
        if commits != self._one_version:
            self._one, self._one_version = {}, commits
        found = self._one.get(deployment_id)
        if found is None:
            record = self._store.get_deployment(deployment_id)
            instances = (
                [] if record is None else self._store.list_instances(deployment_id=record.id)
            )
            found = self._one[deployment_id] = DeploymentRead(record, instances, version=commits)
        return found

    def event_sse(self, event: EventRecord) -> bytes:
        """The ``/live`` message of one event, encoded once for every stream."""
        message = self._events.get(event.id)
        if message is None:
            if len(self._events) >= EVENT_MESSAGES:
                self._events.clear()  # the streams are all at the newest events
            message = self._events[event.id] = sse("event", {"event": event_json(event)})
        return message

    async def recent(self, *, max_age: float) -> Snapshot:
        """A snapshot begun less than ``max_age`` seconds ago, or one nothing was written since."""
        oldest = trio.current_time() - max_age
        commits = self._store.commits
        return await self._get(lambda s: s.taken_at > oldest or s.version >= commits)

    async def current(self) -> Snapshot:
        """A snapshot that shows every write committed before this call."""
        commits = self._store.commits
        return await self._get(lambda s: s.version >= commits)

    async def page(
        self,
        chosen: ListFilter,
        *,
        after: tuple[float, str] | None = None,
        limit: int | None = None,
        usage: dict[str, dict[str, float]] | None = None,
        view: View = "full",
    ) -> bytes:
        """A filtered or paged ``GET /deployments`` as of now (see :meth:`Snapshot.page`);
        built in a worker thread when the cache reads off the event loop."""
        snapshot = await self.current()
        build = partial(snapshot.page, chosen, after=after, limit=limit, usage=usage, view=view)
        return await trio.to_thread.run_sync(build) if self._off_thread else build()

    async def listing(
        self, usage: dict[str, dict[str, float]] | None = None, *, view: View = "full"
    ) -> bytes:
        """The body of ``GET /deployments`` as of now (built in a worker thread, since
        the deployments changed since the last listing are encoded anew).

        ``usage`` (instance id -> current figures, see :mod:`.instance_usage`) is added
        to copies of the shared views of the instances it has figures for.
        """
        snapshot = await self.current()
        build = partial(snapshot.listing, usage, view=view)
        return await trio.to_thread.run_sync(build) if self._off_thread else build()

    async def deployments_array(self, snapshot: Snapshot, view: View = "full") -> bytes:
        """:meth:`Snapshot.deployments_array`, built in a worker thread if costly."""
        if self._off_thread:
            return await trio.to_thread.run_sync(snapshot.deployments_array, view)
        return snapshot.deployments_array(view)

    async def _get(self, fits: Callable[[Snapshot], bool]) -> Snapshot:
        while True:
            latest = self._latest
            if latest is not None and fits(latest):
                return latest
            if self._reading is None:
                return await self._read()
            await self._reading.wait()  # one read at a time: take it if it fits

    async def _read(self) -> Snapshot:
        self._reading = done = trio.Event()
        try:
            version, taken_at, previous = self._store.commits, trio.current_time(), self._latest
            self.reads += 1
            if self._off_thread:
                store = self._store

                def read() -> Snapshot:
                    records, instances = store.read_everything()
                    return Snapshot(
                        records, instances, version=version, taken_at=taken_at, previous=previous
                    )

                snapshot = await trio.to_thread.run_sync(read)
            else:
                records, instances = self._store.list_deployments(), self._store.list_instances()
                snapshot = Snapshot(
                    records, instances, version=version, taken_at=taken_at, previous=previous
                )
            self._latest = snapshot
            return snapshot
        finally:
            self._reading = None
            done.set()
