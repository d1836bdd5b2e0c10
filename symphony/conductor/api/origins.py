"""The two web origins of a Conductor: the API's (web UI and API) and the services'.

A browser isolates pages by origin (scheme, host and port). A service relayed under
``/x/{experiment}/{service}/`` runs whatever page its deployer wrote; served from the
API's origin, its scripts could read the web UI's token from ``sessionStorage``, frame
and script ``/ui/``, and call the API as the user. So the Conductor serves services
from a port of their own, the **relay port** (``conductor.relay.port``):

- :class:`RelayOrigin` is the app on the relay port: ``/x/...`` (every method, and
  WebSockets) goes to the API's app marked as arriving there (:data:`RELAY_SIDE`);
  everything else is a 404, so no page of the UI and no route of the API is ever
  same-origin with a service;
- :class:`ApiOrigin` is the app on the API port: it tells the routes where the relay
  port is (:data:`RELAY_PORT`, for visit links and redirects) and forbids framing every
  answer (``X-Frame-Options: DENY``, ``frame-ancestors 'none'``), so a service's page
  cannot frame the UI either; it refuses (403) a request whose ``Origin`` has the relay
  port (under any host name) or is ``conductor.relay.url``'s (its host under any scheme
  and port, or only with its port when the API is reached under that host too): to the
  host-name checks of :mod:`.hosts` a service's page is the same site;
- :func:`browser_elsewhere` is the API port's answer to a browser's ``/x/`` request
  (a visit code, a visit cookie, no token): a 307 to the same address on the relay
  port, where the code is spent. A program with the API token is served as before:
  no script of the service runs there. With ``http.auth: none`` there is no token to
  tell a program by, and every ``/x/`` request goes to the relay port: a program must
  follow the 307 (``curl -L``; httpx does not by default) or use the relay port, and
  its WebSocket there is refused (403: open it on the relay port).

The services share the relay origin with one another (one port for all): a page of
one service can reach another service the same browser visited, but nothing of the UI
or the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from symphony.httpd import ASGIApp, ASGIReceiveCallable, ASGISendCallable, Message, Scope

from ..relay.visits import CODE_PARAM, COOKIE
from .auth import token_matches
from .body import HeaderMap
from .errors import HttpError
from .hosts import host_part
from .lifespan import answer_lifespan
from .relay_access import PREFIX

#: Scope key set on the requests that came in on the relay port.
RELAY_SIDE = "symphony.relay_side"
#: Scope key set on the requests of the API port: the relay port, or None (none bound).
RELAY_PORT = "symphony.relay_port"

#: Added to every answer of the API port that does not say it already.
_NO_FRAMING = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)


class RelayOrigin:
    """The relay port's app: ``/x/`` of ``app`` and nothing else (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        kind = scope["type"]
        if kind == "lifespan":  # the app's own lifespan runs with the API port's server
            await answer_lifespan(receive, send)
            return
        if not str(scope.get("path", "")).startswith(PREFIX):
            detail = (
                "this port serves experiments' services only (/x/EXPERIMENT/SERVICE/); the "
                "API and the web UI are on the Conductor's API port"
            )
            await _answer(send, kind, 404, "not found", detail)
            return
        scope[RELAY_SIDE] = True
        await self.app(scope, receive, send)


class ApiOrigin:
    """The API port's app: ``app``, with the relay port in the scope and no framing."""

    def __init__(
        self, app: ASGIApp, relay_port: Callable[[], int | None], relay_url: str | None = None
    ) -> None:
        self.app = app
        self.relay_port = relay_port
        self.relay_url = relay_url

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        port = scope[RELAY_PORT] = self.relay_port()
        detail = _sent_by_a_service(scope["headers"], port, self.relay_url)
        if detail is not None:
            # The Origin check of .hosts goes by host name: a service's page (this
            # machine, the relay port) would pass it. Refused here, whatever the route.
            await _answer(send, kind, 403, "cross-site request refused", detail)
            return
        await self.app(scope, receive, _unframed(send) if kind == "http" else send)


