"""The checks every API request passes before its route, whichever way it is served.

In this order: a web page's request is refused before anything else is looked at (the
Host and, for a change, the Origin: :mod:`.hosts`); then the token (:mod:`.auth`); then
the body's type (:mod:`.body`). Quart runs them before every route but a relayed
service's (``/x/``, admitted by :mod:`.relay_access`); :mod:`.lean` runs the same
function before it serves a request itself, and leaves any request it refuses to Quart,
which refuses it the same way.
"""

from __future__ import annotations

from .auth import is_public, token_matches
from .body import HeaderMap, check_body_type
from .context import ApiContext
from .errors import HttpError
from .hosts import check_request_host_and_origin

UNAUTHORIZED = (
    "send the API token as 'Authorization: Bearer <token>'; the Conductor "
    "wrote it to <state dir>/api-token"
)


def admit_request(
    ctx: ApiContext, method: str, path: str, headers: HeaderMap, *, routed: bool = True
) -> None:
    """Raise the :class:`HttpError` a request is refused with (421, 403, 401, 415).

    ``routed``: the request names a route; without one its 404 or 405 says more than a
    complaint about its body's type.
    """
    check_request_host_and_origin(ctx.allowed_hosts, method, headers)
    token = ctx.token
    if (
        token is not None
        and not is_public(path)
        and not token_matches(headers.get("Authorization"), token)
    ):
        raise HttpError(401, "unauthorized", UNAUTHORIZED)
    if routed:
        check_body_type(method, path, headers)
