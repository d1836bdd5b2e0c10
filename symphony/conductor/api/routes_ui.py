"""``GET /ui``: the web UI's static files, served without a token.

The files are plain HTML, CSS and JavaScript modules shipped in the package
(``symphony/conductor/ui/static``): no build step, nothing fetched from elsewhere. The
pages hold no data; they ask the API for it with the token the user logs in with (or
that ``symphony up`` puts in the URL fragment, which browsers never send to a server).

A Content-Security-Policy keeps the pages to their own origin: no inline scripts, no
third-party hosts, so a value shown on a page can never run as code.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from quart import Blueprint, Response, redirect, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from .errors import HttpError

ui = Blueprint("ui", __name__)

STATIC = Path(__file__).resolve().parent.parent / "ui" / "static"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    # Small files that change with the package: revalidate instead of serving stale ones.
    response.headers["Cache-Control"] = "no-cache"
    return response


@ui.get("/ui")
async def index() -> Response:
    return _headers(await send_from_directory(STATIC, "index.html"))


@ui.get("/ui/")
async def index_slash() -> WerkzeugResponse:
    return redirect("/ui")  # one address for the page, so relative links resolve alike


@cache
def files() -> frozenset[str]:
    """The names ``/ui/<name>`` serves: the package's static files, and nothing else."""
    return frozenset(p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*") if p.is_file())


@ui.get("/ui/<path:name>")
async def static_file(name: str) -> Response:
    # Only a name of the shipped set reaches the file system: a path that leaves STATIC
    # ("..", absolute), a NUL or a name longer than a file's (an OSError, once a 500)
    # is a 404 like any other unknown name.
    if name not in files():
        raise HttpError(404, "not found", f"the web UI has no file {name[:200]!r}")
    try:
        response = await send_from_directory(STATIC, name)
    except NotFound:
        raise HttpError(404, "not found", f"the web UI has no file {name!r}") from None
    return _headers(response)
