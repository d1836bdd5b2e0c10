"""HTTP to a service through a relayed stream: one stream per request, HTTP/1.1 via h11.

The request goes to the service as it came, with its path below the service's prefix
(``/x/rl/tb/data/runs`` is ``/data/runs`` to TensorBoard) and these changes:

- ``X-Forwarded-Prefix: /x/rl/tb`` (with ``X-Forwarded-Host``, ``-Proto``, ``-For``), so
  an app that builds absolute links or redirects can put its prefix in front;
- hop-by-hop headers go, and ``Connection: close`` (each request has its own stream);
- what only the Conductor should see goes: the visit cookie, the visit code, and an
  ``Authorization`` header that carries the API token.

An app's own answer loses ``Service-Worker-Allowed``: with it the app's page could
register a service worker for ``/`` that answers for every page of its origin. Browsers
see services on the relay port, apart from the web UI (:mod:`.origins`), but services
share that origin with one another (and a program's visit on the API port shares the
UI's): without the header a worker's scope stays under the app's own path.

The answer streams back as it comes (its body is read :data:`~symphony.wire.relay.CHUNK`
at a time, never whole); a ``Location`` that points to the root (``/login``) of an app
that ignores ``X-Forwarded-Prefix`` is put under the prefix. When the session of the
service's node ends (its link dropped, the node was declared lost), a request not yet
answered is answered 502 saying so at once, and an answer under way ends where it was (its status is
sent: a chunked one ends with a proper last chunk, see docs/api.md).
"""

from __future__ import annotations

import contextlib
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

import h11
import trio
from quart import Request, Response
from werkzeug.datastructures import Headers

from symphony.wire.relay import CHUNK

from ..relay import RelayError, RelayHub, Target
from ..relay.table import RelayRow
from ..relay.visits import CODE_PARAM, COOKIE
from .auth import token_matches
from .errors import HttpError

#: Methods whose requests carry no body unless they say its length.
_NO_BODY = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
#: Headers that describe one hop, not the message (RFC 9110, 7.6.1), and ``Host``,
#: which is set from the request's own.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)

#: Headers of an app's answer that never reach the browser (see the module docstring).
_NOT_PASSED = frozenset({"service-worker-allowed"})


def upstream_target(path: str, query: bytes) -> bytes:
    """The request target the service sees: ``path`` and the query without the code."""
    pairs = [(k, v) for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True)]
    kept = [(k, v) for k, v in pairs if k != CODE_PARAM]
    text = path + ("?" + urlencode(kept) if kept else "")
    return text.encode("utf-8")


def _cookie_without_ours(value: str) -> str | None:
    jar = SimpleCookie()
    with contextlib.suppress(Exception):
        jar.load(value)
    if COOKIE not in jar:
        return value
    rest = [f"{k}={m.coded_value}" for k, m in jar.items() if k != COOKIE]
    return "; ".join(rest) or None


def upstream_headers(
    request: Request, prefix: str, token: str | None, body_size: int | None
) -> list[tuple[str, str]]:
    """The headers the service sees (see the module docstring)."""
    out: list[tuple[str, str]] = [("Host", request.headers.get("Host", "localhost"))]
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower.startswith("x-forwarded-") or lower == "remote-addr":
            continue
        if lower == "authorization" and token is not None and token_matches(value, token):
            continue
        if lower == "cookie":
            kept = _cookie_without_ours(value)
            if kept is None:
                continue
            value = kept
        out.append((name, value))
    out += [
        ("X-Forwarded-Prefix", prefix),
        ("X-Forwarded-Host", request.headers.get("Host", "")),
        ("X-Forwarded-Proto", request.scheme),
        ("X-Forwarded-For", request.remote_addr or ""),
        ("Connection", "close"),
    ]
    if body_size is not None:
        out.append(("Content-Length", str(body_size)))
    elif request.method not in _NO_BODY:
        out.append(("Transfer-Encoding", "chunked"))
    return out


async def _next_event(conn: h11.Connection, stream: trio.abc.Stream) -> h11.Event:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(CHUNK)))
            continue
        assert not isinstance(event, type)  # PAUSED is never returned to a client
        return event


