"""What route handlers may reach: actor refs and settings, never actor state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from symphony.actors import ActorRef


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiContext:
    """Handed to :func:`create_app`; routes read it from ``current_app.config``."""

    registry: ActorRef
    scheduler: ActorRef
    deployments: ActorRef
    store: Any  # Store: read-only queries from routes; writes go through actors
    events: Any  # EventLog: live event feed
    started_at: float
    version: str
