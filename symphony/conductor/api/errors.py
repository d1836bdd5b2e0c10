"""JSON errors for every failure, never an HTML page and never a 500 for bad input."""

from __future__ import annotations

import logging
from typing import Any

from quart import Quart, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("symphony.conductor.api")


class ApiError(Exception):
    """Raise from a route to answer ``status`` with ``{"error": error, "detail": detail}``."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail


def error_response(status: int, error: str, detail: Any = None) -> Response:
    response = jsonify({"error": error, "detail": detail})
    response.status_code = status
    return response


def install_error_handlers(app: Quart) -> None:
    """Turn every error into JSON with the right status."""

    @app.errorhandler(ApiError)
    async def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.error, error.detail)

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        return error_response(status, (error.name or "error").lower(), error.description)

    @app.errorhandler(UnicodeDecodeError)
    async def _not_utf8(error: UnicodeDecodeError) -> Response:
        return error_response(400, "malformed request", "the body is not valid UTF-8")

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error in an API route")
        return error_response(500, "internal error", type(error).__name__)
