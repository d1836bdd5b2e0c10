"""``symphony ps`` and ``symphony nodes``: what runs where, as tables.

    $ symphony ps
    NAME     INSTANCE          NODE     STATE        RESTARTS   EXIT      AGE   REASON
    ticker   ticker-0-3f9a1c   laptop   running      2          SIGKILL   5m    -
    flaky    flaky-0-77d0e2    laptop   restarting   4          1         2s    restarting in 3.8s
    big      big-0-0a9e3c      -        pending      0          -         12m   no node has gpu: 8
    web      -                 -        stopped      -          -         -     -

One row per live instance (``-a`` adds the instances that have ended: exited, failed,
stopped, replaced); a deployment with no live instance still gets a row, so a stopped
or failed deployment does not vanish from the list. ``EXIT`` is how the instance's last
run ended (a code, or a signal's name), ``AGE`` how long its current state has lasted,
``REASON`` why it is in that state (pending, waiting to restart, failed). ``GPUS`` lists
the GPU devices each instance holds (as its ``CUDA_VISIBLE_DEVICES``); it is shown when
an instance holds any, and with ``-w``. On a terminal the lines are cut to its width
(``-w`` prints them whole and adds ``PID``); into a pipe or a file they are never cut.
``-l team=ml``, ``--state`` and ``--group`` list only the deployments they select (the
Conductor filters; the list comes a page at a time).

``symphony nodes`` shows ``GPUS`` as devices held/devices, and below the nodes one row
per GPU device with the instance holding it::

    NODE     DEVICE         NAME          INSTANCE
    gpu-7    GPU-8f1c2a9e   NVIDIA A100   train-0-3fa9c1
    gpu-7    GPU-2b7e90d1   NVIDIA A100   -
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from . import _table as t
from ._errors import CLIError
from ._intermixed import intermixed
from ._remote import add_conductor_flag, call, client

if TYPE_CHECKING:
    from symphony.client import DeploymentRows

PS_HEADERS = ("NAME", "INSTANCE", "NODE", "STATE", "RESTARTS", "EXIT", "AGE", "REASON")
#: ``-w`` adds these before ``REASON`` (which stays last: it is the column a cut shortens).
WIDE_HEADERS = ("PID",)
#: Before ``REASON`` too, when an instance holds GPU devices (or with ``-w``).
GPU_HEADERS = ("GPUS",)
NODE_HEADERS = ("NODE", "STATE", "GROUPS", "CAPACITY (USED/TOTAL)", "CPU", "MEMORY", "GPUS", "SEEN")
DEVICE_HEADERS = ("NODE", "DEVICE", "NAME", "INSTANCE")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ps = subparsers.add_parser(
        "ps",
        help="list deployments and their instances",
        description="List deployments and their instances (live ones; -a for all).",
    )
    ps.add_argument(
        "names",
        metavar="NAME",
        nargs="*",
        help="only these deployments (name or id); one that does not exist is an error",
    )
    ps.add_argument("-a", "--all", action="store_true", help="include instances that have ended")
    ps.add_argument("-w", "--wide", action="store_true", help="add the PID column; never cut lines")
    ps.add_argument("--json", action="store_true", help="print the API's JSON instead")
    ps.add_argument(
        "-l",
        "--label",
        metavar="KEY[=VALUE]",
        action="append",
        type=_label_selector,
        help="only deployments with this label (any value without =VALUE; repeatable)",
    )
    ps.add_argument("--state", metavar="STATE", help="only deployments in this state")
    ps.add_argument("--group", metavar="G", help="only deployments of this node group")
    add_conductor_flag(ps)
    intermixed(ps)  # options between the positionals
    ps.set_defaults(handler=run_ps)

    nodes = subparsers.add_parser(
        "nodes", help="list nodes", description="List nodes: state, groups, capacity, usage."
    )
    nodes.add_argument("--json", action="store_true", help="print the API's JSON instead")
    add_conductor_flag(nodes)
    nodes.set_defaults(handler=run_nodes)


def ps_rows(
    listing: DeploymentRows | list[dict[str, Any]],
    *,
    show_all: bool,
    wide: bool,
    now: float,
    gpus: bool = False,
) -> list[list[Any]]:
    """The rows of ``symphony ps`` (pure, for tests): of the Conductor's rows, or of
    deployments as objects; ``gpus`` adds the devices column. A field a Conductor does
    not send reads as missing."""
    table = _as_rows(listing)
    dep, inst = _Fields(table.index), _Fields(table.instance_index)
    name, finished, updated = dep("name"), inst("finished_at"), inst("updated_at")
    cells = (inst("id"), inst("node_id"))
    state, health, restarts = inst("state"), inst("health"), inst("restarts")
    code, signal, started, pid = inst("exit_code"), inst("signal"), inst("started_at"), inst("pid")
    devices, restart_at, why = inst("devices"), inst("restart_at"), inst("reason")
    dep_state, pending, failure = dep("state"), dep("pending_reason"), dep("failure")
    ages = t.Ages(now)
    rows: list[list[Any]] = []
    for row in sorted(table.rows, key=lambda row: name(row) or ""):
        shown = [i for i in row[-1] if show_all or finished(i) is None]
        for i in shown:
            run_state, since = state(i), updated(i)
            if not finished(i) and run_state == "running" and _number(started(i)):
                since = started(i)  # how long it has run, not how long since a report
            elif _number(finished(i)):
                since = finished(i)  # since it ended (its record may be touched later)
            line = [
                name(row),
                *(cell(i) for cell in cells),
                _state(run_state, health(i)),
                restarts(i),
                t.exit_text(code(i), signal(i)),
                ages.since(since if _number(since) else None),
            ]
            if wide:
                line.append(pid(i))
            if gpus:
                line.append(",".join(_strings(devices(i))) or None)
            line.append(_reason(run_state, restart_at(i), why(i), now))
            rows.append(line)
        if not shown:
            line = [name(row), None, None, dep_state(row), None, None, None]
            line += [None] * (wide + gpus)
            line.append(pending(row) or failure(row) or _last_end(row, dep_state, why, finished))
            rows.append(line)
    return rows


def _last_end(row: Any, dep_state: Any, why: Any, finished: Any) -> str | None:
    """Why the last instance of a pending deployment with none live ended: between a
    failure and its rescheduled replacement the row would say nothing at all."""
    if dep_state(row) != "pending":
        return None
    ended = [i for i in row[-1] if _number(finished(i)) and why(i)]
    if not ended:
        return None
    return f"the last instance ended: {why(max(ended, key=finished))}"


def _as_rows(listing: DeploymentRows | list[dict[str, Any]]) -> DeploymentRows:
    from symphony.client import DeploymentRows  # here: `symphony --help` does not pay for it

    return listing if isinstance(listing, DeploymentRows) else DeploymentRows.of_summaries(listing)


def _number(value: Any) -> bool:
    return isinstance(value, int | float)


class _Fields:
    """``fields("name")(row)``: the named value of a row, or None where the Conductor
    sent no such column."""

    def __init__(self, index: Callable[[str], int | None]) -> None:
        self._index = index

    def __call__(self, column: str) -> Callable[[list[Any]], Any]:
        at = self._index(column)
        return _missing if at is None else itemgetter(at)


def _missing(row: list[Any]) -> None:
    return None


def _strings(devices: Any) -> list[str]:
    return [d for d in devices if isinstance(d, str)] if isinstance(devices, list) else []


def devices_of(inst: dict[str, Any]) -> list[str]:
    """The GPU devices an instance holds, as the API lists them (``[]``: none)."""
    return _strings(inst.get("devices"))


def holds_devices(listing: DeploymentRows | list[dict[str, Any]]) -> bool:
    """Whether any live instance holds a GPU device (then ``ps`` shows ``GPUS``)."""
    table = _as_rows(listing)
    inst = _Fields(table.instance_index)
    devices, finished = inst("devices"), inst("finished_at")
    return any(
        devices(i) and finished(i) is None and _strings(devices(i))
        for row in table.rows
        for i in row[-1]
    )


def reason(inst: dict[str, Any], now: float) -> str | None:
    """Why an instance is in its state; ``restarting in 3.8s`` counts down from the
    restart time the Conductor reports, when it reports one."""
    return _reason(inst.get("state"), inst.get("restart_at"), inst.get("reason"), now)


def _reason(state: Any, restart_at: Any, why: Any, now: float) -> str | None:
    # restart_at: when the node starts the next run (Unix seconds), while restarting.
    if state == "restarting" and isinstance(restart_at, int | float):
        # Why, too, when the node said (a spawn error); not an exit: EXIT shows that.
        said = isinstance(why, str) and why and not why.startswith(("exited", "killed by"))
        because = f": {why}" if said else ""
        return f"restarting in {t.duration(restart_at - now)}{because}"
    return why if isinstance(why, str) else None


def _state(state: Any, health: Any) -> str:
    state = state or "?"
    # Health matters only while running; "running (unhealthy)" is what to look at first.
    if state == "running" and health not in (None, "healthy", "unknown"):
        return f"{state} ({health})"
    return str(state)


def _label_selector(text: str) -> tuple[str, str | None]:
    from symphony.spec import check_label_key, check_label_value

    key, sep, value = text.partition("=")
    try:
        check_label_key(key)
        if sep:
            check_label_value(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return key, value if sep else None


def run_ps(args: argparse.Namespace) -> int:
    with t.no_cyclic_gc():
        return _ps(args)


def _ps(args: argparse.Namespace) -> int:
    api = client(args)
    filters = {
        "state": args.state,
        "node_group": args.group,
        "labels": dict(args.label) if args.label else None,
        "name": _prefix(args.names),
    }
    wanted: set[str] = set(args.names)
    seen: set[Any] = set()
    if args.json:
        found = call(api, api.list_deployments, **filters)
        if wanted:
            found = [d for d in found if d.get("name") in wanted or d.get("id") in wanted]
            seen = {d.get("name") for d in found} | {d.get("id") for d in found}
        t.emit(json.dumps(found, indent=2))
        return _absent(api, args, wanted - seen)
    # The table needs the summaries only, and as rows they decode in well under half
    # the time of objects: most of `ps` on 10,000 deployments was decoding keys.
    listing = call(api, api.deployment_rows, **filters)
    if wanted:
        keys = [i for i in (listing.index("name"), listing.index("id")) if i is not None]
        listing.rows = [row for row in listing.rows if any(row[i] in wanted for i in keys)]
        seen = {row[i] for row in listing.rows for i in keys}
    _show(args, listing)
    return _absent(api, args, wanted - seen)


def _prefix(names: list[str]) -> str | None:
    """The Conductor's name-prefix filter for one name it takes (letters, digits, '-'):
    the listing is then that deployment (and any named after it), not all of them."""
    if len(names) == 1 and re.fullmatch(r"[a-z0-9-]{1,63}", names[0]):
        return names[0]
    return None


def _absent(api: Any, args: argparse.Namespace, absent: set[str]) -> int:
    """Exit 1 naming each of ``absent`` that does not exist (0 when none); one that
    exists but the filters left out is not missing."""
    filtered = args.state is not None or args.group is not None or bool(args.label)
    gone = [name for name in sorted(absent) if not (filtered and _exists(api, name))]
    if gone:
        raise CLIError("; ".join(f"no deployment named {name}" for name in gone))
    return 0


def _exists(api: Any, name: str) -> bool:
    from symphony.client import ApiError

    def look() -> bool:
        try:
            api.get_deployment(name)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise  # the others become one line in call()
        return True

    return call(api, look)


def _show(args: argparse.Namespace, listing: DeploymentRows) -> None:
    gpus = args.wide or holds_devices(listing)
    extra = (WIDE_HEADERS if args.wide else ()) + (GPU_HEADERS if gpus else ())
    headers = PS_HEADERS[:-1] + extra + PS_HEADERS[-1:]
    rows = ps_rows(listing, show_all=args.all, wide=args.wide, now=time.time(), gpus=gpus)
    text = t.table(headers, rows)
    t.emit(text if args.wide else t.fit(text, t.terminal_width()))


def node_rows(nodes: list[dict[str, Any]], *, now: float) -> list[list[Any]]:
    """The rows of ``symphony nodes`` (pure, for tests)."""
    rows = []
    for node in sorted(nodes, key=lambda n: n.get("node_id") or ""):
        usage = node.get("usage") or {}
        resources = node.get("resources") or {}
        cpu = usage.get("cpu_percent")
        ram_total = usage.get("ram_total") or resources.get("ram_total")
        memory = (
            f"{t.size(usage.get('ram_used'))}/{t.size(ram_total)}"
            if usage.get("ram_used") is not None
            else t.size(ram_total)
        )
        rows.append(
            [
                node.get("node_id"),
                node_state(node),
                ",".join(node.get("groups") or []),
                t.capacities(node.get("capacities_total") or {}, node.get("capacities_used") or {}),
                None if cpu is None else f"{cpu:.0f}%",
                memory,
                _gpus_cell(node, resources),
                t.age(node.get("last_heartbeat"), now) + " ago"
                if node.get("last_heartbeat")
                else None,
            ]
        )
    return rows


def _gpus_cell(node: dict[str, Any], resources: dict[str, Any]) -> int | str:
    """``1/2`` (devices held / devices) for a node that hands out devices, else how
    many GPUs it reports."""
    devices = node.get("gpu_devices") or []
    if devices:
        held = sum(1 for d in devices if d.get("instance_id"))
        return f"{held}/{len(devices)}"
    return len(resources.get("gpus") or [])


def device_rows(nodes: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per GPU device of every node, with the instance holding it (pure)."""
    rows = []
    for node in sorted(nodes, key=lambda n: n.get("node_id") or ""):
        for device in node.get("gpu_devices") or []:
            rows.append(
                [
                    node.get("node_id"),
                    device.get("id"),
                    device.get("name"),
                    device.get("instance_id"),
                ]
            )
    return rows


def node_state(node: dict[str, Any]) -> str | None:
    """The STATE cell: ``draining`` for a ready node being drained (``lost,draining`` and
    so on otherwise: the mark holds whatever the link does), else the link's state."""
    state = node.get("state")
    if not node.get("draining"):
        return state
    return "draining" if state == "ready" else f"{state},draining"


def run_nodes(args: argparse.Namespace) -> int:
    api = client(args)
    nodes = call(api, api.nodes)
    if args.json:
        t.emit(json.dumps(nodes, indent=2))
        return 0
    t.emit(t.table(NODE_HEADERS, node_rows(nodes, now=time.time())))
    devices = device_rows(nodes)
    if devices:
        t.emit("")
        t.emit(t.table(DEVICE_HEADERS, devices))
    return 0
