"""A lean way in for the API's hottest request: ``POST /deployments`` without Quart.

One create through Quart-Trio pays its whole request cycle: a ``Request`` object with
werkzeug ``Headers``, a task nursery per request, the app and request contexts, URL
routing, signals, before-request hooks, a ``Response`` object. That cost about as much
CPU as storing the deployment. :class:`LeanApi` is an ASGI app in front of the Quart
app that serves the plain form of ``POST /deployments`` itself and hands everything
else to Quart, unchanged.

Nothing about the request differs with the way it takes; the parts are shared, not
copied:

- the checks before the route (Host, Origin, token, body type) are
  :func:`.admission.admit_request`, which Quart's before-request hook calls too; a
  request they refuse is left to Quart, which refuses it the same way;
- only a body with a ``Content-Length`` of at most the API's limit is served here
  (h11 holds the client to that length); a larger or unframed body, a query string,
  an HTTP version other than 1.1 go to Quart, whose limits answer them;
- the body is decoded by :func:`.body.decode_body` (UTF-8, JSON, nesting depth), the
  create made by :func:`.routes_deployments.create_answer`, errors turned into answers
  by :func:`.errors.answer_of`: the functions the Quart route and its error handlers
  use, so status, body and headers are the same bytes.

One difference no client sees: Quart cancels a route whose client has left; here a
create whose body has arrived is made and answered (to nobody) even so. Either way the
create may or may not have happened by the time the client left.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, cast, overload

import trio
from quart_trio import QuartTrio
from werkzeug.exceptions import RequestTimeout

from symphony.httpd import ASGIApp, ASGIReceiveCallable, ASGISendCallable, Scope

from .admission import admit_request
from .body import decode_body
from .context import ApiContext
from .errors import JSON_TYPE, Answer, HttpError, answer_of
from .routes_deployments import create_answer

PATH = "/deployments"


class Headers:
    """A request's headers, decoded as Quart decodes them (latin-1); ``get`` takes a
    name in any case and gives the first value of a repeated header, as werkzeug's
    ``Headers.get`` does."""

    __slots__ = ("_values",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        values: dict[str, str] = {}
        for name, value in raw:
            values.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        self._values = values

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    def get(self, key: str, default: str | None = None, /) -> str | None:
        return self._values.get(key.lower(), default)


class LeanApi:
    """The API's ASGI app: ``POST /deployments`` served here, the rest by ``app``.

    ``config`` is the Quart app's, so a server can reach it through this app.
    """

    #: Requests served here in this process (tests check that the path is taken).
    served: ClassVar[int] = 0

    def __init__(self, app: QuartTrio, ctx: ApiContext) -> None:
        self.app: ASGIApp = app
        self.ctx = ctx
        self.config = app.config

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            headers = self._admitted(scope)
            if headers is not None:
                LeanApi.served += 1
                await self._create(headers, receive, send)
                return
        await self.app(scope, receive, send)

    def _admitted(self, scope: Scope) -> Headers | None:
        """The request's headers when it is served here; None leaves it to Quart."""
        if scope["http_version"] != "1.1" or scope["query_string"] or scope.get("root_path"):
            return None
        headers = Headers(scope["headers"])
        length = headers.get("Content-Length")
        if headers.get("Transfer-Encoding") is not None:
            return None
        if length is None or not (length.isascii() and length.isdigit()):  # h11 checked it
            return None
        if not 0 < int(length) <= self.config["MAX_CONTENT_LENGTH"]:
            return None  # Quart's answer: an empty body's 400, or the 413
        try:
            admit_request(self.ctx, "POST", PATH, headers)
        except HttpError:
            return None
        return headers

    async def _create(
        self, headers: Headers, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        try:
            raw = await self._body(receive)
            if raw is None:
                return  # the client left before its body came: no one to answer
            answer = await create_answer(self.ctx, decode_body(raw, headers))
        except Exception as error:  # the same answers as Quart's error handlers
            answer = answer_of(error)
        await _send_answer(send, answer)

    async def _body(self, receive: ASGIReceiveCallable) -> bytes | None:
        """The whole body, or None if the client left (or the server gave up on it).

        Its length is at most the ``Content-Length`` already checked: h11 ends the
        request there and refuses a connection that sends more as the same request.
        A body that came with its head (nearly every one) is taken without a cancel
        scope: the server bounds the wait for any body (``ServerSettings.body_timeout``
        and ``body_min_rate``: a 408, and the connection closed). The rest of one that
        comes in parts must also be in within Quart's ``BODY_TIMEOUT``, as on Quart's
        routes, which answer it the same way (a JSON 408).
        """
        message = await receive()
        chunks: list[bytes] = []
        timeout = self.config["BODY_TIMEOUT"]
        deadline = trio.current_time() + (float("inf") if timeout is None else timeout)
        while True:
            if message["type"] == "http.disconnect":
                return None
            chunks.append(cast(bytes, message.get("body", b"")))
            if not message.get("more_body", False):
                return b"".join(chunks)
            with trio.move_on_at(deadline) as scope:
                message = await receive()
            if scope.cancelled_caught:
                raise RequestTimeout()


async def _send_answer(send: ASGISendCallable, answer: Answer) -> None:
    """``answer`` with the headers Quart writes for it, in its order."""
    headers = [
        (b"content-type", JSON_TYPE.encode()),
        (b"content-length", str(len(answer.body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in answer.headers),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})
