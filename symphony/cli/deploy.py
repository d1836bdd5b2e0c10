"""``symphony deploy``: create a deployment from a spec file or an inline command.

    symphony deploy -f job.yaml                  # YAML or JSON; '-' reads standard input
    symphony deploy -f job.yaml --name web-2 --replicas 3
    symphony deploy -f a.yaml -f b.yaml          # several: created together, or none
    symphony deploy --name ticker -- sh -c 'while :; do date; sleep 1; done'
    symphony deploy --upload ./app -- python3 main.py   # ./app goes to the Conductor

The spec is the one the HTTP API takes (``docs/cli.md`` shows one); the Conductor
validates it and names every bad field. An inline command makes the smallest spec:
``{"name": ..., "config": {"command": [...]}}``, which any node can run. Several files
go as one ``POST /deployments:batch``: every one is created, or (if any is refused,
each refusal naming its file) none. One that no node there could ever take (a group no
node is in, a capacity class none offers) is created, with a warning line on stderr
that says why (:mod:`._placeable`).
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from ._errors import CLIError
from ._placeable import listed_nodes, warn_if_never_placeable
from ._remote import add_conductor_flag, call, client
from ._spec_file import read_spec_file
from ._update import existing_deployment, update_in_place
from ._wait import add_wait_flags, wait_after

HELP = """\
Create a deployment from a spec file (YAML or JSON) or from a command given after '--'.

  symphony deploy -f job.yaml
  symphony deploy -f job.json --name web-2 --replicas 3
  symphony deploy -f web.yaml -f worker.yaml        # both created, or neither
  symphony deploy --name ticker -- sh -c 'while :; do date; sleep 1; done'
  symphony deploy -f job.yaml --wait --timeout 60   # until every replica runs
  symphony deploy --upload ./app -- python3 main.py  # pack ./app, upload it, run it
  symphony deploy -f job.yaml --update              # the edited file: a new version, rolled
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="create a deployment from a spec file or a command",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-f",
        "--file",
        action="append",
        metavar="FILE",
        help="spec file, YAML or JSON ('-': stdin); repeat it to create several at once",
    )
    parser.add_argument("--name", help="the deployment's name (overrides the file's)")
    parser.add_argument(
        "--replicas", type=non_negative, metavar="N", help="how many instances (overrides)"
    )
    parser.add_argument(
        "--upload",
        metavar="DIR",
        help="pack DIR, upload it to the Conductor and run the job in it (config.image)",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="change the deployment of that name in place to match the file (a new "
        "version, rolled out); create it if there is none",
    )
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, help="after '--': the command to run (no -f then)"
    )
    add_wait_flags(parser, "every replica runs")
    add_conductor_flag(parser)
    parser.set_defaults(handler=run, parser=parser)


def non_negative(text: str) -> int:
    """An argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def build_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The spec to send: the file or the inline command, with the flags laid over it."""
    _refuse_spec_file_as_command(args)
    command = list(args.command or [])
    if command and command[0] == "--":
        command = command[1:]
    if args.file and command:
        args.parser.error("give either -f FILE or a command after '--', not both")
    if not args.file and not command:
        args.parser.error("give -f FILE (a spec) or a command after '--'")
    spec = read_spec_file(args.file[0]) if args.file else {"config": {"command": command}}
    return _overridden(spec, args)


SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def _refuse_spec_file_as_command(args: argparse.Namespace) -> None:
    """``symphony deploy job.yaml`` (no ``-f``) would run ``job.yaml`` as a program, and
    every instance would fail to start: refuse it, naming the command meant. A command
    after ``--`` is taken as it is."""
    words = list(args.command or [])
    if not words or not words[0].lower().endswith(SPEC_SUFFIXES):
        return  # no command, one after '--', or a program's name
    if not all(w.lower().endswith(SPEC_SUFFIXES) for w in words):
        words = words[:1]
    files = " ".join(f"-f {shlex.quote(w)}" for w in [*(args.file or []), *words])
    args.parser.error(
        f"{words[0]} is a spec file: give it with -f (symphony deploy {files}); "
        f"a command to run goes after '--'"
    )