def _sent_by_a_service(
    headers: Iterable[tuple[bytes, bytes]], relay_port: int | None, relay_url: str | None
) -> str | None:
    """Why the request is refused (None: it is not) when its ``Origin`` is a relay
    origin: any host with the relay port (the Host check takes every loopback name, and
    a page may name any of them), or ``conductor.relay.url``'s: when the API itself is
    reached under that host (``http://gpu-box:8001`` beside the UI at ``:8000``), that
    host with the relay URL's port, under any scheme; else (a reverse proxy's host name
    of its own) that host under any scheme and port (the proxy may serve plain HTTP)."""
    found = {name.lower(): value for name, value in headers}
    origin = found.get(b"origin")
    if origin is None:
        return None
    mine = _origin_of(origin.decode("latin-1"))
    if mine is None:
        return None
    host = found.get(b"host", b"").decode("latin-1")
    if mine[2] != relay_port and not _relay_urls(mine, relay_url, host):
        return None
    if mine[2] == relay_port and _origin_of(f"{mine[0]}://{host}") == mine:
        # The page is this API's own (the UI): reached under a forwarded port with the
        # relay port's number (ssh -L 8001:127.0.0.1:8000), it looks like a service's.
        return (
            f"this API is reached under the relay port's number ({relay_port}); reach it "
            "under another port"
        )
    return "a page of a relayed service may not use the API or the web UI"


def _relay_urls(mine: tuple[str, str, int], relay_url: str | None, host: str) -> bool:
    """Whether the origin ``mine`` is one of ``relay_url``'s (see :func:`_sent_by_a_service`):
    the API reached under the relay URL's host (``host``, the request's) shares it."""
    relay = _origin_of(relay_url) if relay_url is not None else None
    if relay is None or mine[1] != relay[1]:
        return False
    return host_part(host) != relay[1] or mine[2] == relay[2]


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of a URL, the port made explicit; None when malformed."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme.lower() in ("https", "wss") else 80)
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    return (parts.scheme.lower(), host, port) if host else None


def _unframed(send: ASGISendCallable) -> ASGISendCallable:
    async def framed(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            names = {bytes(name).lower() for name, _ in headers}
            headers += [(n, v) for n, v in _NO_FRAMING if n not in names]
            message = {**message, "headers": headers}
        await send(message)

    return framed


async def _answer(send: ASGISendCallable, kind: str, status: int, error: str, detail: str) -> None:
    """A JSON answer; to a WebSocket's handshake as ASGI's ``websocket.http.response``."""
    prefix = "websocket." if kind == "websocket" else ""
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": prefix + "http.response.start", "status": status, "headers": headers})
    await send({"type": prefix + "http.response.body", "body": body, "more_body": False})


def relay_base(
    scope: Mapping[str, object], host: str, scheme: str, override: str | None
) -> str | None:
    """The relay origin as ``http://HOST:PORT`` for a request of the API port: the
    configured ``conductor.relay.url``, else the host the request named with the relay
    port; None when no relay port is bound."""
    if override:
        return override.rstrip("/")
    port = scope.get(RELAY_PORT)
    if not isinstance(port, int):
        return None
    name = host_part(host) or "127.0.0.1"
    return f"{scheme}://{f'[{name}]' if ':' in name else name}:{port}"


def from_a_program(
    headers: HeaderMap,
    cookies: Mapping[str, str],
    args: Mapping[str, str],
    token: str | None,
    *,
    relay: bool,
) -> bool:
    """Whether a ``/x/`` request of the API port is a program's, to be served there: it
    carries the API token. With ``http.auth: none`` nothing tells a program from a
    browser that sends no ``Sec-Fetch-*`` headers (older ones do not), so when there is
    a relay origin (``relay``) every ``/x/`` request goes there (a program must follow
    the 307, ``curl -L``, or use the relay port; its WebSocket gets the 403); without
    one, a request with no visit code or cookie and no ``Sec-Fetch-Mode`` is taken for a
    program's."""
    if token is not None:
        return token_matches(headers.get("Authorization"), token)
    if relay:
        return False
    browser = CODE_PARAM in args or COOKIE in cookies or headers.get("Sec-Fetch-Mode") is not None
    return not browser


def browser_elsewhere(base: str | None, path_and_query: str, *, websocket: bool) -> str:
    """Where a browser's ``/x/`` request on the API port goes: the same address on the
    relay origin (answered with a 307). Raises the 403 of a WebSocket (a browser does not
    follow a redirect there) and of a Conductor with no relay port."""
    if base is None:
        raise HttpError(
            403,
            "services have an origin of their own",
            "this Conductor serves services to browsers on its relay port only, and none "
            "is open (conductor.relay.port)",
        )
    if websocket:
        raise HttpError(
            403,
            "services have an origin of their own",
            f"open the service's WebSockets at {base}{path_and_query}",
        )
    return f"{base}{path_and_query}"
