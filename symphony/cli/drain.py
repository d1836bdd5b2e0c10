"""``symphony drain NODE`` and ``symphony undrain NODE``: take a node out of placement.

    $ symphony drain gpu-box-1
    node gpu-box-1 draining: it takes no new work, and its 3 instances move elsewhere
    (each replacement starts before the old copy stops; `symphony ps` shows the moves)
    $ symphony undrain gpu-box-1
    node gpu-box-1 undrained: it takes new work again

Draining keeps the node connected and its jobs running until their replacements run
(each on a ready node in its deployment's group: the line says how many have none; an
experiment's processes there as the Scheduler places them, with their process groups);
a replica with nowhere to go stays, and its pending replacement says why. The mark
survives a Conductor restart. To stop the node itself afterwards: ``symphony node stop``
on its machine.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ._errors import CLIError
from ._remote import add_conductor_flag, call, client

if TYPE_CHECKING:
    from symphony.client import Client

LIVE = frozenset({"pending", "assigned", "starting", "running", "stopping"})


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``drain`` and ``undrain``."""
    for name, handler, text in (
        ("drain", drain, "stop placing work on a node and move its replicas elsewhere"),
        ("undrain", undrain, "let a drained node take new work again"),
    ):
        parser = subparsers.add_parser(name, help=text, description=text)
        parser.add_argument("node", metavar="NODE", help="node id (as `symphony nodes` lists)")
        add_conductor_flag(parser)
        parser.set_defaults(handler=handler)


def drain(args: argparse.Namespace) -> int:
    return drain_and_say(client(args), args.node)


def drain_and_say(api: Client, node_id: str) -> int:
    """Drain ``node_id`` and print what becomes of what runs there."""
    # What runs there is listed before the drain: once drained, a replacement may run
    # elsewhere and its old copy stop before a listing after it (a busy machine, a slow
    # link), and the line would count fewer instances than moved, or none.
    # A failed listing (a timeout, a standby's 503) does not stop the drain: it is sent
    # anyway, and the command says what it could not tell (as kubectl drain, exit 0).
    try:
        deployments = call(api, api.list_deployments)
    except CLIError as error:
        node = call(api, api.drain_node, node_id)
        print(f"node {node.get('node_id', node_id)} draining: it takes no new work")
        print(f"drained; could not list what runs there: {error}", file=sys.stderr)
        return 0
    node = call(api, api.drain_node, node_id)
    moving = on_node(deployments, node_id)
    name = node.get("node_id", node_id)
    if not moving:
        print(f"node {name} draining: it takes no new work (nothing of it runs there now)")
        return 0
    try:
        nodes = call(api, api.nodes)
    except CLIError as error:
        print(f"node {name} draining: it takes no new work; {_plural(moving)} ran there")
        print(f"drained; could not list the nodes: {error}", file=sys.stderr)
        return 0
    # "move elsewhere" must not promise what cannot happen: a replacement waits unless a
    # node in its deployment's group could take it.
    stuck, reason = staying(deployments, nodes, name)
    if stuck == moving:
        why = reason if others_take_work(nodes, name) else "no other node takes work"
        one = moving == 1
        print(
            f"node {name} draining: it takes no new work, but its {_plural(moving)} "
            f"{'keeps' if one else 'keep'} running there: {why}"
        )
        print(
            f"({'it moves' if one else 'they move'} when one does; "
            f"`symphony undrain {name}` cancels the drain)"
        )
        return 0
    if stuck:
        moves = moving - stuck
        print(
            f"node {name} draining: it takes no new work; {moves} of its {_plural(moving)} "
            f"{'moves' if moves == 1 else 'move'} elsewhere, {stuck} "
            f"{'keeps' if stuck == 1 else 'keep'} running there: {reason}"
        )
        print("(each replacement starts before the old copy stops; `symphony ps` shows the moves)")
        return 0
    verb = "moves" if moving == 1 else "move"
    print(f"node {name} draining: it takes no new work, and its {_plural(moving)} {verb} elsewhere")
    print("(each replacement starts before the old copy stops; `symphony ps` shows the moves)")
    return 0


def staying(
    deployments: list[dict[str, Any]], nodes: list[dict[str, Any]], node_id: str
) -> tuple[int, str]:
    """How many live instances on ``node_id`` no other node could take (none ready in
    their deployment's group, or none with what they ask), and the first one's reason
    (pure, for tests). ``nodes`` as listed after the drain: ``node_id`` is draining."""
    from ._placeable import never_placeable_text, processes_never_placeable_text

    others = [n for n in nodes if n.get("node_id") != node_id] + [
        {**n, "draining": True} for n in nodes if n.get("node_id") == node_id
    ]
    stuck, first = 0, ""
    processes: dict[str, list[dict[str, Any]]] = {}  # of each experiment, on the node
    for d in deployments:
        here = on_node([d], node_id)
        if not here:
            continue
        role = (d.get("spec") or {}).get("experiment")
        if isinstance(role, dict):  # placed with the rest of its gang, judged so below
            processes.setdefault(str(role.get("name")), []).append(d)
            continue
        reason = never_placeable_text(d, others)
        if reason is not None:
            stuck += here
            first = first or reason
    for gang in processes.values():
        # Those of an experiment on the node move together (each process group on one
        # node), or not at all.
        reason = processes_never_placeable_text(gang, others)
        if reason is not None:
            stuck += on_node(gang, node_id)
            first = first or reason
    return stuck, first


def others_take_work(nodes: list[dict[str, Any]], node_id: str) -> bool:
    """Whether a node other than ``node_id`` is ready and not draining (pure, for tests)."""
    return any(
        n.get("node_id") != node_id and n.get("state") == "ready" and not n.get("draining")
        for n in nodes
    )


def undrain(args: argparse.Namespace) -> int:
    api = client(args)
    node = call(api, api.undrain_node, args.node)
    print(f"node {node.get('node_id', args.node)} undrained: it takes new work again")
    return 0


def on_node(deployments: list[dict[str, Any]], node_id: str) -> int:
    """How many live instances run on ``node_id`` (pure, for tests)."""
    return sum(
        1
        for d in deployments
        for i in d.get("instances") or []
        if i.get("node_id") == node_id and i.get("state") in LIVE and i.get("state") != "stopping"
    )


def _plural(n: int) -> str:
    return "1 instance" if n == 1 else f"{n} instances"
