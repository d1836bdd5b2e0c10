"""Whether the ports an experiment's process binds are free on this node.

The Conductor allocates an experiment's ports from ``node.ports`` and never gives one
twice, but it cannot see a port some other program on the node holds (or a fixed
port, say 6006, that a forgotten TensorBoard keeps). Rather than start a process that
would fail to bind, the node refuses to start it with a reason naming the port: a
clear error event, and the Conductor may place the process elsewhere.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable


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
