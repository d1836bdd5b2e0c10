"""Which Host and Origin a request may carry: the API's defence against web pages.

A browser lets any web page send requests to any address, the user's own loopback
included. Two checks keep those pages out, in every auth mode:

- **Host** (DNS rebinding): a page on ``evil.example`` whose name is made to resolve to
  127.0.0.1 talks to the API as a same-origin page, but its requests still say
  ``Host: evil.example``. A request whose Host is not an allowed host is answered 421.
- **Origin** (cross-site requests): a page may POST to the API without reading the
  answer; the browser marks the request with the page's ``Origin``. A request other
  than GET/HEAD whose Origin's host is not an allowed host is answered 403. Programs
  (the CLI, the Python client, curl) send no Origin and are not affected.

Allowed hosts are ``localhost``, ``127.0.0.1`` and ``::1``, the listen address when it
is a specific one, and with a wildcard listen (``0.0.0.0``, ``::``) the machine's host
name and the addresses of its interfaces; ``conductor.http.allowed_hosts`` adds more
(a name a reverse proxy forwards, say), and ``"*"`` turns the Host check off.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from quart import request, websocket

from .body import HeaderMap
from .errors import HttpError

#: Always allowed: they can only be reached from this machine.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: Listen addresses that mean "every interface".
WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})
#: Methods a cross-site page may not send (everything but reading).
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def allowed_hosts(listen_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names and addresses requests may name for a server on ``listen_host``."""
    hosts = set(LOOPBACK_HOSTS)
    if listen_host.strip("[]") in WILDCARDS:
        hosts |= machine_hosts()
    else:
        hosts.add(listen_host)
    hosts |= set(extra)
    return frozenset(_normal(h) for h in hosts)


def machine_hosts() -> set[str]:
    """This machine's host names and the addresses of all its interfaces."""
    import psutil

    # No resolver lookups (getfqdn): a slow DNS server must not delay the start. A
    # name a resolver knows the machine by goes into conductor.http.allowed_hosts.
    names = {socket.gethostname()}
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                names.add(address.address.split("%", 1)[0])  # drop an IPv6 zone (%eth0)
    return {n for n in names if n}


def _normal(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def host_part(authority: str) -> str | None:
    """``"Example.com:8000"`` -> ``"example.com"``, ``"[::1]:80"`` -> ``"::1"``; None when
    the value is not a host with an optional port."""
    value = authority.strip()
    if not value:
        return None
    if value.startswith("["):
        inside, sep, rest = value[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return _normal(inside)
    host, sep, port = value.rpartition(":")
    if not sep:
        host = value
    elif not port.isdigit() or ":" in host:
        return None
    return _normal(host) or None


def check_host_and_origin(allowed: frozenset[str]) -> None:
    """Refuse a request whose Host (421) or, for a change, Origin (403) is not allowed."""
    check_request_host_and_origin(allowed, request.method, request.headers)


def check_request_host_and_origin(allowed: frozenset[str], method: str, headers: HeaderMap) -> None:
    """:func:`check_host_and_origin` for any request (``headers``: the request's)."""
    _check(allowed, headers, origin_matters=method not in _SAFE_METHODS)


def check_websocket_host_and_origin(allowed: frozenset[str]) -> None:
    """The same checks for a WebSocket: its Origin always counts (a page may open a
    WebSocket to any address, and the browser sends the cookies of that address)."""
    _check(allowed, websocket.headers, origin_matters=True)


def _check(allowed: frozenset[str], headers: HeaderMap, *, origin_matters: bool) -> None:
    if "*" not in allowed:
        host = host_part(headers.get("Host", ""))
        if host not in allowed:
            raise HttpError(
                421,
                "unknown host",
                f"this Conductor does not answer to the host {host or '(none)'!r:.80}; add it "
                "to conductor.http.allowed_hosts if it is yours",
            )
    origin = headers.get("Origin")
    if origin is None or not origin_matters:
        return
    try:
        parts = urlsplit(origin.strip())
        origin_host = parts.hostname
    except ValueError:
        origin_host = None
    # Same origin (the page was served by this very host and port) or an allowed host.
    same = (
        origin_host is not None and parts.netloc.lower() == headers.get("Host", "").strip().lower()
    )
    if not same and (origin_host is None or _normal(origin_host) not in (allowed - {"*"})):
        raise HttpError(
            403,
            "cross-site request refused",
            f"requests that change something are refused from the web origin {origin!r:.80}; "
            "use the web UI served by this Conductor, the CLI or the API client",
        )
