"""``symphony conductor``, ``symphony node`` and ``symphony --config FILE``: run a service.

Configuration is layered: defaults, then the ``--config`` file, then flags. Flags are
written into the file's raw mapping under the key they stand for (``--http`` is
``conductor.http.listen``) before anything is validated, so a flag can supply a key the
file lacks and every value meets the same checks. A flag replaces the file's value
whole: ``--group`` and ``--capacity`` replace the lists, not extend them; certificate
flags drop the file's ``node.join`` and join flags drop its ``node.tls``.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._errors import CLIError
from .handoff import hand_over, take_over

if TYPE_CHECKING:
    import argparse

    from symphony.config import ConductorConfig, Config, NodeConfig

log = logging.getLogger("symphony.cli")

# (argparse dest, key path in the file)
CONDUCTOR_KEYS = (
    ("listen", "conductor.listen"),
    ("http", "conductor.http.listen"),
    ("relay_port", "conductor.relay.port"),
    ("state_dir", "conductor.state_dir"),
    ("cert_path", "conductor.tls.cert_path"),
    ("advertise", "conductor.tls.advertise"),
    ("allow_host", "conductor.http.allowed_hosts"),
    ("auth", "conductor.http.auth"),
    ("node_timeout", "conductor.node_timeout_sec"),
    ("node_restart_grace", "conductor.node_restart_grace_sec"),
)
NODE_KEYS = (
    ("node_id", "node.node_id"),
    ("conductor", "node.conductor_addr"),
    ("group", "node.groups"),
    ("capacity", "node.capacities_total"),
    ("gpu", "node.gpus"),
    ("heartbeat", "node.heartbeat_sec"),
    ("ports", "node.ports"),
    ("ca_file", "node.tls.ca_file"),
    ("cert_file", "node.tls.cert_file"),
    ("key_file", "node.tls.key_file"),
    ("join", "node.join.addr"),
    ("token", "node.join.token"),
    ("ca_hash", "node.join.ca_hash"),
    ("state_dir", "node.state_dir"),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``conductor`` and ``node``."""
    import argparse

    from . import service_flags as flags

    conductor = subparsers.add_parser(
        "conductor",
        help="run a Conductor",
        description=flags.CONDUCTOR_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    flags.add_conductor_flags(conductor)
    flags.add_common_flags(conductor)
    conductor.set_defaults(handler=run_conductor_command)
    node = subparsers.add_parser(
        "node",
        help="run a Node",
        description=flags.NODE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    flags.add_node_flags(node)
    flags.add_common_flags(node)
    node.set_defaults(handler=run_node_command)
    from . import nodestop  # `symphony node stop`

    nodestop.add_to(node)


def conductor_config(args: argparse.Namespace) -> Config:
    """The effective :class:`~symphony.config.Config` of ``symphony conductor ARGS``."""
    return _layered(args, "conductor", CONDUCTOR_KEYS)


def node_config(args: argparse.Namespace) -> Config:
    """The effective :class:`~symphony.config.Config` of ``symphony node ARGS``."""
    return _layered(args, "node", NODE_KEYS)


def root_config(args: argparse.Namespace) -> Config:
    """The effective :class:`~symphony.config.Config` of ``symphony --config FILE ...``."""
    from symphony.config import parse_config, read_config_file

    data = read_config_file(args.root_config)
    if args.root_log_level is not None:
        _set_in(data, "logging.level", args.root_log_level)
    return parse_config(data, source=args.root_config, mode=args.root_mode)


def run_conductor_command(args: argparse.Namespace) -> int:
    return _check_or_start(conductor_config(args), args)


def run_node_command(args: argparse.Namespace) -> int:
    return _check_or_start(node_config(args), args)


def run_root(args: argparse.Namespace) -> int:
    return _start(root_config(args), reexec=args.own_command_line)


def run_handed_over(args: argparse.Namespace | None) -> int:
    """Run the service whose configuration this process's previous image validated and
    handed over (:mod:`symphony.cli.handoff`); the command line is not parsed again."""
    config = take_over()
    if config is None:
        raise CLIError("no configuration was handed over")
    return _start(config)


def _layered(
    args: argparse.Namespace,
    mode: Literal["conductor", "node"],
    keys: tuple[tuple[str, str], ...],
) -> Config:
    from symphony.config import parse_config, read_config_file

    path = args.config or args.root_config
    data = read_config_file(path) if path else {}
    section = data.get(mode) if isinstance(data.get(mode), dict) else None
    if section is not None and mode == "node":
        # Flags for one kind of identity replace the file's other kind.
        if any(getattr(args, d) is not None for d in ("ca_file", "cert_file", "key_file")):
            section.pop("join", None)
        if any(getattr(args, d) is not None for d in ("join", "token", "ca_hash")):
            section.pop("tls", None)
    for dest, key in keys:
        value = getattr(args, dest)
        if value is not None:
            _set_in(data, key, dict(value) if dest == "capacity" else value)
    level = args.log_level or args.root_log_level
    if level is not None:
        _set_in(data, "logging.level", level)
    if args.log_json:
        _set_in(data, "logging.json", True)
    return parse_config(data, source=path if path else None, mode=mode)


def _set_in(data: dict[str, Any], key: str, value: Any) -> None:
    """``data[a][b][c] = value`` for ``"a.b.c"``, creating missing sections.

    A section the file holds as something else (``http: 5``) is left alone: validation
    reports it, which is better than a flag silently erasing the mistake.
    """
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        if node.get(part) is None:
            node[part] = {}
        if not isinstance(node[part], dict):
            return
        node = node[part]
    node[leaf] = value


def _check_or_start(config: Config, args: argparse.Namespace) -> int:
    if args.check_config:
        from .service_flags import describe

        print(describe(config))
        return 0
    return _start(config, reexec=args.own_command_line)


def _start(config: Config, *, reexec: bool = False) -> int:
    """Set up logging and run the configured role until it ends or is signalled.

    With ``reexec``, the process first re-executes itself without what parsing its
    command line and validating its configuration loaded (:mod:`symphony.cli.handoff`).
    """
    if reexec:
        # A service's imports are most of its memory: its code objects go without
        # column tables (see handoff.LEAN_CODE_ENV); a node's jobs are not affected.
        hand_over(config, lean_code=True)  # returns where it cannot
    from symphony.logs import setup_logging

    from .runner import run_service

    if config.mode == "conductor":
        _check_ports(config.conductor)
        from symphony.conductor.collector import collect_rarely

        collect_rarely()  # this process is a Conductor (see the module)
    role = config.conductor if config.mode == "conductor" else config.node
    if role is not None:
        # Made (or adopted) here, where the refusal can name the flag and the setting: a
        # state_dir that is a file, someone else's (/tmp), or on a read-only disk.
        from symphony.statedir import make_state_dir

        change = f"--state-dir DIR, or {config.mode}.state_dir in a config file"
        make_state_dir(Path(role.state_dir), config.mode, change)
    setup_logging(config.logging.level, json=config.logging.json)
    section: ConductorConfig | NodeConfig
    if config.mode == "conductor":
        service = _runtime("conductor", "run_conductor")
        assert config.conductor is not None  # Config fills it in for mode 'conductor'
        section = conductor = config.conductor
        log.info(
            "starting conductor: node endpoint %s, HTTP API %s, state in %s",
            conductor.listen,
            conductor.http_listen,
            conductor.state_dir,
        )
    else:
        service = _runtime("node", "run_node")
        assert config.node is not None  # Config refuses mode 'node' without it
        section = node = config.node
        log.info(
            "starting node %s: conductor %s, groups %s, capacities %s",
            node.node_id,
            node.conductor_addr,
            list(node.groups),
            dict(node.capacities_total),
        )
    try:
        stopped_by = run_service(service, section, on_ready=lambda _: _ready(config.mode))
    except OSError as exc:
        from ._ports import in_use_error

        change = "--http / --listen (conductor.http.listen / conductor.listen in a config file)"
        error = in_use_error(exc, change)
        if error is None:
            raise
        raise error from None
    how = f" by {stopped_by.name}" if stopped_by else ""
    if config.node is not None and config.mode == "node":
        # What stays is not obvious: a python process and the jobs, on purpose.
        state = shlex.quote(str(Path(config.node.state_dir).absolute()))
        log.info(
            "node stopped%s; its jobs go on under the node monitor, and the next node "
            "started on %s adopts them (`symphony node stop --state-dir %s` stops them)",
            how,
            state,
            state,
        )
    else:
        log.info("%s stopped%s", config.mode, how)
    return 0


def _ready(mode: str) -> None:
    from symphony.heap import release_free_heap

    log.info("%s running; stop it with Ctrl-C or SIGTERM", mode)
    release_free_heap()


def _check_ports(section: Any) -> None:
    """Both listen addresses must be free before the Conductor creates its state."""
    from ._ports import Listen, check_free

    check_free(
        Listen(
            section.http_host,
            section.http_port,
            "the HTTP API and web UI",
            "--http HOST:PORT (conductor.http.listen in a config file)",
        ),
        Listen(
            section.http_host,
            section.relay_listen_port,
            "the services' origin (relay port)",
            "--relay-port N (conductor.relay.port in a config file)",
        ),
        Listen(
            section.listen_host,
            section.listen_port,
            "the node endpoint",
            "--listen HOST:PORT (conductor.listen in a config file)",
        ),
    )


def _runtime(package: str, name: str) -> Callable[..., Any]:
    """Import ``symphony.<package>.<name>`` now that it is needed (it pulls in trio & co)."""
    import importlib

    try:
        service: Callable[..., Any] = getattr(importlib.import_module(f"symphony.{package}"), name)
        return service
    except (ImportError, AttributeError) as exc:
        raise CLIError(f"cannot load the {package} runtime: {exc}") from exc
