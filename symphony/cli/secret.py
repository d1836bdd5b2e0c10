"""``symphony secret set|ls|rm``: values a job needs but nobody should see.

    $ printf %s "$HF_TOKEN" | symphony secret set hf-token
    secret hf-token created
    $ symphony secret set db-password --from-file ./password.txt
    secret db-password created
    $ symphony secret ls
    NAME         CREATED              UPDATED
    hf-token     2026-05-04 12:00:00  2026-05-04 12:00:00
    $ symphony secret rm hf-token

The value is read from standard input (typed without echo on a terminal; one final
newline is dropped, as ``echo`` adds one) or from ``--from-file`` (taken exactly),
never from an argument: arguments show in ``ps`` and in the shell's history. A spec
uses it as ``env: {HF_TOKEN: {secret: hf-token}}``; setting it again does not restart
anything: ``symphony restart NAME`` starts the instances with the new value.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ._errors import CLIError
from ._intermixed import intermixed
from ._remote import add_conductor_flag, call, client


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``secret`` with ``set``, ``ls`` and ``rm``."""
    secret = subparsers.add_parser(
        "secret", help="set and manage secrets", description=__doc__.split("\n\n")[0]
    )
    commands = secret.add_subparsers(title="secret commands", metavar="COMMAND", required=True)
    put = commands.add_parser(
        "set",
        help="set a secret from standard input or a file",
        description="Set a secret; the value comes from standard input or --from-file, "
        "never from an argument.",
    )
    put.add_argument("name", metavar="NAME", help="letters, digits, '_', '.', '-'")
    # Taken only to refuse it after NAME is checked (arguments are checked in order),
    # every word of it, wherever it is and whatever it looks like: none is repeated.
    put.add_argument("value", nargs="*", default=[], help=argparse.SUPPRESS)  # not required
    intermixed(put, unknown_into="value")
    put.add_argument(
        "--from-file", metavar="FILE", type=Path, help="read the value from FILE (exactly)"
    )
    listing = commands.add_parser("ls", help="list secrets: names and dates, never values")
    listing.add_argument("--json", action="store_true", help="print the API's JSON instead")
    rm = commands.add_parser("rm", help="delete a secret no deployment references")
    rm.add_argument("name", metavar="NAME")
    for parser, handler in ((put, run_set), (listing, run_ls), (rm, run_rm)):
        add_conductor_flag(parser)
        parser.set_defaults(handler=handler, parser=parser)


def read_value(from_file: Path | None) -> str:
    """The value from ``from_file``, or standard input (without echo on a terminal)."""
    if from_file is not None:
        try:
            data = from_file.read_bytes()
        except OSError as error:
            raise CLIError(f"cannot read {from_file}: {error.strerror or error}") from None
    elif sys.stdin.isatty():
        import getpass

        data = getpass.getpass("value (not shown): ").encode()
    else:
        data = sys.stdin.buffer.read()
        data = data[:-2] if data.endswith(b"\r\n") else data.removesuffix(b"\n")
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CLIError("the value is not UTF-8 text (it becomes an environment value)") from None
    if not value:
        raise CLIError("the value is empty: pipe it in or pass --from-file FILE")
    return value


def run_set(args: argparse.Namespace) -> int:
    from symphony.spec import check_secret_name

    try:  # the name first, as it comes first: before asking for a value to go with it
        check_secret_name(args.name)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.value:  # a usage error (exit 2), said after the name's, naming no word of it
        args.parser.error(
            "a secret's value is never an argument (arguments show in `ps` and in the "
            "shell's history): pipe it in, type it when asked, or pass --from-file FILE "
            "(the words after NAME are not repeated here)"
        )
    value = read_value(args.from_file)
    api = client(args)
    saved = call(api, api.set_secret, args.name, value)
    print(f"secret {saved['name']} {'created' if saved['created'] else 'updated'}")
    if not saved["created"]:
        print("running instances keep the old value: `symphony restart NAME` applies it")
    return 0


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def run_ls(args: argparse.Namespace) -> int:
    api = client(args)
    listed = call(api, api.list_secrets)
    if args.json:
        print(json.dumps({"secrets": listed}, indent=2))
        return 0
    width = max([len("NAME"), *(len(s["name"]) for s in listed)])
    print(f"{'NAME':<{width}}  {'CREATED':<19}  UPDATED")
    for item in listed:
        print(f"{item['name']:<{width}}  {_when(item['created_at'])}  {_when(item['updated_at'])}")
    return 0


def run_rm(args: argparse.Namespace) -> int:
    api = client(args)
    call(api, api.delete_secret, args.name)
    print(f"secret {args.name} removed")
    return 0
