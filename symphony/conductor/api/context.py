"""What route handlers may reach: actor refs and settings, never actor state."""

from __future__ import annotations

from dataclasses import dataclass

from symphony.actors import ActorRef


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiContext:
    """Handed to :func:`create_app`; routes read it from ``current_app.config``."""

    registry: ActorRef
    started_at: float
    version: str
