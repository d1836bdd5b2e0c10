"""Services of experiments through the Conductor: visit, port-forward, ``GET /tunnels``.

- ``POST /experiments/{experiment}/services/{service}/visit``: a one-time browser link
  (what ``symphony visit`` prints), to the relay port (:mod:`.origins`);
- ``/x/{experiment}/{service}/...`` (every method, and WebSockets): the service itself,
  relayed from its node (:mod:`.proxy_http`, :mod:`.proxy_ws`): to browsers on the
  relay port, to programs with the token on the API port too;
- ``GET /experiments/{experiment}/services/{service}/forward`` (a WebSocket): one TCP
  connection of ``symphony port-forward``;
- ``GET /tunnels``: every tunnel, forward and visit with its connections and bytes.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from quart import Blueprint, Response, redirect, request, websocket
from werkzeug.wrappers import Response as Redirect

from ..relay import RelayError, RelayHub, Target, find_service
from ..relay.visits import CODE_PARAM, CODE_TTL, COOKIE, SESSION_TTL
from .app import context
from .errors import HttpError
from .origins import relay_base

# The proxies (.proxy_http with http.cookies, .proxy_ws) are imported by the first
# request that uses them: a Conductor whose services nobody visits never loads them.

relay = Blueprint("relay", __name__)

#: The methods a service is reached with (HEAD and OPTIONS come along with them).
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _hub() -> RelayHub:
    hub = context().relay
    if hub is None:
        raise HttpError(503, "unavailable", "this Conductor relays no services")
    return hub


def _refusal(error: RelayError) -> HttpError:
    """The API's answer for a relay error: its status, with the title the API's other
    errors of that status have (the standard reason phrase, as for the errors Quart
    raises): ``404 not found``, ``409 conflict``, ``502 bad gateway`` (the node refused,
    its link is gone), ``503 service unavailable``, ``504 gateway timeout``."""
    try:
        title = HTTPStatus(error.status).phrase.lower()
    except ValueError:  # no status of HTTP's: not one the relay gives
        title = "relay error"
    return HttpError(error.status, title, str(error))


def _target(experiment: str, service: str) -> Target:
    try:
        return find_service(context().store, experiment, service)
    except RelayError as error:
        raise _refusal(error) from None


def _prefix(experiment: str, service: str) -> str:
    return f"/x/{quote(experiment, safe='')}/{quote(service, safe='')}"


@relay.post("/experiments/<experiment>/services/<service>/visit")
async def visit_link(experiment: str, service: str) -> dict[str, Any]:
    hub = _hub()
    try:
        find_service(context().store, experiment, service)
    except RelayError as error:
        if error.status != 409:  # not running yet: the link works once it does
            raise _refusal(error) from None
    code = hub.visits.issue(experiment, service)
    path = _prefix(experiment, service) + "/"
    # The relay port's origin, not the API's: the service's page must not share the
    # web UI's (see .origins). Without one, the API's address (a program's visit).
    host = request.headers.get("Host", "")
    base = relay_base(request.scope, host, request.scheme, context().relay_url)
    return {
        "experiment": experiment,
        "service": service,
        "path": path,
        "url": f"{base or request.host_url.rstrip('/')}{path}?{CODE_PARAM}={code}",
        "expires_in": CODE_TTL,
    }


@relay.get("/x/<experiment>/<service>")
async def service_root(experiment: str, service: str) -> Redirect:
    if {experiment, service} & {".", ".."}:
        # ``/x/../deployments``: a path whose dot segments the client did not resolve
        # (RFC 3986 5.2.4). No experiment or service has such a name: not a redirect.
        detail = f"no service at {request.path!r}: '.' and '..' name no experiment or service"
        raise HttpError(404, "not found", detail)
    target = _prefix(experiment, service) + "/"
    query = request.query_string.decode("latin-1")
    return redirect(target + (f"?{query}" if query else ""), 308)


@relay.route("/x/<experiment>/<service>/", methods=METHODS, defaults={"rest": ""})
@relay.route("/x/<experiment>/<service>/<path:rest>", methods=METHODS)
async def service_http(experiment: str, service: str, rest: str) -> Response | Redirect:
    hub = _hub()
    code = request.args.get(CODE_PARAM)
    if code is not None:
        return _spend(hub, code, experiment, service, rest)
    target = _target(experiment, service)
    from .proxy_http import proxy_http

    try:
        return await proxy_http(hub, target, request, rest, context().token)
    except RelayError as error:
        _row(hub, "visit", target).failed(str(error))
        raise _refusal(error) from None


def _spend(hub: RelayHub, code: str, experiment: str, service: str, rest: str) -> Redirect:
    from .proxy_http import upstream_target

    cookie = hub.visits.redeem(code, experiment, service)
    if cookie is None:
        raise HttpError(
            401,
            "unauthorized",
            "this visit link was used already or has expired; run `symphony visit "
            f"{service}` again for a new one",
        )
    prefix = _prefix(experiment, service)
    clean = upstream_target(f"{prefix}/{quote(rest)}", request.query_string).decode()
    response = redirect(clean, 303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(SESSION_TTL),
        path=prefix + "/",
        httponly=True,
        secure=request.scheme == "https",
        samesite="Lax",
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _row(hub: RelayHub, kind: str, target: Target, session: str | None = None) -> Any:
    return hub.table.row(
        kind, target.experiment, target.service, source="api", node_id=target.node_id,
        port=target.port, session=session,
    )  # fmt: skip


@relay.websocket("/x/<experiment>/<service>/", defaults={"rest": ""})
@relay.websocket("/x/<experiment>/<service>/<path:rest>")
async def service_websocket(experiment: str, service: str, rest: str) -> None:
    hub = _hub()
    target = _target(experiment, service)
    row = _row(hub, "visit", target)
    from .proxy_ws import proxy_websocket

    try:
        await proxy_websocket(hub, target, rest, row)
    except RelayError as error:
        row.failed(str(error))
        raise _refusal(error) from None


@relay.websocket("/experiments/<experiment>/services/<service>/forward")
async def forward(experiment: str, service: str) -> None:
    hub = _hub()
    target = _target(experiment, service)
    session = (websocket.args.get("session") or "")[:64] or None
    row = _row(hub, "forward", target, session)
    from .proxy_ws import forward_bytes

    try:
        await forward_bytes(hub, target, row)
    except RelayError as error:
        row.failed(str(error))
        raise _refusal(error) from None


@relay.get("/tunnels")
async def tunnels() -> dict[str, Any]:
    hub = _hub()
    return {"tunnels": hub.table.rows()}
