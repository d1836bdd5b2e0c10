"""Housekeeping: the Conductor's database does not grow without bound.

Every :data:`SWEEP_PERIOD` seconds the :class:`Housekeeper` deletes

- events beyond the newest ``conductor.events.keep_per_deployment`` of each deployment,
  and events older than ``conductor.events.max_age_sec`` (see docs/configuration.md);
- join tokens that can no longer be used: expired, or single-use and spent;
- uploaded archives no deployment's spec names, once a day old (see ``uploads.py``).

It is an actor of the Conductor's tree like the others: a timer task tells it
:class:`Sweep`, and it sweeps while handling that message. The store is the Conductor's
shared synchronous SQLite object (its writes are short transactions on the event loop),
so the sweep calls it directly. Deleting events does not disturb readers: event ids are
never reused, so an ``after`` cursor stays valid.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import trio

from symphony.actors import Actor

from .store import Store
from .uploads import UploadStore, referenced_upload

log = logging.getLogger("symphony.conductor.housekeeping")

#: Seconds between sweeps (the first one runs one period after the start).
SWEEP_PERIOD = 600.0


@dataclass(frozen=True, slots=True)
class Sweep:
    """Tell: prune events and unusable join tokens now (what the timer sends)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    """How much history to keep: ``keep_per_deployment`` newest events of each
    deployment, none older than ``max_age_sec`` (``None``: no age limit)."""

    keep_per_deployment: int = 1000
    max_age_sec: float | None = 30 * 86_400.0


class Housekeeper(Actor):
    """Sweeps the store every ``period`` seconds (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        retention: Retention,
        *,
        period: float = SWEEP_PERIOD,
        uploads: UploadStore | None = None,
    ):
        super().__init__()
        self.store = store
        self.uploads = uploads
        self.retention = retention
        self.period = period

    async def on_start(self) -> None:
        self.nursery.start_soon(self._timer)

    async def _timer(self) -> None:
        while True:
            await trio.sleep(self.period)
            await self.ref.tell(Sweep())

    async def receive(self, message: Any) -> Any:
        if isinstance(message, Sweep):
            self.sweep()
            return None
        raise TypeError(f"Housekeeper does not handle {type(message).__name__}")

    def sweep(self) -> tuple[int, int]:
        """Prune now; returns (events deleted, join tokens deleted)."""
        keep = self.retention
        before = None if keep.max_age_sec is None else time.time() - keep.max_age_sec
        events = self.store.prune_events(
            keep_per_deployment=keep.keep_per_deployment, before=before
        )
        tokens = self.store.delete_expired_join_tokens()
        if self.uploads is not None:
            named = (referenced_upload(d.spec.config.image) for d in self.store.list_deployments())
            gone = self.uploads.prune({sha for sha in named if sha is not None})
            if gone:
                log.info("housekeeping: removed %d unreferenced upload(s)", len(gone))
        if events or tokens:
            log.info(
                "housekeeping: deleted %d old event(s), %d unusable join token(s)", events, tokens
            )
        return events, tokens
