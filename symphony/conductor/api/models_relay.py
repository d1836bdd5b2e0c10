"""Response models of the relay's routes: visit links and ``GET /tunnels``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .models_base import _Answer

__all__ = ["Tunnel", "TunnelList", "VisitLink"]


class VisitLink(_Answer):
    """A one-time link for a browser: open ``url`` once (within ``expires_in`` seconds);
    it leaves a cookie for ``path`` and takes the code out of the address bar."""

    experiment: str
    service: str
    path: str = Field(description="Where the service is served: /x/{experiment}/{service}/")
    url: str
    expires_in: float


class Tunnel(_Answer):
    """One tunnel (a name reached from one node), forward (one `port-forward` run) or
    visit (a service seen under /x/), with its traffic since the Conductor started."""

    kind: Literal["tunnel", "forward", "visit"]
    experiment: str
    service: str
    from_: str = Field(alias="from", description="The node a tunnel starts on, or 'api'")
    node_id: str = Field(description="The node of the process that serves the name")
    port: int
    session: str | None
    opened_at: float
    last_used: float
    active: int = Field(description="Connections open now")
    connections: int = Field(description="Connections opened so far")
    failures: int
    bytes_to_service: int
    bytes_from_service: int
    last_error: str | None


class TunnelList(_Answer):
    tunnels: list[Tunnel]
