"""One small async interface over two orchestrators' HTTP APIs.

A scenario's measuring code takes an :class:`Orchestrator` and never knows which one it
drives, so Symphony and the peer are timed by the same lines of code. Each side maps the
same job (one replica, ``A: 1`` of capacity, a command, restart ``always`` with a given
backoff) onto its own API.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx
import trio


class Orchestrator(Protocol):
    """What the scenarios need from an orchestrator's HTTP API."""

    label: str
    url: str  # the API's base URL (plain HTTP on loopback)
    created_status: int  # what a successful create answers

    def create_body(self, name: str, command: list[str], *, backoff: float = 0.0) -> dict:
        """The JSON body of :meth:`create` (the ``creates`` scenario sends it itself)."""

    def created(self, name: str, answer: bytes) -> None:
        """Note the answer to a create sent without :meth:`create` (for :meth:`delete`)."""

    async def create(self, name: str, command: list[str], *, backoff: float = 0.0) -> None:
        """Create a running deployment of one replica (returns once the API accepted it)."""

    async def delete(self, name: str) -> None:
        """Delete a deployment created by :meth:`create` (its process is stopped)."""

    async def settle(self, name: str) -> None:
        """Wait until the API itself reports the deployment running (before a delete)."""

    async def list_count(self) -> int:
        """Fetch every deployment the way a client lists them; return how many came."""

    async def aclose(self) -> None:
        """Close the HTTP client."""


class SymphonyApi:
    """Symphony's API: ``POST /deployments`` takes the spec itself."""

    label = "symphony"
    created_status = 201

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(base_url=url, timeout=120)

    @staticmethod
    def spec(name: str, command: list[str], *, backoff: float = 0.0) -> dict[str, Any]:
        return {
            "name": name,
            "capacity_requests": {"A": 1},
            "config": {"command": command},
            "restart_policy": {"type": "always", "backoff_seconds": backoff},
            "stop_timeout_seconds": 2,
        }

    def create_body(self, name: str, command: list[str], *, backoff: float = 0.0) -> dict:
        return self.spec(name, command, backoff=backoff)

    def created(self, name: str, answer: bytes) -> None:
        return None  # deleted by name

    async def create(self, name: str, command: list[str], *, backoff: float = 0.0) -> None:
        response = await self.http.post(
            "/deployments", json=self.spec(name, command, backoff=backoff)
        )
        expect(response, 201)

    async def delete(self, name: str) -> None:
        expect(await self.http.delete(f"/deployments/{name}"), 200)

    async def settle(self, name: str) -> None:
        # A job can write its line before the node has finished recording its start;
        # deleting in that window is a different race from the one being measured.
        while not any(i["state"] == "running" for i in (await self.deployment(name))["instances"]):
            await trio.sleep(0.005)

    async def list_count(self) -> int:
        response = await self.http.get("/deployments")
        expect(response, 200)
        return len(response.json()["deployments"])

    async def nodes(self) -> list[dict[str, Any]]:
        response = await self.http.get("/nodes")
        expect(response, 200)
        return response.json()["nodes"]

    async def deployment(self, name: str) -> dict[str, Any]:
        response = await self.http.get(f"/deployments/{name}")
        expect(response, 200)
        return response.json()

    async def aclose(self) -> None:
        await self.http.aclose()


def expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} -> "
            f"{response.status_code}: {response.text[:300]}"
        )
