"""JSON errors for every failure, never an HTML page and never a 500 for bad input.

Every error body is ``{"error": <short words>, "detail": <explanation or field errors>}``:
400 malformed request or parameter, 401 no or wrong token, 404 unknown deployment,
instance or path, 409 name conflict (or no logs yet), 413 body too large, 422 invalid
spec (``detail`` lists ``{"path", "message"}``), 503 a node or an actor cannot answer now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from quart import Quart, Response
from werkzeug.exceptions import HTTPException

from symphony.actors import ActorCrashed, ActorStopped, AskTimeout
from symphony.errors import SymphonyError

from ..store import Fenced
from .jsonout import json_bytes
from .roleheaders import ROLE_HEADER

log = logging.getLogger("symphony.conductor.api")


class HttpError(SymphonyError):
    """Raise from a route to answer ``status`` with ``{"error": error, "detail": detail}``."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail


#: The media type of every JSON answer.
JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class Answer:
    """A finished answer: status, JSON body, and headers beyond its type and length.

    Both ways a request is served (Quart's request cycle and :mod:`.lean`) answer from
    one of these, so the bytes are the same whichever way a request went.
    """

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def error_answer(status: int, error: str, detail: Any = None) -> Answer:
    """The JSON error answer every failure becomes."""
    headers: tuple[tuple[str, str], ...] = ()
    if status == 401:
        headers = (("WWW-Authenticate", 'Bearer realm="symphony"'),)
    if status == 413:
        # The rest of the body may still be on its way, and an HTTP/1.1 client such as
        # httpx reads no answer before it has sent all of it: with the connection left
        # open, the server stops reading and both sides wait forever. Closing it lets the
        # client see this answer.
        headers = (("Connection", "close"),)
    return Answer(status, json_bytes({"error": error, "detail": detail}), headers)


def answer_of(error: Exception) -> Answer:
    """The answer for an exception a request ended with (logged where it says so)."""
    if isinstance(error, HttpError):
        return error_answer(error.status, error.error, error.detail)
    if isinstance(error, HTTPException):
        return _http_exception(error)
    if isinstance(error, UnicodeDecodeError):
        return error_answer(400, "malformed request", "the request is not valid UTF-8")
    if isinstance(error, AskTimeout):
        log.warning("an API request timed out waiting for an actor: %s", error)
        return error_answer(503, "busy", f"the Conductor did not answer in time: {error}")
    if isinstance(error, ActorStopped):
        return error_answer(503, "unavailable", f"a Conductor component is restarting: {error}")
    if isinstance(error, ActorCrashed) and isinstance(error.__cause__, Fenced):
        error = error.__cause__  # an actor's write was fenced
    if isinstance(error, Fenced):
        # Nothing was written (the transaction rolled back): another Conductor leads
        # now, and a client with several URLs may safely try the next one.
        answer = error_answer(503, "this Conductor is no longer the leader", str(error))
        return Answer(answer.status, answer.body, ((ROLE_HEADER, "standby"),))
    log.exception("unhandled error in an API route", exc_info=error)
    return error_answer(500, "internal error", type(error).__name__)


def _http_exception(error: HTTPException) -> Answer:
    status = error.code or 500
    answer = error_answer(status, (error.name or "error").lower(), error.description)
    if status == 405 and error.get_headers():  # keep the Allow header
        for name, value in error.get_headers():
            if name.lower() == "allow":
                return Answer(answer.status, answer.body, (*answer.headers, ("Allow", value)))
    return answer


def response_of(answer: Answer) -> Response:
    """``answer`` as a Quart response."""
    response = Response(answer.body, status=answer.status, content_type=JSON_TYPE)
    for name, value in answer.headers:
        response.headers[name] = value
    return response


def error_response(status: int, error: str, detail: Any = None) -> Response:
    """The JSON error response every failure becomes (as a Quart response)."""
    return response_of(error_answer(status, error, detail))


#: The exceptions the API answers for itself (all disjoint: :func:`answer_of` tells
#: them apart in any order). ``Exception`` last: anything else is a 500.
HANDLED: tuple[type[Exception], ...] = (
    HttpError,
    HTTPException,
    UnicodeDecodeError,
    AskTimeout,
    ActorStopped,
    Fenced,
    Exception,
)


def install_error_handlers(app: Quart) -> None:
    """Turn every error into JSON with the right status."""

    async def _answer(error: Exception) -> Response:
        return response_of(answer_of(error))

    for kind in HANDLED:
        app.register_error_handler(kind, _answer)
