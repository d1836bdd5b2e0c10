"""Tunnels: a process reaches a name bound on another node through the Conductor.

At start, for every name an experiment's process connects to and does not serve
itself, the node decides how the process reaches it (the experiment's ``network``):

- ``direct``: at the address the Conductor gave (``SYMPH_<NAME>_HOST``/``_PORT``);
- ``relay``: always through a tunnel;
- ``auto`` (the default): directly when a TCP connection to that address answers
  within :data:`PROBE_TIMEOUT` (1 s), or is refused (the host is reachable, its
  process is just not listening yet); through a tunnel when it times out or the
  network says the host cannot be reached.

A tunnel is a listener on this node's loopback: the process's ``SYMPH_<NAME>_HOST``,
``_PORT`` and ``_ADDR`` point to it (and ``SYMPH_<NAME>_VIA`` says ``relay``), and each
connection to it becomes a relayed stream through the Conductor to the node that
serves the name (:class:`~symphony.node.relay.NodeRelay`). The listeners live as long
as the instance; after the agent restarts, the instances it adopts get them again on
the same ports.
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import replace

import trio

from symphony.spec import variable_stem
from symphony.wire import StartInstance
from symphony.wire.jobspec import JobSpec
from symphony.wire.version import RELAY_PROTOCOL_VERSION

from .relay import NodeRelay

log = logging.getLogger("symphony.node.tunnels")

#: Seconds a direct connection has to answer before the name is tunnelled.
PROBE_TIMEOUT = 1.0
#: Errors that say "nobody is listening there", i.e. the host itself is reachable.
_REACHABLE = {errno.ECONNREFUSED}
#: Errors of an ``accept`` that say the agent is short of something for a moment.
_SHORTAGE = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
#: Seconds a tunnel's listener waits after such an error before accepting again.
ACCEPT_RETRY = 0.1


async def reachable(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether ``host`` answers TCP on ``port`` (a refusal counts: the host is there)."""
    with trio.move_on_after(timeout):
        try:
            infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return False
        family, kind, proto, _, address = infos[0]
        sock = trio.socket.socket(family, kind, proto)
        with sock:
            try:
                await sock.connect(address)
            except OSError as error:
                return error.errno in _REACHABLE
            return True
    return False


async def _accept(
    listener: trio.SocketListener, instance_id: str, name: str
) -> trio.SocketStream | None:
    """The next connection to a tunnel's listener; None: the listener is done for.

    The listener runs among the relay's streams, in the agent's own nursery: an error
    here must end at most this tunnel. Out of descriptors (a process opening connections
    faster than they close) or memory, it waits and tries again, as
    ``trio.serve_listeners`` does.
    """
    while True:
        try:
            return await listener.accept()
        except trio.ClosedResourceError:
            return None
        except OSError as error:
            if error.errno not in _SHORTAGE:
                log.warning("tunnel of %s to %r cannot accept: %s", instance_id, name, error)
                return None
            log.warning(
                "tunnel of %s to %r: out of file descriptors or memory (%s), waiting %g s",
                instance_id,
                name,
                error,
                ACCEPT_RETRY,
            )
            await trio.sleep(ACCEPT_RETRY)


def tunnelled_names(spec: JobSpec) -> list[str]:
    """The names whose values a node may point at a tunnel: those the process connects
    to and does not serve itself."""
    role = spec.experiment
    if role is None:
        return []
    own = {*role.binds, *role.exposes}
    return [name for name in role.connects if name not in own]


class Tunnels:
    """The tunnel listeners of this node's instances; see the module docstring."""

    def __init__(self, relay: NodeRelay) -> None:
        self.relay = relay
        self._scopes: dict[str, list[trio.CancelScope]] = {}

    def needs_work(self, spec: JobSpec) -> bool:
        """Whether starting this spec may open tunnels (and probe addresses first)."""
        role = spec.experiment
        return bool(tunnelled_names(spec)) and role is not None and role.network != "direct"

    async def prepare(self, command: StartInstance) -> StartInstance:
        """``command`` with the ``SYMPH_*`` values of its tunnelled names pointing at new
        listeners (unchanged when nothing needs a tunnel)."""
        spec = command.spec
        role = spec.experiment
        if role is None or not self.needs_work(spec):
            return command
        if self.relay.conductor_version < RELAY_PROTOCOL_VERSION:
            log.warning(
                "%s: the conductor speaks protocol %d and cannot relay; connecting directly",
                command.instance_id,
                self.relay.conductor_version,
            )
            return command
        env = spec.config.env
        relayed: list[str] = []

        async def decide(name: str) -> None:
            stem = variable_stem(name)
            host, port = env.get(f"SYMPH_{stem}_HOST"), env.get(f"SYMPH_{stem}_PORT", "")
            if host is None or not port.isdigit():
                return
            if role.network == "relay" or not await reachable(host, int(port)):
                relayed.append(name)

        async with trio.open_nursery() as nursery:  # probes at once: 1 s in all, not each
            for name in tunnelled_names(spec):
                nursery.start_soon(decide, name)
        if not relayed:
            return command
        changes: dict[str, str] = {}
        for name in sorted(relayed):
            port = await self.listen(command.instance_id, name)
            stem = variable_stem(name)
            changes |= {
                f"SYMPH_{stem}_HOST": "127.0.0.1",
                f"SYMPH_{stem}_PORT": str(port),
                f"SYMPH_{stem}_ADDR": f"127.0.0.1:{port}",
                f"SYMPH_{stem}_VIA": "relay",
            }
        log.info("%s reaches %s through the conductor", command.instance_id, ", ".join(relayed))
        config = replace(spec.config, env={**env, **changes})
        return replace(command, spec=replace(spec, config=config))

    async def listen(self, instance_id: str, name: str, port: int = 0) -> int:
        """Open a tunnel listener for ``name`` of ``instance_id`` (on ``port``, 0: any
        free one) and return its port."""
        listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
        listener = listeners[0]
        bound: int = listener.socket.getsockname()[1]
        scope = trio.CancelScope()
        self._scopes.setdefault(instance_id, []).append(scope)

        async def serve() -> None:
            try:
                with scope:
                    while True:
                        stream = await _accept(listener, instance_id, name)
                        if stream is None:
                            return
                        self.relay.start_soon(self.relay.tunnel, stream, instance_id, name)
            finally:  # also when closed (or cancelled) before it ever ran
                await trio.aclose_forcefully(listener)

        self.relay.start_soon(serve)
        return bound

    async def restore(self, spec: JobSpec, instance_id: str) -> None:
        """After an agent restart: the listeners an adopted instance was started with."""
        env = spec.config.env
        for name in tunnelled_names(spec):
            stem = variable_stem(name)
            port = env.get(f"SYMPH_{stem}_PORT", "")
            if env.get(f"SYMPH_{stem}_VIA") == "relay" and port.isdigit():
                try:
                    await self.listen(instance_id, name, int(port))
                except OSError as error:
                    log.warning("%s: cannot listen again for %r: %s", instance_id, name, error)

    def close(self, instance_id: str) -> None:
        """The instance ended: its listeners close (open connections run out)."""
        for scope in self._scopes.pop(instance_id, []):
            scope.cancel()
