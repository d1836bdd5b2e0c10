"""``symphony token create|list|revoke``: join tokens that let new nodes enrol.

    $ symphony token create --ttl 1h --node-id gpu-7 --group gpu --capacity Analytic1=10
    join token (single-use, valid for 1h, until 2026-05-04 13:00:00):
      symjt1.4f1c2a9e8b7d6c5a.Qm9v...
    CA hash (what the node pins):
      sha256:6b1f...
    binds: node gpu-7, groups gpu, capacities Analytic1=10
    on the new node:
      symphony node --node-id gpu-7 --conductor 10.0.0.5:50051 --join 10.0.0.5:50051 \
        --token symjt1... --ca-hash sha256:... --group gpu --capacity Analytic1=10

The token is printed once and never stored by the Conductor (only its hash is); it is
a secret until it expires or is used. The Conductor and the API token are found as by
every client command (:func:`symphony.client.find_conductor`, :func:`~symphony.client.find_token`:
``--conductor URL`` > ``$SYMPHONY_URL`` > the local state dir's ``conductor.json``; the token
from ``$SYMPHONY_TOKEN`` or the state dir's ``api-token``); ``SYMPHONY_URL`` may list
several Conductors, tried in turn.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import Any

from ._remote import add_conductor_flag, call, client
from .service_flags import capacity, checked

_TTL = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


#: The longest a join token may live: the Conductor's limit (``MAX_TOKEN_TTL``), checked
#: here too so the refusal speaks in the units given, not in float seconds.
MAX_TTL_SECONDS = 30 * 86400


def parse_ttl(text: str) -> float:
    """``"90"``/``"90s"``, ``"15m"``, ``"1h"``, ``"2d"`` -> seconds (argparse type)."""
    match = _TTL.fullmatch(text.strip().lower())
    seconds = float(match[1]) * _UNIT[match[2]] if match else 0.0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 90s, 15m, 1h or 2d, got {text!r}"
        )
    if seconds > MAX_TTL_SECONDS:
        raise argparse.ArgumentTypeError(
            f"a join token lives at most 30 days (30d, 720h), got {text!r}"
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
    bind = create.add_argument_group(
        "what a node joining with it may claim (at the join and at every later connection)"
    )
    bind.add_argument(
        "--node-id", metavar="ID", type=checked("node_id"), help="the only node id it may take"
    )
    bind.add_argument(
        "--group",
        metavar="G",
        action="append",
        type=checked("group"),
        help="a group it may offer (repeatable)",
    )
    bind.add_argument(
        "--capacity",
        metavar="NAME=N",
        action="append",
        type=capacity,
        help="a capacity it may offer, at most N (repeatable)",
    )
    create.add_argument("--json", action="store_true", help="print the API's JSON instead")
    listing = commands.add_parser("list", help="list join tokens (never their secrets)")
    listing.add_argument("--json", action="store_true", help="print the API's JSON instead")
    revoke = commands.add_parser("revoke", help="delete a join token so it can no longer join")
    revoke.add_argument("id", help="the token's id (the part after 'symjt1.'), or the whole token")
    for parser, handler in ((create, run_create), (listing, run_list), (revoke, run_revoke)):
        add_conductor_flag(parser)
        parser.set_defaults(handler=handler)


def _duration(seconds: float) -> str:
    from ._table import duration  # the one duration format of every command

    return duration(seconds)


def run_create(args: argparse.Namespace) -> int:
    api = client(args)
    created = call(
        api,
        api.create_join_token,
        ttl_seconds=args.ttl,
        reusable=args.reusable,
        node_id=args.node_id,
        groups=args.group or None,
        capacities=dict(args.capacity) if args.capacity else None,
    )
    if args.json:
        print(json.dumps(created, indent=2))
        return 0
    kind = "single-use" if created["single_use"] else "reusable"
    until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created["expires_at"]))
    print(f"join token ({kind}, valid for {_duration(args.ttl)}, until {until}):")
    print(f"  {created['token']}")
    print("CA hash (what the node pins):")
    print(f"  {created['ca_hash']}")
    if bound := _binding(created):
        print(f"binds: {bound}")
    print("on the new node:")
    print(f"  {created['join_command']}")
    print("The token is shown only this once; keep it secret until it is used or expires.")
    return 0


def _binding(token: dict[str, Any]) -> str:
    """``node gpu-7, groups gpu, capacities Analytic1=10`` (empty: binds nothing)."""
    parts = []
    if token.get("node_id"):
        parts.append(f"node {token['node_id']}")
    if token.get("groups") is not None:
        parts.append(f"groups {','.join(token['groups']) or '(none)'}")
    if token.get("capacities") is not None:
        caps = ",".join(f"{k}={v}" for k, v in sorted(token["capacities"].items()))
        parts.append(f"capacities {caps or '(none)'}")
    return ", ".join(parts)


def run_list(args: argparse.Namespace) -> int:
    api = client(args)
    listed = call(api, api.list_join_tokens)
    if args.json:
        print(json.dumps({"tokens": listed}, indent=2))
        return 0
    print(f"{'ID':<18} {'KIND':<10} {'STATE':<8} {'EXPIRES':<16} BINDS")
    for token in listed:
        kind = "single" if token["single_use"] else "reusable"
        state = "usable" if token["usable"] else ("used" if token["used_at"] else "expired")
        expires = token["expires_at"]
        when = "-" if expires is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(expires))
        binds = _binding(token) or "-"
        print(f"{token['id']:<18} {kind:<10} {state:<8} {when:<16} {binds}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    api = client(args)
    revoked = call(api, api.revoke_join_token, args.id)  # a whole token: by its id
    print(f"revoked join token {revoked.get('deleted')}")
    return 0
