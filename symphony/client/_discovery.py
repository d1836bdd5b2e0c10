"""Finding the local Conductor and its token without being told.

URL: the argument > ``$SYMPHONY_URL`` > ``<state dir>/conductor.json`` (written by a
running Conductor) > ``http://127.0.0.1:8000``. Token: the argument > ``$SYMPHONY_TOKEN``
> ``<state dir>/api-token``. The state directory is the ``state_dir`` argument >
``$SYMPHONY_STATE_DIR`` > ``./.symphony`` (where ``symphony up`` keeps it) > ``./storage``
(the seed's ``symphony conductor`` default), the first that holds a running Conductor's
files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_STATE_DIR = ".symphony"
#: Looked at in this order when no state directory is named.
STATE_DIR_CANDIDATES = (DEFAULT_STATE_DIR, "storage")


def state_dir_of(state_dir: str | os.PathLike[str] | None = None) -> Path:
    """The state directory to look in (see the module docstring)."""
    if state_dir is not None:
        return Path(state_dir)
    if env := os.environ.get("SYMPHONY_STATE_DIR"):
        return Path(env)
    for candidate in map(Path, STATE_DIR_CANDIDATES):
        if (candidate / "conductor.json").exists() or (candidate / "api-token").exists():
            return candidate
    return Path(DEFAULT_STATE_DIR)


def normalize_url(url: str) -> str:
    """``host:port`` becomes ``http://host:port``; no trailing slash."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


def find_conductor(
    url: str | None = None, *, state_dir: str | os.PathLike[str] | None = None
) -> str:
    """The Conductor's base URL, e.g. ``"http://127.0.0.1:8000"``."""
    if url:
        return normalize_url(url)
    if env := os.environ.get("SYMPHONY_URL"):
        return normalize_url(env)
    recorded = state_dir_of(state_dir) / "conductor.json"
    try:
        found = json.loads(recorded.read_text(encoding="utf-8")).get("url")
    except (OSError, ValueError, AttributeError):
        found = None
    if isinstance(found, str) and found:
        return normalize_url(found)
    return DEFAULT_URL


def find_token(
    token: str | None = None, *, state_dir: str | os.PathLike[str] | None = None
) -> str | None:
    """The API token, or ``None`` when none is known (a Conductor with auth off)."""
    if token:
        return token
    if env := os.environ.get("SYMPHONY_TOKEN"):
        return env.strip()
    try:
        text = (state_dir_of(state_dir) / "api-token").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None
