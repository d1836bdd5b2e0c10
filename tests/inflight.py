"""Requests left in flight at a Conductor, for the tests of how it ends them.

A test that stops a Conductor (or has it step down, or a standby take over) first
leaves requests waiting there, each in its own task, then checks what each was
answered. ``InFlight`` makes those requests and keeps the answers, by name, in
``answers``:

- ``tail``: a log tail that waits for the node (``silent_node`` never answers);
  ``answers["tail"]`` is its response.
- ``follow``: a followed log; ``answers["follow"]`` is ``(status, body)``, set only if
  the stream ended cleanly (httpx raises on a cut stream).
- ``live``: a web UI's ``/live`` stream; ``live_open`` is set once its snapshot came,
  and ``answers["live"]`` is ``(status, lines)`` (``live_ended`` reads its end).
- ``create_in_parts``: a create over a raw TCP stream that sends its head and the first
  bytes of its body, then the rest once ``rest`` is set (or never); ``answers["create"]``
  is the raw HTTP answer.
- ``after``: a request that comes while the Conductor stops; ``answers["after"]`` is its
  response, or ``None`` if the connection was refused.

``ended_at`` keeps when each answer was complete (Trio's clock), by the same names.
``headers`` (an API token, say) go with every request. ``QUIET`` is a deployment whose
logs wait: ``deploy_quiet`` creates it and waits until it runs on the ``silent_node``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio

from symphony.wire import PROTOCOL_VERSION, LogRequest
from symphony.wire.errors import ConnectionClosed

from .api.old_node import run_old_node
from .link.cluster import wait_for

QUIET = {
    "name": "quiet",
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "config": {"command": ["sleep", "600"]},
}


class InFlight:
    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = headers or {}
        self.answers: dict[str, Any] = {}
        self.ended_at: dict[str, float] = {}
        self.live_open = trio.Event()
        self.rest = trio.Event()
        #: The create's connection (our port, the server's) once its head is sent.
        self._create_ports: tuple[int, int] | None = None

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=10, headers=self.headers)

    async def tail(self, url: str, name: str) -> None:
        async with self._client() as client:
            self.answers["tail"] = await client.get(f"{url}/deployments/{name}/logs")
        self.ended_at["tail"] = trio.current_time()

    async def follow(self, url: str, name: str) -> None:
        async with (
            self._client() as client,
            client.stream(
                "GET", f"{url}/deployments/{name}/logs", params={"follow": "true"}
            ) as response,
        ):
            got = b"".join([data async for data in response.aiter_bytes()])
        self.answers["follow"] = (response.status_code, got)
        self.ended_at["follow"] = trio.current_time()

    async def live(self, url: str) -> None:
        async with self._client() as client, client.stream("GET", f"{url}/live") as response:
            lines = []
            async for line in response.aiter_lines():
                lines.append(line)
                if line.startswith("event: snapshot"):
                    self.live_open.set()
        self.answers["live"] = (response.status_code, lines)

    def live_ended(self) -> tuple[int, str, dict[str, Any]]:
        """The live stream's status, its last event, and that event's data."""
        status, lines = self.answers["live"]
        event = [line for line in lines if line.startswith("event: ")][-1]
        data = [line for line in lines if line.startswith("data: ")][-1]
        return status, event, json.loads(data[len("data: ") :])

    async def create_in_parts(
        self, url: str, body: bytes, *, first: int = 5, send_rest: bool = True
    ) -> None:
        """``POST /deployments`` with ``body[:first]``, then the rest once ``rest`` is
        set; with ``send_rest=False`` the rest never comes: the answer must come
        without it."""
        where = httpx.URL(url)
        fields = {"Host": where.host, **self.headers, "Content-Type": "application/json"}
        head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        stream = await trio.open_tcp_stream(where.host, where.port)
        async with stream:
            await stream.send_all(
                f"POST /deployments HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:first]
            )
            self._create_ports = (stream.socket.getsockname()[1], where.port or 80)
            if send_rest:
                await self.rest.wait()
                await stream.send_all(body[first:])
            self.answers["create"] = await _answer(stream)

    async def after(self, url: str) -> None:
        try:
            async with self._client() as client:
                self.answers["after"] = await client.get(f"{url}/deployments")
        except httpx.ConnectError:
            self.answers["after"] = None

    async def opened(self) -> None:
        """Once the live stream has its snapshot, and the create's head is in: sent,
        and read by the server (a fixed wait was too short on a busy machine: the
        create came after the stop began, and was refused)."""
        with trio.fail_after(10):
            await self.live_open.wait()
            while self._create_ports is None or not _read_by_server(*self._create_ports):
                await trio.sleep(0.01)


def _read_by_server(ours: int, server: int) -> bool:
    """Whether the server's end of our TCP connection (127.0.0.1) has read all we sent:
    its receive queue in ``/proc/net/tcp`` is empty (a process that read the bytes
    parses them before it yields to anything else)."""
    with open("/proc/net/tcp") as table:
        for row in table.readlines()[1:]:
            fields = row.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if int(local.split(":")[1], 16) == server and int(remote.split(":")[1], 16) == ours:
                return int(queues.split(":")[1], 16) == 0
    return False  # not accepted yet


async def deploy_quiet(url: str) -> None:
    """Creates ``QUIET`` and waits until its instance runs (on the ``silent_node``)."""
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.post(f"{url}/deployments", json=QUIET)).status_code == 201

        async def running() -> bool:
            found = (await client.get(f"{url}/deployments/quiet")).json()
            return bool(found["instances"][0]["state"] == "running")

        await wait_for(running, timeout=10)


async def silent_node(
    info: Any, seen: list[Any], *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """A node linked to ``info`` that answers no log request (it keeps every message in
    ``seen``), until its link is closed."""
    try:
        await run_old_node(
            info,
            seen,
            version=PROTOCOL_VERSION,
            capacities={"Analytic1": 10},
            keep_all=True,
            task_status=task_status,
        )
    except* ConnectionClosed:
        pass


async def asked(seen: list[Any], count: int) -> bool:
    """Whether the node was asked for logs ``count`` times (the requests wait there)."""
    return sum(isinstance(m, LogRequest) for m in seen) >= count


async def _answer(stream: trio.SocketStream) -> bytes:
    """One whole HTTP answer of known length (or what came before the connection
    closed)."""
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if body and len(body) >= _length(head):
            break
    await stream.aclose()
    return data


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 30