def _overridden(spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    if args.name is not None:
        spec["name"] = args.name
    if args.replicas is not None:
        spec["replicas"] = args.replicas
    return spec


def run(args: argparse.Namespace) -> int:
    if args.file and len(args.file) > 1:
        return _run_many(args)
    spec = build_spec(args)
    api = client(args)
    if args.upload is not None:
        from ._pack import pack_directory

        archive = pack_directory(args.upload)
        uploaded = call(api, api.upload, archive)
        print(f"uploaded {args.upload} ({uploaded.get('size')} bytes)", flush=True)
        config = spec.setdefault("config", {})
        if isinstance(config, dict):
            config["image"], config["sha256"] = uploaded.get("image"), uploaded.get("sha256")
    if args.update and (existing := existing_deployment(api, spec.get("name"))) is not None:
        return update_in_place(api, existing, spec, args)
    nodes = listed_nodes(api)
    created = call(api, _create, api, spec, args)
    replicas = created.get("replicas", {}).get("desired", "?")
    print(
        f"deployment {created.get('name')} created ({created.get('id')}, replicas {replicas})",
        flush=True,
    )
    warn_if_never_placeable(nodes, [created])
    if args.wait:
        return wait_after(api, created, timeout=args.timeout)
    return 0


def _create(api: Any, spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Create one deployment; a name taken already says what to do instead (deploying
    an edited file again is the usual way to get here)."""
    from symphony.client import ApiError

    try:
        created: dict[str, Any] = api.create_deployment(spec)
    except ApiError as exc:
        name = spec.get("name")
        if exc.status != 409 or exc.error != "name conflict" or not isinstance(name, str):
            raise
        quoted = shlex.quote(name)
        again = " ".join(f"-f {shlex.quote(f)}" for f in args.file or [])
        change = f"symphony deploy {again} --update" if again else "the web UI"
        raise CLIError(
            f"name conflict: a deployment named {name!r} exists already: give this one "
            f"another name (--name NAME), or remove that one first (symphony rm {quoted}); "
            f"to change it in place (a new version, rolled out): {change}"
        ) from None
    return created


def _run_many(args: argparse.Namespace) -> int:
    """Several spec files: one batch, all created or none."""
    _refuse_spec_file_as_command(args)
    if args.command and args.command != ["--"]:
        args.parser.error("give either -f FILE or a command after '--', not both")
    if args.name is not None or args.upload is not None:
        args.parser.error("--name and --upload go with one spec file, not several")
    if args.update:
        args.parser.error("--update goes with one spec file: run it once per file")
    if args.file.count("-") > 1:
        args.parser.error("standard input ('-') can be read once")
    specs = [_overridden(read_spec_file(path), args) for path in args.file]
    api = client(args)
    nodes = listed_nodes(api)
    created = call(api, _batch, api, specs, args.file)
    for one in created:
        print(f"deployment {one.get('name')} created ({one.get('id')})", flush=True)
    warn_if_never_placeable(nodes, created)
    if args.wait:
        return max(wait_after(api, one, timeout=args.timeout) for one in created)
    return 0


def _batch(api: Any, specs: list[dict[str, Any]], paths: list[str]) -> list[dict[str, Any]]:
    """Create ``specs`` as one batch; a refusal that names items says which files."""
    from symphony.client import ApiError

    try:
        created: list[dict[str, Any]] = api.create_deployments(specs)
    except ApiError as exc:
        if isinstance(exc.detail, list) and all(
            isinstance(d, dict) and "index" in d for d in exc.detail
        ):
            raise CLIError(_refusal_text(exc, paths)) from None
        raise
    return created


def _refusal_text(exc: Any, paths: list[str]) -> str:
    lines = [f"nothing created: {exc.error}"]
    for problem in exc.detail:
        index = problem.get("index")
        where = paths[index] if isinstance(index, int) and 0 <= index < len(paths) else "?"
        detail = problem.get("detail")
        if isinstance(detail, list):
            text = "; ".join(f"{d.get('path') or '(spec)'}: {d.get('message')}" for d in detail)
        else:
            text = str(detail)
        lines.append(f"  {where}: {problem.get('error')}: {text}")
    return "\n".join(lines)
