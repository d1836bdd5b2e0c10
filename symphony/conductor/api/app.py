"""Build the Quart-Trio application: routes, JSON errors, the token check."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import trio
from quart import Request, Websocket, current_app, redirect, request, websocket
from quart_trio import QuartTrio
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response as Redirect

from .admission import admit_request
from .body import MAX_BODY
from .context import ApiContext
from .errors import install_error_handlers
from .hosts import check_host_and_origin, check_websocket_host_and_origin
from .jsonout import ApiJsonProvider
from .origins import RELAY_PORT, RELAY_SIDE, browser_elsewhere, from_a_program, relay_base
from .redirects import ApiApp
from .relay_access import PREFIX, admit_service
from .wsconn import OneAheadWebsocketConnection

#: Ordinary requests end within this; log follow streams opt out (``timeout = None``).
RESPONSE_TIMEOUT = 150.0


def context() -> ApiContext:
    """The :class:`ApiContext` of the running app (inside a request)."""
    ctx: ApiContext = current_app.config["SYMPHONY"]
    return ctx


def create_app(ctx: ApiContext) -> QuartTrio:
    """The HTTP API app for one Conductor.

    ``app.config["SYMPHONY_CLOSING"]`` is a :class:`trio.Event` the server sets when it
    shuts down, so endless streams end instead of holding the graceful shutdown.
    """
    from .routes_uploads import UploadingRequest

    app = ApiApp("symphony")  # redirects in JSON too
    app.json = ApiJsonProvider(app)
    app.request_class = UploadingRequest  # POST /uploads may be larger than MAX_BODY
    app.asgi_websocket_class = OneAheadWebsocketConnection  # not ten messages ahead
    app.config["SYMPHONY"] = ctx
    app.config["SYMPHONY_CLOSING"] = trio.Event()
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["RESPONSE_TIMEOUT"] = RESPONSE_TIMEOUT
    install_error_handlers(app)

    @app.before_request
    async def _admit() -> Redirect | None:
        if request.path.startswith(PREFIX):  # a service: its own bodies, token or cookie
            check_host_and_origin(ctx.allowed_hosts)
            if not _relay_side(request.scope, request.headers, request.cookies, request.args):
                return redirect(_elsewhere(request.scope, request, websocket=False), 307)
            admit_service(
                request.path,
                request.headers,
                request.cookies,
                request.args,
                token=ctx.token,
                visits=ctx.relay.visits if ctx.relay is not None else None,
            )
            return None
        admit_request(
            ctx,
            request.method,
            request.path,
            request.headers,
            routed=request.routing_exception is None,
        )
        return None

    @app.before_websocket
    async def _admit_websocket() -> None:
        # A page may open a WebSocket to any address: its Origin is always checked.
        check_websocket_host_and_origin(ctx.allowed_hosts)
        if websocket.path.startswith(PREFIX) and not _relay_side(
            websocket.scope, websocket.headers, websocket.cookies, websocket.args
        ):
            _elsewhere(websocket.scope, websocket, websocket=True)  # raises its 403
        # No visit code here: a code is spent by an HTTP request (which answers with the
        # cookie); a WebSocket needs the cookie or the token, on either port.
        admit_service(
            websocket.path if websocket.path.startswith(PREFIX) else "",
            websocket.headers,
            websocket.cookies,
            {},
            token=ctx.token,
            visits=ctx.relay.visits if ctx.relay is not None else None,
        )

    def _relay_side(
        scope: Any, headers: Headers, cookies: Mapping[str, str], args: Mapping[str, str]
    ) -> bool:
        """Whether a ``/x/`` request is served here: it came in on the relay port, or
        it is a program's on the API port (see :mod:`.origins`)."""
        if scope.get(RELAY_SIDE):
            return True
        relay = ctx.relay_url is not None or isinstance(scope.get(RELAY_PORT), int)
        return from_a_program(headers, cookies, args, ctx.token, relay=relay)

    def _elsewhere(scope: Any, asked: Request | Websocket, *, websocket: bool) -> str:
        scheme = {"ws": "http", "wss": "https"}.get(asked.scheme, asked.scheme)
        base = relay_base(scope, asked.headers.get("Host", ""), scheme, ctx.relay_url)
        # The path as sent (names' escapes kept) when it reads /x/...; else rebuilt from
        # the decoded path: a target such as %2Fx/... would make a malformed Location.
        raw = scope.get("raw_path") or b""
        if not raw.startswith(PREFIX.encode()):
            raw = quote(asked.path).encode()
        query = asked.query_string
        target = raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
        return browser_elsewhere(base, target, websocket=websocket)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": ctx.version,
            "uptime_seconds": round(time.time() - ctx.started_at, 3),
        }

    from .routes_batch import batch  # POST /deployments:batch
    from .routes_deployments import deployments
    from .routes_docs import api_docs  # loads the OpenAPI generator when first asked
    from .routes_events import events
    from .routes_experiments import experiments  # /experiments: processes found by name
    from .routes_live import live  # GET /live: changes pushed to the web UI (SSE)
    from .routes_logs import logs
    from .routes_metrics import metrics
    from .routes_nodes import nodes
    from .routes_relay import relay  # /x/ (visit), GET /tunnels, port-forward
    from .routes_runs import runs  # GET /deployments/{id}/runs: a schedule's history
    from .routes_secrets import secrets  # POST/GET /secrets, DELETE /secrets/{name}
    from .routes_states import states  # GET /states: the state enums and what they mean
    from .routes_tokens import tokens  # join tokens: POST/GET /tokens, DELETE /tokens/{id}
    from .routes_ui import ui  # GET /ui: the web UI's static files (no token)
    from .routes_uploads import uploads  # POST /uploads: archives for config.image
    from .routes_usage import usage  # GET /nodes|deployments/{id}/usage-history: charts
    from .routes_versions import versions  # versions, promote, rollback (rolling updates)

    blueprints = (nodes, deployments, logs, events, metrics, api_docs, tokens, live, ui, usage)
    for blueprint in (
        *blueprints,
        states,
        experiments,
        runs,
        versions,
        uploads,
        secrets,
        batch,
        relay,
    ):
        app.register_blueprint(blueprint)
    return app
