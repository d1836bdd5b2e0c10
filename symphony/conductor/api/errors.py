"""JSON errors for every failure, never an HTML page and never a 500 for bad input.

Every error body is ``{"error": <short words>, "detail": <explanation or field errors>}``:
400 malformed request or parameter, 401 no or wrong token, 404 unknown deployment,
instance or path, 409 name conflict (or no logs yet), 413 body too large, 422 invalid
spec (``detail`` lists ``{"path", "message"}``), 503 a node or an actor cannot answer now.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Quart, Response, jsonify
from werkzeug.exceptions import HTTPException

from symphony.actors import ActorCrashed, ActorStopped, AskTimeout
from symphony.errors import SymphonyError

from ..store import Fenced
from .roleheaders import ROLE_HEADER

log = logging.getLogger("symphony.conductor.api")


class HttpError(SymphonyError):
    """Raise from a route to answer ``status`` with ``{"error": error, "detail": detail}``."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail


def error_response(status: int, error: str, detail: Any = None) -> Response:
    """The JSON error response every failure becomes."""
    response = jsonify({"error": error, "detail": detail})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="symphony"'
    if status == 413:
        # The rest of the body may still be on its way, and an HTTP/1.1 client such as
        # httpx reads no answer before it has sent all of it: with the connection left
        # open, the server stops reading and both sides wait forever. Closing it lets the
        # client see this answer.
        response.headers["Connection"] = "close"
    return response


def install_error_handlers(app: Quart) -> None:
    """Turn every error into JSON with the right status."""

    @app.errorhandler(HttpError)
    async def _api_error(error: HttpError) -> Response:
        return error_response(error.status, error.error, error.detail)

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        response = error_response(status, (error.name or "error").lower(), error.description)
        if status == 405 and error.get_headers():  # keep the Allow header
            for name, value in error.get_headers():
                if name.lower() == "allow":
                    response.headers["Allow"] = value
        return response

    @app.errorhandler(UnicodeDecodeError)
    async def _not_utf8(error: UnicodeDecodeError) -> Response:
        return error_response(400, "malformed request", "the request is not valid UTF-8")

    @app.errorhandler(AskTimeout)
    async def _busy(error: AskTimeout) -> Response:
        log.warning("an API request timed out waiting for an actor: %s", error)
        return error_response(503, "busy", f"the Conductor did not answer in time: {error}")

    @app.errorhandler(ActorStopped)
    async def _restarting(error: ActorStopped) -> Response:
        return error_response(503, "unavailable", f"a Conductor component is restarting: {error}")

    @app.errorhandler(Fenced)
    async def _fenced(error: Fenced) -> Response:
        # Nothing was written (the transaction rolled back): another Conductor leads
        # now, and a client with several URLs may safely try the next one.
        response = error_response(503, "this Conductor is no longer the leader", str(error))
        response.headers[ROLE_HEADER] = "standby"
        return response

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        if isinstance(error, ActorCrashed) and isinstance(error.__cause__, Fenced):
            return await _fenced(error.__cause__)  # an actor's write was fenced
        log.exception("unhandled error in an API route")
        return error_response(500, "internal error", type(error).__name__)
