"""Check that a service's listen addresses are free before it creates any state.

A Conductor that finds its port taken only learns so when it binds, after it has made
its state directory, CA and database; and the operating system's words
(``[Errno 98] Address already in use``) name neither the address nor how to pick
another. So the commands that start a Conductor try each fixed address first and, when
one is taken, stop with a line that names the address, what it is for and the flag or
configuration key that changes it::

    symphony: error: cannot listen on 127.0.0.1:8000 (the HTTP API and web UI): the
    address is already in use (another Conductor, or another program); choose another
    port with --port N

The check binds the way the servers do (``SO_REUSEADDR``, so a port in ``TIME_WAIT`` is
free, a listening one is not) and lets go at once; port 0 (any free port) is not checked.
What binds in between is refused by the server itself; :func:`in_use_error` words that
refusal the same way, without the address (the operating system does not name it).
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from ._errors import CLIError

WILDCARDS = ("", "0.0.0.0", "::")


@dataclass(frozen=True, slots=True)
class Listen:
    """One address a service will listen on, and how a user changes it."""

    host: str
    port: int
    purpose: str  # "the HTTP API and web UI"
    change: str  # "--port N", or "--http HOST:PORT (conductor.http.listen in a config file)"


def check_free(*addresses: Listen) -> None:
    """Raise :class:`CLIError` for the first address something else listens on."""
    for address in addresses:
        if address.port == 0:
            continue
        problem = _bind_problem(address.host, address.port)
        if problem is not None:
            where = f"{_display(address.host)}:{address.port}"
            raise CLIError(
                f"cannot listen on {where} ({address.purpose}): {problem}; "
                f"choose another with {address.change}"
            )


def in_use_error(exc: BaseException, change: str) -> CLIError | None:
    """The line for an ``Address already in use`` raised by the server itself (something
    bound the port between the check and the server's bind), or ``None`` for any other
    error."""
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return CLIError(
            f"cannot listen: an address is already in use ({exc.strerror}); "
            f"choose another with {change}"
        )
    return None


def _bind_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound now, or ``None`` when it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bind_host = "" if host in WILDCARDS else host
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind_host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "the address is already in use (another Conductor, or another program)"
            if exc.errno == errno.EACCES:
                return "permission denied (ports below 1024 need privileges)"
            if exc.errno == errno.EADDRNOTAVAIL:
                return "this machine has no such address"
            return exc.strerror or str(exc)
    return None


def _display(host: str) -> str:
    if host in WILDCARDS:
        return "0.0.0.0" if host != "::" else "[::]"
    return f"[{host}]" if ":" in host else host
