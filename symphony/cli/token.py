"""``symphony token create|list|revoke``: join tokens that let new nodes enrol.

    $ symphony token create --ttl 1h
    join token (single-use, valid for 1h, until 2026-05-04 13:00:00):
      symjt1.4f1c2a9e8b7d6c5a.Qm9v...
    CA hash (what the node pins):
      sha256:6b1f...
    on the new node:
      symphony node --node-id NODE_ID --join 10.0.0.5:50051 --token symjt1... --ca-hash sha256:...

The token is printed once and never stored by the Conductor (only its hash is); it is
a secret until it expires or is used. The Conductor and the API token are found as by
every client command (:func:`symphony.client.find_conductor`, :func:`~symphony.client.find_token`:
``--conductor URL`` > ``$SYMPHONY_URL`` > the local state dir's ``conductor.json``; the token
from ``$SYMPHONY_TOKEN`` or the state dir's ``api-token``). Plain ``urllib`` does the calls.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import Any

from ._errors import CLIError
from ._remote import HINT, add_conductor_flag

_TTL = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> float:
    """``"90"``/``"90s"``, ``"15m"``, ``"1h"``, ``"2d"`` -> seconds (argparse type)."""
    match = _TTL.fullmatch(text.strip().lower())
    seconds = float(match[1]) * _UNIT[match[2]] if match else 0.0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 90s, 15m, 1h or 2d, got {text!r}"
        )
    return seconds


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``token`` with ``create``, ``list`` and ``revoke``."""
    token = subparsers.add_parser(
        "token", help="create and manage join tokens", description=__doc__.split("\n\n")[0]
    )
    commands = token.add_subparsers(title="token commands", metavar="COMMAND", required=True)
    create = commands.add_parser(
        "create",
        help="create a join token and print it with the CA hash",
        description="Create a join token; print it, the CA hash and a ready `symphony node` line.",
    )
    create.add_argument(
        "--ttl",
        type=parse_ttl,
        default=3600.0,
        metavar="DURATION",
        help="how long the token is valid: 90s, 15m, 1h (default), 2d; at most 30d",
    )
    create.add_argument(
        "--reusable", action="store_true", help="may enrol several nodes until it expires"
    )
    create.add_argument("--json", action="store_true", help="print the API's JSON instead")
    listing = commands.add_parser("list", help="list join tokens (never their secrets)")
    listing.add_argument("--json", action="store_true", help="print the API's JSON instead")
    revoke = commands.add_parser("revoke", help="delete a join token so it can no longer join")
    revoke.add_argument("id", help="the token's id (the part after 'symjt1.')")
    for parser, handler in ((create, run_create), (listing, run_list), (revoke, run_revoke)):
        add_conductor_flag(parser)
        parser.set_defaults(handler=handler)


def conductor_url(flag: str | None) -> str:
    """Where the API is, by the rules every client command follows."""
    from symphony.client import find_conductor

    return find_conductor(flag)


def api_token() -> str | None:
    """The API token, by the same rules (None: a Conductor with auth off)."""
    from symphony.client import find_token

    return find_token()


def request(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """One API call; its failures become a one-line :class:`CLIError`."""
    import urllib.error
    import urllib.request

    url = conductor_url(getattr(args, "conductor", None))
    headers = {"Accept": "application/json"}
    if token := api_token():
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:  # it holds the response's socket
            text = _api_error(error)
        if error.code == 401:  # say where the token came from, or where it was sought
            from symphony.client import locate

            from ._remote import unauthorized_text

            text = unauthorized_text(locate(getattr(args, "conductor", None)))
        raise CLIError(text) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CLIError(f"cannot reach the Conductor at {url} ({reason}); {HINT}") from None


def _api_error(error: Any) -> str:
    try:
        payload = json.loads(error.read())
        text = f"{payload['error']}: {payload['detail']}" if payload.get("detail") else None
        text = text or str(payload["error"])
    except (ValueError, KeyError, TypeError, AttributeError):
        text = f"HTTP {error.code} {error.reason}"
    return " ".join(text.split())


def _duration(seconds: float) -> str:
    from ._table import duration  # the one duration format of every command

    return duration(seconds)


def run_create(args: argparse.Namespace) -> int:
    created = request(args, "POST", "/tokens", {"ttl_seconds": args.ttl, "reusable": args.reusable})
    if args.json:
        print(json.dumps(created, indent=2))
        return 0
    kind = "single-use" if created["single_use"] else "reusable"
    until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created["expires_at"]))
    print(f"join token ({kind}, valid for {_duration(args.ttl)}, until {until}):")
    print(f"  {created['token']}")
    print("CA hash (what the node pins):")
    print(f"  {created['ca_hash']}")
    print("on the new node:")
    print(f"  {created['join_command']}")
    print("The token is shown only this once; keep it secret until it is used or expires.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    listed = request(args, "GET", "/tokens")
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    print(f"{'ID':<18} {'KIND':<10} {'STATE':<8} EXPIRES")
    for token in listed["tokens"]:
        kind = "single" if token["single_use"] else "reusable"
        state = "usable" if token["usable"] else ("used" if token["used_at"] else "expired")
        expires = token["expires_at"]
        when = "-" if expires is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(expires))
        print(f"{token['id']:<18} {kind:<10} {state:<8} {when}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    request(args, "DELETE", f"/tokens/{quote(args.id, safe='')}")
    print(f"revoked join token {args.id}")
    return 0
