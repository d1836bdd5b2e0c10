"""Build the Quart-Trio application."""

from __future__ import annotations

import time
from typing import Any

from quart import current_app
from quart_trio import QuartTrio

from .context import ApiContext
from .errors import install_error_handlers


def context() -> ApiContext:
    """The :class:`ApiContext` of the running app (inside a request)."""
    return current_app.config["SYMPHONY"]


def create_app(ctx: ApiContext) -> QuartTrio:
    """The HTTP API app for one Conductor."""
    app = QuartTrio("symphony")
    app.config["SYMPHONY"] = ctx
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    install_error_handlers(app)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": ctx.version,
            "uptime_seconds": round(time.time() - ctx.started_at, 3),
        }

    from .routes_deployments import deployments
    from .routes_nodes import nodes

    app.register_blueprint(nodes)
    app.register_blueprint(deployments)
    return app
