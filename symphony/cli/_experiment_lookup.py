"""Which experiment a command means, and which cluster it asks.

A name is an experiment's exact name or a prefix that only one experiment has
(``symphony d sarah-r`` for ``sarah-rl``). With no name, ``symphony p`` and ``symphony
logs`` use the current experiment (``symphony se EXP``, or the last one launched), or the
only experiment there is.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ._errors import CLIError
from ._remote import call

if TYPE_CHECKING:
    from symphony.engine import Cluster


def cluster_of(args: argparse.Namespace) -> Cluster:
    """The cluster a command talks to: the Conductor ``--conductor`` names, else the
    one a :class:`SymphonyParser` made (its ``create_cluster``), else the default one."""
    factory = getattr(args, "cluster_factory", None)
    if factory is not None and not getattr(args, "conductor", None):
        cluster: Cluster = factory()
        return cluster
    from symphony.engine import Cluster

    return Cluster.new("symphony", url=getattr(args, "conductor", None))


def add_experiment_flag(parser: argparse.ArgumentParser) -> None:
    """``-e EXP``/``--experiment EXP``: the experiment, for commands that also take it as
    a positional ``EXP`` (each form in every command: ``vi`` and ``pf`` alike)."""
    parser.add_argument(
        "-e",
        "--experiment",
        dest="experiment_flag",
        metavar="EXP",
        help="the experiment, as the EXP argument (default: the current one)",
    )
    parser.set_defaults(parser=parser)


def given_experiment(args: argparse.Namespace, positional: str | None) -> str | None:
    """The experiment named by the positional ``EXP`` or by ``-e EXP`` (``None``: the
    default one); two different names are a usage error."""
    flag = getattr(args, "experiment_flag", None)
    if positional is not None and flag is not None and positional != flag:
        args.parser.error(f"the experiment is given twice: {positional} and -e {flag}")
    return positional if positional is not None else flag


def experiment_names(cluster: Cluster) -> list[str]:
    return call(cluster.client, cluster.list_experiments)


def resolve(cluster: Cluster, name: str, names: list[str] | None = None) -> str:
    """The experiment ``name`` means: itself, or the only one it is a prefix of."""
    names = experiment_names(cluster) if names is None else names
    if name in names:
        return name
    found = [n for n in names if n.startswith(name)]
    if len(found) == 1:
        return found[0]
    if found:
        raise CLIError(f"{name!r} could be any of {', '.join(sorted(found))}: say which")
    raise CLIError(f"no experiment named {name!r} (or starting so); `symphony ls` lists them")


def default_experiment(cluster: Cluster, names: list[str]) -> str | None:
    """The current experiment if it still exists, else the only one, else None."""
    current = cluster.current_experiment()
    if current in names:
        return str(current)
    return names[0] if len(names) == 1 else None


def current_or_only(cluster: Cluster, name: str | None) -> str:
    """``name`` resolved, else the current experiment, else the only one."""
    names = experiment_names(cluster)
    if name:
        return resolve(cluster, name, names)
    found = default_experiment(cluster, names)
    if found is not None:
        return found
    if not names:
        raise CLIError("no experiment runs; launch one with `symphony launch FILE`")
    raise CLIError(
        f"which experiment? name one, or make one current with `symphony se EXP` "
        f"(there are {', '.join(sorted(names))})"
    )


def experiment(cluster: Cluster, name: str) -> dict[str, Any]:
    return call(cluster.client, cluster.get_experiment, name)


def process_deployment(found: dict[str, Any], name: str) -> str | None:
    """The deployment of process ``name`` (or ``group/name``) of experiment ``found``."""
    group, _, process = name.rpartition("/")
    for proc in found.get("processes") or []:
        if proc.get("name") == process and (not group or proc.get("group") == group):
            return str(proc.get("deployment"))
    return None


def log_target(cluster: Cluster, name: str, experiment_name: str | None) -> str:
    """The deployment whose output ``symphony logs NAME [EXP]`` shows.

    With EXP, NAME is a process of that experiment (``group/process`` where names
    repeat). Without, NAME is looked up as a process of the current experiment (or the
    only one) first, then as a deployment; when both exist the command says so and
    stops rather than guess.
    """
    from symphony.client import ApiError

    if experiment_name:
        chosen = resolve(cluster, experiment_name)
        found = process_deployment(experiment(cluster, chosen), name)
        if found is None:
            raise CLIError(f"experiment {chosen} has no process {name!r}; `symphony p {chosen}`")
        return found
    current = default_experiment(cluster, experiment_names(cluster))
    as_process = process_deployment(experiment(cluster, current), name) if current else None
    if "/" in name:
        if as_process is None:
            raise CLIError(f"no process {name!r} in the current experiment ({current or 'none'})")
        return as_process
    if as_process is None:
        return name
    try:
        cluster.client.get_deployment(name)
    except ApiError as exc:
        if exc.status == 404:
            return as_process
        from ._remote import api_error_text

        raise CLIError(api_error_text(exc)) from None
    raise CLIError(
        f"{name!r} is both a process of experiment {current} and a deployment: say "
        f"`symphony logs {name} {current}` for the process, or `symphony logs --deployment "
        f"{name}` for the deployment"
    )
