"""What the client commands share: the ``--conductor`` flag, the client, error lines.

Finding the Conductor is :func:`symphony.client.locate`'s job (``--conductor`` >
``SYMPHONY_URL`` > ``conductor.json`` in the state directory, written by a running
Conductor > ``http://127.0.0.1:8000``; the token from ``SYMPHONY_TOKEN`` or ``api-token``
there; the state directory is ``SYMPHONY_STATE_DIR`` or the nearest ``.symphony`` or
``storage`` here or in a parent directory). This module only turns what can go wrong
into one line a person can act on (naming what was searched when nothing was found),
raised as :class:`~._errors.CLIError` (exit 1).
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
LOOK_HINT = (
    "run this where `symphony up` runs (or in a directory below it), or set "
    "SYMPHONY_STATE_DIR, or SYMPHONY_URL and SYMPHONY_TOKEN"
)


def add_conductor_flag(parser: argparse.ArgumentParser) -> None:
    """``--conductor URL``: which Conductor the command talks to."""
    parser.add_argument(
        "--conductor",
        metavar="URL",
        help="the Conductor's HTTP API (default: $SYMPHONY_URL, else the one `symphony up` "
        "runs in this directory or a parent, else http://127.0.0.1:8000)",
    )


def client(args: argparse.Namespace) -> Client:
    """A :class:`symphony.client.Client` for ``args.conductor`` (or the defaults)."""
    from symphony.client import Client  # imported here: `--help` does not pay for it

    return Client(url=getattr(args, "conductor", None))


def call(api: Client, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, with its failures turned into one-line :class:`CLIError`."""
    from symphony.client import ApiError

    located = getattr(api, "located", None)
    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        if exc.status == 401 and located is not None:
            raise CLIError(unauthorized_text(located)) from None
        raise CLIError(api_error_text(exc)) from None
    except Exception as exc:
        if not _is_transport_error(exc):
            raise
        # ConductorUnreachable carries url and reason; its own hint speaks to Python code.
        url = getattr(exc, "url", None) or getattr(api, "url", None) or "its address"
        reason = " ".join(str(getattr(exc, "reason", None) or exc).split())
        searched, hint = "", HINT
        if located is not None and (starting := starting_text(located)):
            hint = starting
        elif located is not None and located.nothing_found():
            searched = f"; no Conductor state found ({located.search_text()})"
        elif located is not None and (ended := ended_text(located)):
            hint = ended
        # With several URLs (SYMPHONY_URL=standby,leader), what each one before said.
        before = "; ".join(getattr(exc, "tried", ()))
        before = f"; before it, {before}" if before else ""
        raise CLIError(
            f"cannot reach the Conductor at {url} ({reason or type(exc).__name__}){before}"
            f"{searched}; {hint}"
        ) from None


def ended_text(located: Any) -> str:
    """When the address came from a state directory's ``conductor.json`` and the
    Conductor that wrote it has ended without removing it (killed, or its machine
    rebooted): say so, and what became of its node's jobs, which go on running."""
    import json
    from pathlib import Path

    state_dir = located.state_dir
    if state_dir is None or located.url_from != str(state_dir / "conductor.json"):
        return ""
    try:
        pid = int(json.loads(Path(located.url_from).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    if pid <= 0 or _alive(pid):
        return ""  # still there (starting, or stuck): the plain hint fits
    up = state_dir.name == ".symphony"  # where `symphony up` keeps its state
    text = (
        f"the Conductor recorded in {located.url_from} (pid {pid}) ended without stopping "
        f"cleanly: start {'`symphony up`' if up else 'it'} again in {state_dir.parent}"
    )
    from symphony.node.process.client import monitor_alive

    node = state_dir / "node"
    if up and monitor_alive(node / "jobs"):  # `up` ran the node too, in one process
        text += (
            f"; it adopts its node's jobs, which still run (or stop them: "
            f"`symphony node stop --state-dir {node}`)"
        )
    return text


def starting_text(located: Any) -> str:
    """When no address was recorded but a Conductor holds the state directory: it is
    still starting (``symphony up`` just run in another terminal), not absent."""
    from pathlib import Path

    from symphony.statedir import StateDirInUse, check_state_dir_free

    if located.url_from != "default":
        return ""
    state_dir = located.state_dir or Path(".symphony")
    try:
        check_state_dir_free(state_dir, "conductor")
    except StateDirInUse as busy:
        who = f" (pid {busy.holder})" if busy.holder is not None else ""
        return (
            f"the Conductor of {Path(state_dir).absolute()}{who} is still starting: "
            f"try again in a moment"
        )
    return ""


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process has that pid now
    return True


def unauthorized_text(located: Any) -> str:
    """Why the Conductor refused us (401), with where the token came from or was sought."""
    if located.token_from is None:
        return (
            f"unauthorized: the Conductor at {located.url} wants an API token and none "
            f"was found ({located.search_text()}); {LOOK_HINT}"
        )
    return (
        f"unauthorized: the Conductor at {located.url} refused the API token from "
        f"{located.token_from} (is it that Conductor's token?); {LOOK_HINT}"
    )


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
        tried = getattr(exc, "tried", ())  # the Conductors asked before this answer
        if tried:
            where = getattr(exc, "url", None)
            return f"{message}: {detail} (from {where}; before it, {'; '.join(tried)})"
        return f"{message}: {detail}"
    return " ".join(str(exc).split()) or type(exc).__name__


def _is_transport_error(exc: Exception) -> bool:
    """Connection refused, timeouts, resets: whatever the HTTP library calls them."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("httpx", "httpcore", "urllib", "http.client"))
