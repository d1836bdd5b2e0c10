"""Redirects whose body is JSON, like every other answer of the API.

Werkzeug writes a redirect's body as a small HTML page, both for ``redirect()`` (the
API's own: a service's root to its slash, the API port to the relay port, a spent visit
code) and for its router's redirects (``/deployments//x`` to ``/deployments/x``),
which Quart answers without the app's error handlers. A program that does not follow a
redirect reads the same ``{"error", "detail"}`` as for any answer that is not a success,
and the ``Location`` header says where to go.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from quart import Response
from quart_trio import QuartTrio
from werkzeug.routing import RequestRedirect

from .errors import error_response


def json_redirect(location: str, code: int = 302) -> Response:
    """A redirect to ``location`` with a JSON body naming it."""
    response = error_response(code, HTTPStatus(code).phrase.lower(), f"see {location}")
    response.headers["Location"] = location
    return response


class ApiApp(QuartTrio):
    """The API's app: its redirects, and its router's, answer in JSON."""

    def redirect(self, location: str, code: int = 302) -> Any:
        return json_redirect(location, code)

    async def handle_http_exception(self, error: Any) -> Any:
        if isinstance(error, RequestRedirect):  # the router's: no error handler sees it
            return json_redirect(error.new_url, error.code)
        return await super().handle_http_exception(error)
