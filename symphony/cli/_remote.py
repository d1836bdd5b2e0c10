"""What the client commands share: the ``--conductor`` flag, the client, error lines.

Finding the Conductor is :class:`symphony.client.Client`'s job (``--conductor`` >
``SYMPHONY_URL`` > ``./.symphony/conductor.json``, written by ``symphony up`` >
``http://127.0.0.1:8000``; the token from ``SYMPHONY_TOKEN`` or ``./.symphony/api-token``).
This module only turns what can go wrong into one line a person can act on, raised as
:class:`~._errors.CLIError` (exit 1).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import CLIError

if TYPE_CHECKING:
    from symphony.client import Client

T = TypeVar("T")

HINT = "is it running? start one with `symphony up`, or pass --conductor URL"


def add_conductor_flag(parser: argparse.ArgumentParser) -> None:
    """``--conductor URL``: which Conductor the command talks to."""
    parser.add_argument(
        "--conductor",
        metavar="URL",
        help="the Conductor's HTTP API (default: $SYMPHONY_URL, else the one `symphony up` "
        "runs in this directory, else http://127.0.0.1:8000)",
    )


def client(args: argparse.Namespace) -> Client:
    """A :class:`symphony.client.Client` for ``args.conductor`` (or the defaults)."""
    from symphony.client import Client  # imported here: `--help` does not pay for it

    return Client(url=getattr(args, "conductor", None))


def call(api: Client, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, with its failures turned into one-line :class:`CLIError`."""
    from symphony.client import ApiError

    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        raise CLIError(api_error_text(exc)) from None
    except Exception as exc:
        if not _is_transport_error(exc):
            raise
        # ConductorUnreachable carries url and reason; its own hint speaks to Python code.
        url = getattr(exc, "url", None) or getattr(api, "url", None) or "its address"
        reason = " ".join(str(getattr(exc, "reason", None) or exc).split())
        raise CLIError(
            f"cannot reach the Conductor at {url} ({reason or type(exc).__name__}); {HINT}"
        ) from None


def api_error_text(exc: Exception) -> str:
    """An API error as one line: ``invalid spec: config.command: is required``.

    A 422's detail is a list of ``{"path", "message"}``: each is named, so a spec file
    can be fixed without guessing.
    """
    detail = getattr(exc, "detail", None)
    message = getattr(exc, "error", None) or getattr(exc, "message", None)
    if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
        parts = [f"{d.get('path') or '(spec)'}: {d.get('message')}" for d in detail]
        return f"{message or 'refused'}: {'; '.join(parts)}"
    if message and isinstance(detail, str) and detail:
        return f"{message}: {detail}"
    return " ".join(str(exc).split()) or type(exc).__name__


def _is_transport_error(exc: Exception) -> bool:
    """Connection refused, timeouts, resets: whatever the HTTP library calls them."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("httpx", "httpcore", "urllib", "http.client"))
