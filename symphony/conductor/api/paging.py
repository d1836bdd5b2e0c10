"""Pages and filters of ``GET /deployments``.

Deployments are listed in the order they were created, ``(created_at, id)``, a key no
write ever changes. A page ends with ``next_cursor``, an opaque text that names the last
deployment it holds; the next page starts after it, so deployments created or deleted
meanwhile never shift a page (a deployment created after the listing began appears on
the last page). Filters select before paging::

    GET /deployments?limit=500                       # the first 500
    GET /deployments?limit=500&cursor=<next_cursor>  # the next 500
    GET /deployments?state=running&label=team=ml&name=web-

Everything here is pure: :func:`select` takes the snapshot's records and a way to read
each one's state, and returns the page and the cursor after it.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from symphony.errors import SymphonyError
from symphony.spec import DeploymentSpec

from ..store import DeploymentRecord

#: The largest page a client may ask for.
MAX_PAGE = 1000
#: The most ``label`` selectors one listing may combine.
MAX_SELECTORS = 16
_MAX_CURSOR = 512

Key = tuple[float, str]
LabelSelector = tuple[str, str | None]  # (key, value); None: the key is present


class BadCursor(SymphonyError, ValueError):
    """A cursor this server did not give out (or one damaged on the way)."""


def cursor_of(record: DeploymentRecord) -> str:
    """The cursor that continues a listing after ``record``."""
    raw = json.dumps([record.created_at, record.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def key_of_cursor(cursor: str) -> Key:
    """The ``(created_at, id)`` a cursor names; :class:`BadCursor` if it is not one."""
    if len(cursor) > _MAX_CURSOR:
        raise BadCursor("too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, deployment_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise BadCursor("not a cursor from this server") from None
    if (
        not isinstance(created_at, int | float)
        or isinstance(created_at, bool)
        or not math.isfinite(created_at)
        or not isinstance(deployment_id, str)
    ):
        raise BadCursor("not a cursor from this server")
    return float(created_at), deployment_id


@dataclass(frozen=True, slots=True)
class ListFilter:
    """What a listing selects; every part given must match (an empty filter takes all)."""

    state: str | None = None
    node_group: str | None = None
    name_prefix: str | None = None
    labels: tuple[LabelSelector, ...] = ()

    def matches(self, spec: DeploymentSpec, name: str, state: Callable[[], str]) -> bool:
        """Whether a deployment is selected; ``state`` is asked last (it may cost)."""
        if self.node_group is not None and spec.node_group != self.node_group:
            return False
        if self.name_prefix is not None and not name.startswith(self.name_prefix):
            return False
        for key, value in self.labels:
            if key not in spec.labels or (value is not None and spec.labels[key] != value):
                return False
        return self.state is None or state() == self.state


def select(
    records: Sequence[DeploymentRecord],
    keys: Sequence[Key],
    chosen: ListFilter,
    state_of: Callable[[DeploymentRecord], str],
    *,
    after: Key | None = None,
    limit: int | None = None,
) -> tuple[list[DeploymentRecord], str | None]:
    """The page of ``records`` (sorted by ``keys``, their ``(created_at, id)``) after
    ``after`` that ``chosen`` selects, at most ``limit`` long, and the cursor for the next
    page (None: this is the last)."""
    start = 0 if after is None else bisect.bisect_right(keys, after)
    page: list[DeploymentRecord] = []
    for record in records[start:]:
        if not chosen.matches(record.spec, record.name, partial(state_of, record)):
            continue
        if limit is not None and len(page) == limit:
            return page, cursor_of(page[-1])
        page.append(record)
    return page, None