def _response_headers(response: h11.Response, prefix: str) -> list[tuple[str, str]]:
    out = []
    for raw_name, raw_value in response.headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if name.lower() in HOP_BY_HOP - {"content-length"} or name.lower() in _NOT_PASSED:
            continue
        rooted = value.startswith("/") and not value.startswith("//")
        mine = value.startswith(prefix + "/") or value == prefix
        if name.lower() == "location" and rooted and not mine:
            value = prefix + value  # an app that does not read X-Forwarded-Prefix
        out.append((name, value))
    return out


class _Body:
    """The answer's body as it arrives; closing it ends the relayed stream."""

    def __init__(
        self, conn: h11.Connection, stream: trio.abc.Stream, stack: contextlib.AsyncExitStack
    ) -> None:
        self.conn, self.stream, self.stack = conn, stream, stack

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        try:
            event = await _next_event(self.conn, self.stream)
        except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            event = h11.EndOfMessage()  # the status is sent: a cut body is all we can do
        if isinstance(event, h11.Data):
            return bytes(event.data)
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        # Its node's link gone mid-answer (RelayError): the status is sent, the cut body
        # is all the visitor can see of it.
        with contextlib.suppress(RelayError):
            await self.stack.aclose()


async def proxy_http(
    hub: RelayHub, target: Target, request: Request, rest: str, token: str | None
) -> Response:
    """Send ``request`` to the service at ``target`` and answer with its response."""
    prefix = f"/x/{target.experiment}/{target.service}"
    row = hub.table.row(
        "visit", target.experiment, target.service, source="api", node_id=target.node_id,
        port=target.port,
    )  # fmt: skip
    stack = contextlib.AsyncExitStack()
    try:
        # Not scoped: the body is read, and the stack closed, after this handler returned
        # (a cancel scope cannot span that); the cut stream ends the answer instead.
        stream = await stack.enter_async_context(hub.connect(target, scoped=False))
        row.opened()
        stack.callback(row.closed)
        counted = _Counted(stream, row)
        conn = h11.Connection(h11.CLIENT)
        length = request.headers.get("Content-Length")
        size = int(length) if length is not None and length.isdigit() else None
        head = h11.Request(
            method=request.method,
            target=upstream_target("/" + rest, request.query_string),
            headers=upstream_headers(request, prefix, token, size),
        )
        await counted.send_all(conn.send(head) or b"")
        if size or (size is None and request.method not in _NO_BODY):
            async for chunk in request.body:
                if chunk:
                    await counted.send_all(conn.send(h11.Data(data=chunk)) or b"")
        await counted.send_all(conn.send(h11.EndOfMessage()) or b"")
        event = await _next_event(conn, counted)
        while isinstance(event, h11.InformationalResponse):
            event = await _next_event(conn, counted)
        if not isinstance(event, h11.Response):
            raise HttpError(502, "bad gateway", f"the service answered {type(event).__name__}")
    except (h11.RemoteProtocolError, h11.LocalProtocolError) as error:
        await stack.aclose()
        row.failed(str(error))
        raise HttpError(502, "bad gateway", f"the service did not answer HTTP: {error}") from None
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        await stack.aclose()
        row.failed("the service closed the connection")
        raise HttpError(502, "bad gateway", "the service closed the connection") from None
    except BaseException:
        with contextlib.suppress(RelayError):  # what ended it (a cancel) is what counts
            await stack.aclose()
        raise
    answer = Response(
        _Body(conn, counted, stack), status=event.status_code,
        headers=Headers(_response_headers(event, prefix)),
    )  # fmt: skip
    answer.timeout = None  # a service's stream (events, a download) lasts as it needs
    return answer


class _Counted(trio.abc.Stream):
    """Counts a visit's bytes both ways for ``GET /tunnels``."""

    def __init__(self, inner: trio.abc.Stream, row: RelayRow) -> None:
        self.inner, self.row = inner, row

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)
        self.row.to_service(len(data))

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.inner.receive_some(max_bytes)
        self.row.from_service(len(data))
        return data

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()
