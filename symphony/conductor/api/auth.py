"""The API token and the address file: how a local client finds and enters the Conductor.

Two small files in the Conductor's state directory:

- ``api-token``: a random bearer token, written on the first start with mode 0600 (created
  with that mode, so it is never readable by others, not even for an instant) and reused
  on later starts, so a restart does not log every client out.
- ``conductor.json``: ``{"url": ..., "pid": ...}``, written once the HTTP server is bound
  (the port may have been picked by the OS), so the CLI and :mod:`symphony.client` find
  the local Conductor without being told.

Every route but ``/healthz``, ``/docs`` and the static UI under ``/ui`` wants
``Authorization: Bearer <token>``; the comparison takes constant time.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
from pathlib import Path

from symphony.pki import restrict_file

TOKEN_FILE = "api-token"
ADDRESS_FILE = "conductor.json"

#: Paths anyone may read: liveness, the API explorer page, and the web UI's static files
#: (the UI asks for the token itself before calling the API).
PUBLIC_PATHS = frozenset({"/healthz", "/docs", "/ui"})
PUBLIC_PREFIXES = ("/ui/",)


def ensure_api_token(state_dir: Path) -> str:
    """The Conductor's API token: read from ``state_dir/api-token``, or created there.

    An empty or unreadable file is an error rather than silently replaced: an operator
    may have put a token there on purpose.
    """
    path = Path(state_dir) / TOKEN_FILE
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        restrict_file(path)  # one written by hand (or by an older version) may be 0644
        existing = path.read_text(encoding="utf-8").strip()
        if not existing:
            raise ValueError(f"{path} is empty: delete it to have a new token made") from None
        return existing
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token


def write_address_file(state_dir: Path, url: str) -> Path:
    """Record where the HTTP API listens (atomically: a reader never sees half a file)."""
    path = Path(state_dir) / ADDRESS_FILE
    tmp = path.with_name(f".{ADDRESS_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def remove_address_file(state_dir: Path, url: str) -> None:
    """Remove the address file on shutdown, unless another Conductor has replaced it."""
    path = Path(state_dir) / ADDRESS_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("url") == url:
            path.unlink()


def client_url(bound: str) -> str:
    """The URL a local client should use for a server bound as ``bound``.

    A wildcard bind (``0.0.0.0``, ``[::]``) is not an address to connect to: use loopback.
    """
    for wildcard, local in (("//0.0.0.0:", "//127.0.0.1:"), ("//[::]:", "//[::1]:")):
        if wildcard in bound:
            return bound.replace(wildcard, local, 1)
    return bound


def is_public(path: str) -> bool:
    """Whether ``path`` is served without a token."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def token_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (constant-time compare)."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))
