"""The second seed's experiment commands, with its names and short forms.

    symphony launch rl.yaml [--dry-run] [--force]     # or a .py that declares one
    symphony ls                                       # list-experiments
    symphony se rl                                    # switch-experiment: p/logs default
    symphony d rl [-f]                                # delete (asks unless -f)
    symphony db '^sarah-' 'test$' [-f]                # delete-batch: every match

``symphony p``/``process``, ``symphony vi``/``visit`` are in :mod:`.process`, and
``symphony logs PROCESS [EXP]`` in :mod:`.logs`. Each talks to the cluster of
:func:`._experiment_lookup.cluster_of`: the Conductor found as for every other command,
or the one a :class:`symphony.commandline.SymphonyParser` subclass creates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import CLIError
from ._experiment_lookup import cluster_of, experiment_names, resolve
from ._intermixed import intermixed
from ._remote import add_conductor_flag, call

if TYPE_CHECKING:
    from symphony.engine import Cluster, ExperimentSpec


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    launch = subparsers.add_parser(
        "launch",
        help="launch an experiment from a YAML file or a Python file",
        description="Launch an experiment: FILE.yaml (or .yml, .json) holds its spec; "
        "FILE.py defines declare(cluster) returning an ExperimentSpec, or one at top level.",
    )
    launch.add_argument("file", metavar="FILE", help="FILE.yaml, FILE.json or FILE.py")
    launch.add_argument("--dry-run", action="store_true", help="check it and print it; run nothing")
    launch.add_argument("--force", action="store_true", help="replace an experiment of that name")
    _common(launch, run_launch)

    listing = subparsers.add_parser(
        "list-experiments", aliases=["ls"], help="list experiments", description="List experiments."
    )
    listing.add_argument("--json", action="store_true", help="print the API's JSON instead")
    _common(listing, run_list)

    delete = subparsers.add_parser(
        "delete",
        aliases=["d"],
        help="delete an experiment (asks first)",
        description="Delete an experiment: stop its processes, then remove it. A unique "
        "prefix of its name is enough.",
    )
    delete.add_argument("experiment", metavar="EXP", help="experiment name (or a unique prefix)")
    delete.add_argument("-f", "--force", action="store_true", help="do not ask")
    _common(delete, run_delete)

    batch = subparsers.add_parser(
        "delete-batch",
        aliases=["db"],
        help="delete every experiment a regular expression finds (asks first)",
        description="Delete every experiment whose name any REGEX finds (re.search).",
    )
    batch.add_argument("patterns", metavar="REGEX", nargs="+", help="regular expressions")
    batch.add_argument("-f", "--force", action="store_true", help="do not ask")
    _common(batch, run_delete_batch)

    switch = subparsers.add_parser(
        "switch-experiment",
        aliases=["se"],
        help="make an experiment the default of p and logs",
        description="Make EXP the current experiment (the default of `symphony p` and "
        "`symphony logs`); with no EXP, print the current one.",
    )
    switch.add_argument("experiment", metavar="EXP", nargs="?", help="name or unique prefix")
    intermixed(switch)  # options between the positionals
    _common(switch, run_switch)


def _common(parser: argparse.ArgumentParser, handler: Any) -> None:
    add_conductor_flag(parser)
    parser.set_defaults(handler=handler)


def load_experiment(path: Path, cluster: Cluster) -> ExperimentSpec:
    """The experiment a file declares: a spec (YAML or JSON), or a Python file with
    ``declare(cluster)`` (or ``experiment(cluster)``) or one top-level ExperimentSpec."""
    from symphony.engine import ExperimentSpec

    if not path.is_file():
        raise CLIError(f"no such file: {path}")
    if path.suffix != ".py":
        try:
            return ExperimentSpec.load_yaml(path)
        except (ValueError, TypeError, AttributeError) as exc:
            said = str(exc)  # the file's own problems name it already
            raise CLIError(said if said.startswith(f"{path}: ") else f"{path}: {said}") from None
    import runpy

    sys.path.insert(0, str(path.resolve().parent))  # its own helper modules import
    try:
        namespace = runpy.run_path(str(path), run_name="__symphony_launch__")
    finally:
        sys.path.pop(0)
    for name in ("declare", "experiment"):
        if callable(namespace.get(name)):
            declared = namespace[name](cluster)
            if isinstance(declared, ExperimentSpec):
                return declared
            raise CLIError(
                f"{path}: {name}(cluster) returned {type(declared).__name__}, not an ExperimentSpec"
            )
    found = [v for v in namespace.values() if isinstance(v, ExperimentSpec)]
    if len(found) == 1:
        return found[0]
    raise CLIError(
        f"{path} declares {len(found) or 'no'} experiments at top level; define "
        "declare(cluster) returning the ExperimentSpec to launch"
    )


def launched_text(created: dict[str, Any]) -> str:
    """What ``launch`` says of the experiment the Conductor created (pure, for tests).

    >>> launched_text({"name": "one", "processes": [{"name": "main"}]})
    'experiment one launched: 1 process (main); watch it with `symphony p`'
    """
    names = [str(p.get("name")) for p in created.get("processes") or []]
    count = "1 process" if len(names) == 1 else f"{len(names)} processes"
    return (
        f"experiment {created.get('name')} launched: {count} ({', '.join(names)}); "
        "watch it with `symphony p`"
    )


def run_launch(args: argparse.Namespace) -> int:
    cluster = cluster_of(args)
    exp = load_experiment(Path(args.file), cluster)
    if args.dry_run:
        cluster.launch(exp, dry_run=True)
        print(exp.dump_yaml(), end="")
        print(f"# dry run: experiment {exp.name} is valid; nothing was launched")
        return 0
    from ._placeable import listed_nodes, warn_if_experiment_never_placeable

    nodes = listed_nodes(cluster.client)
    created = call(cluster.client, cluster.launch, exp, force=args.force)
    print(launched_text(created), flush=True)
    warn_if_experiment_never_placeable(nodes, exp.dump_dict())
    return 0


def run_list(args: argparse.Namespace) -> int:
    from . import _table as t

    cluster = cluster_of(args)
    if args.json:
        import json

        t.emit(json.dumps(call(cluster.client, cluster.client.list_experiments), indent=2))
        return 0
    names = experiment_names(cluster)
    if names:
        t.emit("\n".join(names))
    return 0


def _delete(cluster: Cluster, names: list[str], *, force: bool) -> int:
    from ._ask import confirm

    if not force and not confirm(f"delete experiment{'s' * (len(names) > 1)} {', '.join(names)}?"):
        print("nothing deleted")
        return 1
    for name in names:
        call(cluster.client, cluster.delete, name)
        print(f"experiment {name} deleted")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    cluster = cluster_of(args)
    return _delete(cluster, [resolve(cluster, args.experiment)], force=args.force)


def run_delete_batch(args: argparse.Namespace) -> int:
    from .control import matching

    cluster = cluster_of(args)
    names = matching(args.patterns, experiment_names(cluster))
    if not names:
        raise CLIError(f"no experiment matches {' or '.join(map(repr, args.patterns))}")
    return _delete(cluster, names, force=args.force)


def run_switch(args: argparse.Namespace) -> int:
    cluster = cluster_of(args)
    if args.experiment is None:
        current = cluster.current_experiment()
        print(current or "no current experiment (choose one with `symphony se EXP`)")
        return 0
    name = resolve(cluster, args.experiment)
    cluster.switch_experiment(name)
    print(f"current experiment: {name}")
    return 0
