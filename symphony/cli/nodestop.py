"""``symphony node stop``: stop a node's agent, jobs and monitor, and wait until all are gone.

Ctrl-C on ``symphony node`` stops the agent only: its jobs keep running under the node
monitor, so that the next agent re-adopts them. This command stops the node for good,
like ``systemctl stop``: the agent too if it still runs (SIGTERM), then every job with
its own stop signal and stop timeout, then the monitor::

    $ symphony node stop --config node.yaml
    stopping the node agent (pid 4242)
    stopped the node agent (pid 4242)
    stopping 2 instances
    stopped web-0 (pid 4260): SIGTERM within the stop timeout
    stopped web-1 (pid 4262): SIGKILL after the 2 s stop timeout
    stopped the node monitor (pid 4250)
    node stopped: nothing runs in /srv/symphony/node any more

Exit status 0 once everything is gone; 1 with one line when nothing of a node ran
there, or when the node cannot be stopped (its agent runs inside ``symphony up``: stop
that with Ctrl-C).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._errors import CLIError

#: Where ``symphony node`` keeps its state when neither flag nor file says otherwise.
DEFAULT_STATE_DIR = Path("storage/node")
HELP = """\
Stop a node for good, and wait until all of it is gone: its agent (SIGTERM) if it
still runs, then every job with its own stop signal and stop timeout, then the node
monitor. (Ctrl-C on `symphony node` stops the agent only: its jobs keep running, for
the next agent to re-adopt.)

  symphony node stop --config node.yaml
  symphony node stop --state-dir storage/node
"""


def add_to(node: argparse.ArgumentParser) -> None:
    """Give ``symphony node`` its ``stop`` sub-command (running stays the default)."""
    commands = node.add_subparsers(title="node commands", metavar="[stop]", required=False)
    stop = commands.add_parser(
        "stop",
        help="stop this node's agent, jobs and monitor",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = stop.add_mutually_exclusive_group()
    where.add_argument(
        "--config",
        dest="stop_config",
        metavar="FILE",
        help="the node's configuration file (its node.state_dir is stopped)",
    )
    where.add_argument(
        "--state-dir",
        dest="stop_state_dir",
        metavar="DIR",
        help="the node's state directory (default: storage/node, as for `symphony node`)",
    )
    stop.set_defaults(handler=run_node_stop)


def state_dir_of(args: argparse.Namespace) -> Path:
    """The state directory ``symphony node stop ARGS`` is about."""
    if args.stop_state_dir is not None:
        return Path(args.stop_state_dir)
    path = args.stop_config or getattr(args, "config", None) or getattr(args, "root_config", None)
    if path is None:
        return DEFAULT_STATE_DIR
    from symphony.config import load_config

    config = load_config(path, mode="node")
    if config.node is None:
        raise CLIError(f"{path} has no node section")
    return Path(config.node.state_dir)


def run_node_stop(args: argparse.Namespace) -> int:
    import trio

    from symphony.node.stop import NodeStopError, stop_node

    state_dir = state_dir_of(args)
    try:
        stopped = trio.run(lambda: stop_node(state_dir, say=lambda line: print(line, flush=True)))
    except NodeStopError as error:
        up_node = Path(".symphony", "node")
        if state_dir == DEFAULT_STATE_DIR and not state_dir.exists() and up_node.is_dir():
            # The default is the seed's; a newcomer's node is `symphony up`'s.
            raise CLIError(
                f"{error}; `symphony up` keeps its node in {up_node}: "
                f"symphony node stop --state-dir {up_node}"
            ) from None
        raise CLIError(str(error)) from None
    if stopped.leftovers_killed:
        print(f"killed {stopped.leftovers_killed} leftover job process(es)")
    print(f"node stopped: nothing runs in {stopped.state_dir} any more")
    return 0
