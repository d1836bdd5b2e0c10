"""Whether the ports an experiment's process binds are free on this node.

The Conductor allocates an experiment's ports from ``node.ports`` and never gives one
twice, but it cannot see a port some other program on the node holds: a fixed port, say
6006, that a forgotten TensorBoard keeps, or one of the range on a machine shared with
others. Rather than start a process that would fail to bind (and leave the relay
forwarding its name's traffic to that other program), the node refuses to start it with
a reason naming the port: a clear error event. For a fixed port the node tries again by
the restart policy (the program may go away). A port of the range would be refused
again at every restart here, so the instance fails at once instead, and the Conductor
places it again (the spec's ``reschedule``) with the next port of the range (the name
moved: the processes that connect to it are restarted with the new port).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from symphony.spec import variable_stem
from symphony.wire.jobspec import JobExperiment


def taken_ports(ports: Iterable[int]) -> list[int]:
    """The ports of ``ports`` that another socket holds here (on any address).

    Bound with ``SO_REUSEADDR`` as servers do, so a port left in TIME_WAIT by a previous
    run of the same process does not count as taken.
    """
    taken = []
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("0.0.0.0", port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    taken.append(port)
    return taken


def role_ports(role: JobExperiment, env: Mapping[str, str]) -> dict[str, int]:
    """``{name: port}`` for every name ``role`` binds or exposes: its fixed port, else
    the one the Conductor allocated from the node's range (``SYMPH_<NAME>_PORT``)."""
    ports: dict[str, int] = {}
    for name, fixed in {**role.binds, **role.exposes}.items():
        given = env.get(f"SYMPH_{variable_stem(name)}_PORT", "")
        port = fixed if fixed is not None else (int(given) if given.isdigit() else None)
        if port is not None:
            ports[name] = port
    return ports


@dataclass(frozen=True, slots=True)
class PortsTaken:
    """Why a process cannot start here: another program holds some of its ports."""

    reason: str
    #: One of them is a port the Conductor allocated from the range: placed again, the
    #: process gets another one, while restarting here would ask for the same for ever.
    allocated: bool


def ports_taken(role: JobExperiment, env: Mapping[str, str]) -> PortsTaken | None:
    """Which ports of a process of ``role`` another program holds here, or None when
    every port is free."""
    ports = role_ports(role, env)
    taken = set(taken_ports(sorted(set(ports.values()))))
    if not taken:
        return None
    fixed = set(role.fixed_ports())
    named = sorted((port, name) for name, port in ports.items() if port in taken)
    parts = [f"fixed port {p}" if p in fixed else f"port {p} ({name})" for p, name in named]
    reason = f"spawn error: {', '.join(parts)} taken on this node by another program"
    return PortsTaken(reason, allocated=not taken <= fixed)
