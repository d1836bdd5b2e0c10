"""Finding the local Conductor and its token without being told.

URL: the argument > ``$SYMPHONY_URL`` > ``<state dir>/conductor.json`` (written by a
running Conductor) > ``http://127.0.0.1:8000``. Token: the argument > ``$SYMPHONY_TOKEN``
> ``<state dir>/api-token``. The state directory is the ``state_dir`` argument >
``$SYMPHONY_STATE_DIR`` > the nearest ``.symphony`` (where ``symphony up`` keeps it) or
``storage`` (the seed's ``symphony conductor`` default) that holds a Conductor's files,
looked for in the current directory and then in each parent directory, the way git
finds its repository: a command run from ``project/src/`` finds ``project/.symphony``.

:func:`locate` does the search once and says where each answer came from, and what it
searched when it found nothing (for an error message that tells the user where to
look). The CLI and both clients use it; :func:`find_conductor` and :func:`find_token`
are its two halves.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_STATE_DIR = ".symphony"
#: Looked for in this order in each directory, from the current one up to the root.
STATE_DIR_CANDIDATES = (DEFAULT_STATE_DIR, "storage")
#: What marks a directory as a Conductor's state directory.
STATE_FILES = ("conductor.json", "api-token")


@dataclass(frozen=True, slots=True)
class Located:
    """Where a client talks to, and where each part of that came from.

    ``url_from`` and ``token_from`` are ``"argument"``, ``"$SYMPHONY_URL"``,
    ``"$SYMPHONY_TOKEN"``, a file's path, or ``"default"`` / ``None`` when nothing was
    found. ``state_dir`` is the state directory found (``None``: none was);
    ``searched`` lists what was looked at, in order, for a message when that matters.
    """

    url: str
    token: str | None
    url_from: str
    token_from: str | None
    state_dir: Path | None
    searched: tuple[str, ...]

    def nothing_found(self) -> bool:
        """True when neither arguments, variables nor a state directory gave anything."""
        return self.url_from == "default" and self.token_from is None

    def search_text(self) -> str:
        """What was searched, as one sentence for an error message."""
        return "searched " + ", ".join(self.searched)


def _has_state(directory: Path) -> bool:
    return any((directory / name).exists() for name in STATE_FILES)


def search_state_dir(start: Path | None = None) -> Path | None:
    """The nearest ``.symphony`` or ``storage`` with a Conductor's files, from ``start``
    (default: the current directory) up to the root; ``None`` when there is none."""
    here = start or _cwd()
    if here is None:
        return None
    here = here.absolute()
    for directory in (here, *here.parents):
        for name in STATE_DIR_CANDIDATES:
            if _has_state(directory / name):
                return directory / name
    return None


def _cwd() -> Path | None:
    """The current directory, or ``None`` when it has been deleted under us."""
    try:
        return Path.cwd()
    except OSError:
        return None


def state_dir_of(state_dir: str | os.PathLike[str] | None = None) -> Path:
    """The state directory to look in (see the module docstring); ``./.symphony`` when
    none is named and none is found."""
    if state_dir is not None:
        return Path(state_dir)
    if env := os.environ.get("SYMPHONY_STATE_DIR"):
        return Path(env)
    return search_state_dir() or Path(DEFAULT_STATE_DIR)


def normalize_url(url: str) -> str:
    """``host:port`` becomes ``http://host:port``; no trailing slash."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


def locate(
    url: str | None = None,
    token: str | None = None,
    *,
    state_dir: str | os.PathLike[str] | None = None,
) -> Located:
    """Find the Conductor's URL and token (see the module docstring)."""
    searched: list[str] = []
    found_dir: Path | None
    if state_dir is not None:
        found_dir = Path(state_dir)
        searched.append(f"{found_dir} (state_dir)")
    elif env := os.environ.get("SYMPHONY_STATE_DIR"):
        found_dir = Path(env)
        searched.append(f"$SYMPHONY_STATE_DIR ({found_dir})")
    else:
        found_dir = search_state_dir()
        names = " and ".join(f"./{name}" for name in STATE_DIR_CANDIDATES)
        searched.append(
            f"{names} in {_cwd() or '(a deleted directory)'} and its parent directories"
        )
        searched.append("$SYMPHONY_STATE_DIR (not set)")

    url_file = found_dir / "conductor.json" if found_dir is not None else None
    token_file = found_dir / "api-token" if found_dir is not None else None
    url_from: str
    if url:
        url, url_from = normalize_url(url), "argument"
    elif env := os.environ.get("SYMPHONY_URL"):
        url, url_from = normalize_url(env), "$SYMPHONY_URL"
    else:
        searched.append("$SYMPHONY_URL (not set)")
        recorded = _recorded_url(url_file) if url_file is not None else None
        if recorded and url_file is not None:
            url, url_from = recorded, str(url_file)
        else:
            url, url_from = DEFAULT_URL, "default"

    token_from: str | None = None
    if token:
        token_from = "argument"
    elif env := os.environ.get("SYMPHONY_TOKEN"):
        token, token_from = env.strip(), "$SYMPHONY_TOKEN"
    else:
        searched.append("$SYMPHONY_TOKEN (not set)")
        token = _read_token(token_file) if token_file is not None else None
        if token and token_file is not None:
            token_from = str(token_file)
    if found_dir is not None and state_dir is None and not _has_state(found_dir):
        found_dir = None  # named by the variable, but nothing is there
    return Located(url, token or None, url_from, token_from, found_dir, tuple(searched))


def _recorded_url(path: Path) -> str | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8")).get("url")
    except (OSError, ValueError, AttributeError):
        return None
    return normalize_url(found) if isinstance(found, str) and found else None


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def find_conductor(
    url: str | None = None, *, state_dir: str | os.PathLike[str] | None = None
) -> str:
    """The Conductor's base URL, e.g. ``"http://127.0.0.1:8000"``."""
    return locate(url, state_dir=state_dir).url


def find_token(
    token: str | None = None, *, state_dir: str | os.PathLike[str] | None = None
) -> str | None:
    """The API token, or ``None`` when none is known (a Conductor with auth off)."""
    return locate(token=token, state_dir=state_dir).token
