"""Who may use a service under ``/x/{experiment}/{service}/``: token or visit cookie.

A program sends the API token (``Authorization: Bearer ...``) as for any route. A
browser cannot send a header from an address it was given, so it comes with a
one-time code from ``symphony visit`` (spent on its first request, which sets a
cookie scoped to the service's path; see :mod:`symphony.conductor.relay.visits`) or
that cookie. The Host and Origin checks of the API apply to ``/x/`` too; the rule that
bodies are JSON does not (the service speaks its own formats). Browsers are served on
the relay port only, an origin apart from the web UI's (:mod:`.origins`).
"""

from __future__ import annotations

from urllib.parse import unquote

from werkzeug.datastructures import Headers

from ..relay.visits import CODE_PARAM, COOKIE, Visits
from .auth import token_matches
from .errors import HttpError

#: Where services are served.
PREFIX = "/x/"


def service_of(path: str) -> tuple[str, str] | None:
    """``("rl", "tb")`` for ``/x/rl/tb/...`` (or ``/x/rl/tb``); None for other paths."""
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX) :].split("/", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    return unquote(parts[0]), unquote(parts[1])


def admit_service(
    path: str,
    headers: Headers,
    cookies: dict[str, str],
    args: dict[str, str],
    *,
    token: str | None,
    visits: Visits | None,
) -> None:
    """Raise 401 unless the request may reach the service its path names.

    An HTTP request with a visit code passes here: the route spends the code (or
    refuses it). A WebSocket is admitted with ``args={}``: a code does not count there.
    """
    if token is None or token_matches(headers.get("Authorization"), token):
        return
    found = service_of(path)
    if (
        found is not None
        and visits is not None
        and (CODE_PARAM in args or visits.allows(cookies.get(COOKIE), *found))
    ):
        return
    raise HttpError(
        401,
        "unauthorized",
        "open the service with the link `symphony visit SERVICE` prints (a browser), or "
        "send the API token as 'Authorization: Bearer <token>' (a program)",
    )
