"""NodeRelay: the node's side of relayed streams (visit, port-forward, tunnels).

When the Conductor sends :class:`~symphony.wire.messages.OpenStream`, the node checks
that the port is one an experiment's process *on this node* binds or exposes (the one
the message names): anything else is refused with the reason, so the relay is never an
open proxy into the node's network. It then connects to the port (on loopback, else on
the address the process was told to bind) and hands the connection to the Conductor on
a relay connection of its own (:mod:`symphony.wire.relay`): its own TLS connection with
the node's certificate, so relayed bytes never wait in front of the control link's
heartbeats, and a stream that is not read stalls only itself.

Streams run in the relay's own nursery (:meth:`NodeRelay.run`), not in the link's: the
control link never waits for one, and a stream outlives a reconnect of the link.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import trio

from symphony.spec import variable_stem
from symphony.wire import OpenStream, TransportError
from symphony.wire.relay import RelayAccept, RelayTunnel, open_relay_stream, splice

from .ports import role_ports
from .process import StartRequest

log = logging.getLogger("symphony.node.relay")

#: Seconds to connect to a local port before the stream is refused.
LOCAL_CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RelayDial:
    """Where relay connections go: the Conductor's node port, as the link dials it."""

    host: str
    port: int
    ssl_context: ssl.SSLContext
    server_hostname: str | None = None
    timeout: float = 10.0


def served_ports(requests: Iterable[StartRequest]) -> dict[int, tuple[str, str]]:
    """``{port: (instance id, host)}`` for every name the instances bind or expose: the
    fixed port, else the one the Conductor allocated (``SYMPH_<NAME>_PORT``)."""
    out: dict[int, tuple[str, str]] = {}
    for request in requests:
        role = request.spec.experiment
        if role is None:
            continue
        env = request.spec.config.env
        for name, port in role_ports(role, env).items():
            host = env.get(f"SYMPH_{variable_stem(name)}_HOST", "127.0.0.1")
            out[port] = (request.instance_id, host)
    return out


class NodeRelay:
    """Opens relayed streams for the Conductor; see the module docstring.

    ``requests()`` lists the live instances' start requests (the process layer's
    :meth:`~symphony.node.process.ProcessManager.live_requests`).
    """

    def __init__(self, dial: RelayDial, requests: Callable[[], list[StartRequest]]) -> None:
        self.dial = dial
        self.requests = requests
        #: The protocol version of the current link (set by the link after each hello):
        #: tunnels need a Conductor of version 5.
        self.conductor_version = 0
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the streams until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def start_soon(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` among the relay's streams."""
        if self._nursery is None:
            raise RuntimeError("NodeRelay.run is not running")
        self._nursery.start_soon(fn, *args)  # type: ignore[arg-type]

    def open(self, command: OpenStream) -> None:
        """Answer an OpenStream in the background (the link goes on reading)."""
        self.start_soon(self._open, command)

    def refusal(self, command: OpenStream) -> str | None:
        """Why ``command`` may not be served here (None: it may)."""
        owner = served_ports(self.requests()).get(command.port)
        if owner is None:
            return (
                f"port {command.port} is not bound or exposed by an experiment's process on "
                "this node; only those ports are relayed"
            )
        if owner[0] != command.instance_id:
            return f"port {command.port} belongs to instance {owner[0]}, not {command.instance_id}"
        return None

    async def _open(self, command: OpenStream) -> None:
        reason = self.refusal(command)
        local: trio.SocketStream | None = None
        if reason is None:
            local, reason = await self._connect_local(command.port)
        header = RelayAccept(stream_id=command.stream_id, reason=reason)
        try:
            remote = await self._dial(header)
        except BaseException as error:  # cancelled too: the local connection is ours
            if local is not None:
                await trio.aclose_forcefully(local)
            if isinstance(error, TransportError):
                log.warning("stream %s: cannot reach the conductor: %s", command.stream_id, error)
                return
            raise
        if local is None:
            log.warning("refused stream %s: %s", command.stream_id, reason)
            await remote.aclose()
            return
        await splice(local, remote)

    async def _connect_local(self, port: int) -> tuple[trio.SocketStream | None, str | None]:
        hosts = ["127.0.0.1"]
        owner = served_ports(self.requests()).get(port)
        if owner is not None and owner[1] not in hosts:
            hosts.append(owner[1])  # the process may bind only the address it was told
        errors = []
        for host in hosts:
            with trio.move_on_after(LOCAL_CONNECT_TIMEOUT):
                try:
                    return await trio.open_tcp_stream(host, port), None
                except OSError as error:
                    errors.append(f"{host}: {error}")
                    continue
            errors.append(f"{host}: no answer in {LOCAL_CONNECT_TIMEOUT:g} s")
        return None, f"cannot connect to port {port} ({'; '.join(errors)})"

    async def _dial(self, header: RelayAccept | RelayTunnel) -> trio.SSLStream[trio.SocketStream]:
        d = self.dial
        return await open_relay_stream(
            d.host,
            d.port,
            d.ssl_context,
            header,
            server_hostname=d.server_hostname,
            timeout=d.timeout,
        )

    async def tunnel(self, local: trio.SocketStream, instance_id: str, name: str) -> None:
        """One connection a process made to its tunnel's listener: through the Conductor
        to the node that serves ``name``."""
        try:
            remote = await self._dial(RelayTunnel(instance_id=instance_id, name=name))
        except BaseException as error:  # cancelled too: the process's connection is ours
            await trio.aclose_forcefully(local)
            if isinstance(error, TransportError):
                log.warning("tunnel of %s to %r: %s", instance_id, name, error)
                return
            raise
        await splice(local, remote)
