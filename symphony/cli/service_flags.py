"""Flags of ``symphony conductor`` and ``symphony node``, and their value checks.

A malformed flag value is a usage error (exit 2) found before anything starts. The
checks are the configuration's own (``symphony.config.values``), imported only when
a flag is actually parsed, so building the parser for ``--help`` costs nothing extra.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

CONDUCTOR_HELP = """\
Run a Conductor: the node endpoint (mutual TLS WebSocket), the HTTP API and web UI,
and the state directory (SQLite database, API token, certificates).

  symphony conductor --config conductor.yaml
  symphony conductor --listen 0.0.0.0:50051 --http 127.0.0.1:8000 --state-dir storage
"""
NODE_HELP = """\
Run a Node: it connects out to the Conductor and runs jobs as plain processes.
Identity: certificate files (--ca-file --cert-file --key-file) or a join token
(--join --token --ca-hash), or neither once state-dir holds an enrolled certificate.

  symphony node --config node.yaml
  symphony node --node-id gpu-box-1 --conductor conductor.example:50051 \\
      --group gpu-1 --capacity Analytic1=10 --join conductor.example:50051 \\
      --token symjt1.<id>.<secret> --ca-hash sha256:<hex>
"""


def _type_error(message: str) -> Exception:
    import argparse  # only while a command line is parsed

    return argparse.ArgumentTypeError(message)


def checked(check: str, convert: Callable[[str], Any] = str, *, what: str = "") -> Any:
    """An argparse ``type=`` that runs ``symphony.config.values.<check>`` on the value."""

    def parse(text: str) -> Any:
        from symphony.config import values

        try:
            value = convert(text)
        except ValueError:
            raise _type_error(f"must be {what}, got {text!r}") from None
        try:
            getattr(values, check)(value)
        except ValueError as exc:
            raise _type_error(str(exc)) from None
        return value

    parse.__name__ = check  # argparse names the type in some messages
    return parse


def capacity(text: str) -> tuple[str, int]:
    """``NAME=N`` -> ``(NAME, N)``."""
    from symphony.config import values

    name, sep, amount = text.partition("=")
    try:
        if not sep or not amount.strip().isdigit():
            raise values.Invalid(f"must be NAME=N with N a non-negative integer, got {text!r}")
        return values.capacity_name(name.strip()), values.integer(int(amount))
    except ValueError as exc:
        raise _type_error(str(exc)) from None


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """``--config``, logging and ``--check-config``: shared by both roles."""
    parser.add_argument("--config", metavar="FILE", help="YAML configuration; flags override it")
    parser.add_argument(
        "--log-level",
        metavar="LEVEL",
        type=checked("log_level"),
        help="DEBUG, INFO, WARNING or ERROR (default INFO)",
    )
    parser.add_argument(
        "--log-json",
        action="store_const",
        const=True,
        default=None,
        help="log one JSON object per line",
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate, print the effective configuration as JSON, and exit",
    )


def add_conductor_flags(parser: argparse.ArgumentParser) -> None:
    hp = checked("host_port")
    add = parser.add_argument
    add("--listen", metavar="HOST:PORT", type=hp, help="node endpoint (default 0.0.0.0:50051)")
    add("--http", metavar="HOST:PORT", type=hp, help="HTTP API and UI (default 127.0.0.1:8000)")
    add(
        "--relay-port",
        metavar="PORT",
        type=checked("port", int, what="a port number"),
        help="services (/x/) for browsers, on the --http host: an origin apart from the UI's "
        "(default: the HTTP port + 1; 0 picks a free one)",
    )
    add("--state-dir", metavar="DIR", help="database, API token, certs (default storage)")
    add("--cert-path", metavar="DIR", help="certificate directory (default STATE_DIR/certs)")
    add(
        "--advertise",
        metavar="NAME",
        action="append",
        type=checked("host"),
        help="extra host name or IP for the server certificate (repeatable)",
    )
    add(
        "--allow-host",
        metavar="NAME",
        action="append",
        type=checked("allowed_host"),
        help="another host name the HTTP API answers to, e.g. a reverse proxy's; '*' for "
        "any (repeatable; replaces the file's list)",
    )
    add(
        "--auth",
        choices=("token", "none"),
        help="HTTP API auth (default token; none only on a loopback --http)",
    )
    add(
        "--node-timeout",
        metavar="SECONDS",
        type=checked("seconds", float, what="seconds"),
        help="declare a silent node lost after this (default 5 heartbeats)",
    )
    add(
        "--node-restart-grace",
        metavar="SECONDS",
        type=checked("seconds", float, what="seconds"),
        help="after a start, the least time a node that ran instances has to come back "
        "before it is lost (default 40)",
    )


def add_node_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--node-id", metavar="ID", type=checked("node_id"), help="this node's unique name")
    add(
        "--conductor",
        metavar="HOST:PORT",
        type=checked("host_port"),
        help="the conductor's node endpoint",
    )
    add(
        "--group",
        metavar="G",
        action="append",
        type=checked("group"),
        help="node group (repeatable; replaces the file's list)",
    )
    add(
        "--capacity",
        metavar="NAME=N",
        action="append",
        type=capacity,
        help="capacity offered, e.g. Analytic1=10 (repeatable; replaces the file's)",
    )
    add(
        "--gpu",
        metavar="ID",
        action="append",
        type=checked("gpu_id"),
        help="a GPU device of this node, e.g. 0 or GPU-8f1c... (repeatable; replaces the "
        "file's node.gpus; without it NVML finds them)",
    )
    add(
        "--heartbeat",
        metavar="SECONDS",
        type=checked("seconds", float, what="seconds"),
        help="heartbeat interval (default 3)",
    )
    add(
        "--ports",
        metavar="LOW-HIGH",
        type=checked("port_range"),
        help="where experiments' ports are allocated on this node (default 20000-29999)",
    )
    tls = parser.add_argument_group("certificate files (all three)")
    tls.add_argument("--ca-file", metavar="FILE")
    tls.add_argument("--cert-file", metavar="FILE")
    tls.add_argument("--key-file", metavar="FILE")
    join = parser.add_argument_group("join-token enrolment (all three)")
    join.add_argument(
        "--join", metavar="HOST:PORT", type=checked("host_port"), help="where to enrol"
    )
    join.add_argument(
        "--token",
        metavar="TOKEN",
        type=checked("join_token"),
        help="join token from the conductor (a secret)",
    )
    join.add_argument(
        "--ca-hash",
        metavar="sha256:HEX",
        type=checked("ca_hash"),
        help="the conductor CA's fingerprint, to trust on first contact",
    )
    add("--state-dir", metavar="DIR", help="local state and enrolled certs (default storage/node)")


def describe(config: Any) -> str:
    """The effective configuration as indented JSON, secrets replaced by ``"***"``."""
    import dataclasses

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            out = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
            if out.get("join_token") is not None:
                out["join_token"] = "***"
            return out
        if isinstance(value, tuple | list):
            return [plain(item) for item in value]
        if hasattr(value, "items"):
            return {k: plain(val) for k, val in value.items()}
        if value is None or isinstance(value, bool | int | float | str):
            return value
        return str(value)

    return json.dumps(plain(config), indent=2)
