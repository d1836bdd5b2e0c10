"""``symphony up``: a Conductor and a local Node in the foreground; Ctrl-C stops both."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from .service_flags import capacity, checked

if TYPE_CHECKING:
    from symphony.up import UpConfig, UpInfo

HELP = """\
Run a Conductor and a local Node in one process, with no configuration: state in
./.symphony, everything on loopback, the web UI on http://127.0.0.1:PORT/ui. The local
node joins group 'local' and offers 'cpu' (100 per core) and 'gpu' (one per GPU that
NVML reports). Ctrl-C stops the jobs, the node and the conductor.

  symphony up
  symphony up --port 8080 --capacity Analytic1=10
"""

EXAMPLE = """\
  symphony deploy --name ticker -- sh -c 'while :; do date; sleep 1; done'
  symphony ps
  symphony logs ticker -f
  symphony deploy -f job.yaml       # a spec file, YAML or JSON (node_group: local)"""

log = logging.getLogger("symphony.cli")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "up",
        help="run a Conductor and a local Node (zero configuration)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--port",
        type=checked("port", int, what="a port number"),
        default=8000,
        help="HTTP API and web UI port on 127.0.0.1 (default 8000; 0 picks a free one)",
    )
    add(
        "--relay-port",
        type=checked("port", int, what="a port number"),
        default=None,
        help="experiments' services (symphony visit) on 127.0.0.1, an origin apart from the "
        "web UI's (default: --port + 1; 0 picks a free one)",
    )
    add(
        "--node-port",
        type=checked("port", int, what="a port number"),
        default=0,
        help="the node endpoint's port on 127.0.0.1 (default: a free one)",
    )
    add("--state-dir", metavar="DIR", default=".symphony", help="default ./.symphony")
    add("--node-id", metavar="ID", type=checked("node_id"), help="default: from the host name")
    add(
        "--capacity",
        metavar="NAME=N",
        action="append",
        type=capacity,
        help="add or override a capacity class of the local node (repeatable)",
    )
    add(
        "--gpu",
        metavar="ID",
        action="append",
        type=checked("gpu_id"),
        help="a GPU device of the local node, e.g. 0 (repeatable; default: what NVML finds)",
    )
    add(
        "--ports",
        metavar="LOW-HIGH",
        type=checked("port_range"),
        help="where the local node allocates experiments' ports (default 20000-29999; "
        "choose a range of your own on a machine shared with others)",
    )
    add(
        "--log-level",
        metavar="LEVEL",
        type=checked("log_level"),
        default="WARNING",
        help="service log level (default WARNING: the banner is enough)",
    )
    parser.set_defaults(handler=run)


def up_config(args: argparse.Namespace) -> UpConfig:
    """The :class:`~symphony.up.UpConfig` of ``symphony up ARGS``."""
    from symphony.up import UpConfig, local_capacities

    capacities = None
    if args.capacity:
        capacities = {**local_capacities(), **dict(args.capacity)}
    return UpConfig(
        state_dir=Path(args.state_dir),
        http_port=args.port,
        node_port=args.node_port,
        node_id=args.node_id,
        capacities=capacities,
        gpus=tuple(args.gpu) if args.gpu else None,
        ports=args.ports,
        relay_port=args.relay_port,
    )


def relay_port_of(config: UpConfig) -> int:
    """The relay port ``symphony up`` binds (see :class:`~symphony.up.UpConfig`)."""
    from symphony.config import ConductorConfig

    return ConductorConfig(
        http_port=config.http_port, relay_port=config.relay_port
    ).relay_listen_port


def banner(info: UpInfo) -> str:
    """What ``symphony up`` prints once it serves: the UI link (with its token) and a start."""
    capacities = ", ".join(f"{k}: {v}" for k, v in info.capacities.items())
    # The origin `symphony visit` links open, apart from the web UI's.
    services = f"  services: {info.relay_url}/x/\n" if info.relay_url else ""
    return (
        f"Symphony is up: conductor and node {info.node_id!r} "
        f"(group local; {capacities}); state in {info.state_dir}\n"
        f"  web UI:  {info.ui_url}\n"
        f"  API:     {info.http_url}\n"
        f"{services}"
        f"Try it (in this directory, no flags needed):\n{EXAMPLE}\n"
        "Press Ctrl-C to stop the jobs, the node and the conductor."
    )


def run(args: argparse.Namespace) -> int:
    from symphony.logs import setup_logging
    from symphony.statedir import check_state_dir_free, refuse_unusable
    from symphony.up import run_up

    from ._ports import Listen, check_free, in_use_error
    from ._table import emit, quiet_stdout
    from .runner import run_service

    config = up_config(args)
    # A `symphony up` already running here holds the port too: say that, not "port in
    # use" (`symphony ps` and the others reach it as they are).
    check_state_dir_free(config.state_dir, "conductor")
    # Before anything is created: a taken port must not leave a fresh state dir behind.
    check_free(
        Listen(
            "127.0.0.1",
            config.http_port,
            "the HTTP API and web UI",
            "--port N (--port 0 picks a free one; the commands here still find it)",
        ),
        Listen(
            "127.0.0.1",
            relay_port_of(config),
            "the services' origin (symphony visit)",
            "--relay-port N (0 picks a free one)",
        ),
        Listen("127.0.0.1", config.node_port, "the node endpoint", "--node-port N"),
    )
    # Its own words for a --state-dir that cannot be one (a file's name, someone else's
    # directory such as /tmp). Made by the service, once Ctrl-C stops it cleanly; one
    # that cannot be made (a read-only disk) is worded there, with this same flag.
    refuse_unusable(config.state_dir, "conductor")
    setup_logging(args.log_level)
    from symphony.conductor.collector import collect_rarely

    collect_rarely()  # this process is a Conductor (and a node)

    def ready(info: UpInfo) -> None:
        print(banner(info), flush=True)

    try:
        stopped_by = run_service(run_up, config, on_ready=ready)
    except BrokenPipeError:
        # The banner's reader went away (`symphony up | true`): the error stopped the
        # service as Ctrl-C does (jobs, node, conductor), and a CLI whose reader left
        # ends quietly.
        quiet_stdout()
        log.info("symphony up: stopped: its output's reader went away")
        return 0
    except OSError as exc:
        error = in_use_error(exc, "--port N, --relay-port N or --node-port N")
        if error is None:
            raise
        raise error from None
    # After `| head -1` the reader is long gone when Ctrl-C comes: quiet, as `logs` is.
    emit(f"symphony up: stopped{f' by {stopped_by.name}' if stopped_by else ''}")
    return 0
