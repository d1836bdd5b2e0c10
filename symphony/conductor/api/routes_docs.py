"""``GET /openapi.json`` and ``GET /docs``: routes that load their generator when asked.

Building the document needs the route table, every answer's model and the explorer
page (:mod:`.openapi`); a Conductor that nobody asks for its documentation never
imports them. The first request imports :mod:`.openapi` (the import lock makes
concurrent first requests wait for the one import), which builds the document once.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

api_docs = Blueprint("api_docs", __name__)


@api_docs.get("/openapi.json")
async def openapi_json() -> dict[str, Any]:
    from .app import context
    from .openapi import openapi_document

    return openapi_document(context().version)


@api_docs.get("/docs")
async def docs_page() -> Response:
    from .docs_page import DOCS_HTML

    return Response(DOCS_HTML, status=200, content_type="text/html; charset=utf-8")
