"""The Conductor's HTTP API: a Quart-Trio app served by ``symphony.httpd`` in the Conductor's tree.

Route handlers never touch actor state: they ``ask`` actors through the refs in the
:class:`ApiContext`. Every error is JSON ``{"error": ..., "detail": ...}``.
"""

from .app import create_app
from .auth import ensure_api_token
from .context import ApiContext
from .errors import HttpError
from .server import HttpServer, HttpSettings
from .snapshots import SnapshotCache

__all__ = [
    "ApiContext",
    "HttpError",
    "HttpServer",
    "HttpSettings",
    "SnapshotCache",
    "create_app",
    "ensure_api_token",
]
