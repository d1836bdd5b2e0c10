"""The configuration as frozen dataclasses, usable without any file.

Every class validates itself on construction with the same rules the file loader uses,
so code and flags cannot build a configuration a file could not::

    ConductorConfig(listen_port=0, state_dir="/tmp/sym", http_auth="none")
    NodeConfig(node_id="gpu-box-1", groups=("gpu-1",), capacities_total={"A": 100})

Paths are made absolute against the current directory at construction; collections
become tuples and read-only mappings, so a config can be shared between tasks safely.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from . import _values as v
from ._errors import ConfigError

__all__ = ["ConductorConfig", "Config", "LoggingConfig", "NodeConfig"]


def _set(obj: object, name: str, check: Callable[[Any], Any]) -> None:
    """Validate and normalise one field of a frozen dataclass, naming it on failure."""
    try:
        object.__setattr__(obj, name, check(getattr(obj, name)))
    except v.Invalid as exc:
        raise ConfigError([(name, str(exc))]) from None


def _tuple_of(check: Callable[[Any], str]) -> Callable[[Any], tuple[str, ...]]:
    def convert(value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise v.Invalid(f"must be a list of strings, got {v.show(value)}")
        return tuple(check(item) for item in value)

    return convert


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _capacities(value: Any) -> Mapping[str, int]:
    if not isinstance(value, Mapping):
        raise v.Invalid(f"must be a mapping of capacity class to amount, got {v.show(value)}")
    if len(value) > v.MAX_CLASSES:
        raise v.Invalid(f"names {len(value)} capacity classes; at most {v.MAX_CLASSES} are allowed")
    return MappingProxyType({v.capacity_name(k): v.integer(n) for k, n in value.items()})


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingConfig:
    """How Symphony logs: a level name and human lines or one JSON object per line."""

    level: str = "INFO"
    json: bool = False

    def __post_init__(self) -> None:
        _set(self, "level", v.log_level)
        _set(self, "json", v.boolean)


#: ``lease_seconds`` of a Conductor whose store is a database server (PostgreSQL).
DEFAULT_SERVER_LEASE = 10.0
#: ``node_restart_grace_sec``: above a node's reconnect backoff cap (30 s, plus jitter).
DEFAULT_NODE_RESTART_GRACE = 40.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ConductorConfig:
    """A Conductor: the node endpoint (mTLS WebSocket), the HTTP API, its state directory.

    ``cert_path`` defaults to ``<state_dir>/certs`` (decided at construction: pass it
    again if you ``dataclasses.replace`` the ``state_dir``). ``node_timeout_sec`` of ``None``
    means "5 heartbeats of that node" (the NodeRegistry's ``liveness_timeout``). ``http_auth`` may
    be ``"none"`` only when ``http_host`` is a loopback address. ``http_allowed_hosts``
    adds host names the HTTP API answers to (beside loopback, the listen address and,
    with a wildcard listen, this machine's names and addresses); ``"*"`` allows any.
    ``events_keep_per_deployment`` and ``events_max_age_sec`` (``None``: no age limit)
    bound the event history the Conductor keeps (older events are deleted periodically).
    ``secrets_key_file`` holds the key that seals secrets at rest (default
    ``<state_dir>/secrets.key``, created 0600 on the first start; Conductors sharing a
    database share this file).
    ``store_url`` says where the state is (``conductor.store.url``): ``None`` is SQLite in
    ``<state_dir>/symphony.db``, ``sqlite:///PATH`` another SQLite file,
    ``postgresql://...`` a PostgreSQL database several Conductors may share.
    ``lease_seconds``: the leadership lease of Conductors sharing one store (10 is a good
    value; a standby takes over within about that long of a leader's end); ``None`` runs
    one Conductor alone, which never steps down (and refuses to start beside another
    Conductor on its store). It is ``None`` by default, and 10 by default on
    PostgreSQL: a database made to be shared never has two leaders by omission.
    """

    listen_host: str = "0.0.0.0"
    listen_port: int = 50051
    cert_path: Path | None = None
    advertise: tuple[str, ...] = ()
    state_dir: Path = Path("storage")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_auth: Literal["token", "none"] = "token"
    http_allowed_hosts: tuple[str, ...] = ()
    node_timeout_sec: float | None = None
    node_restart_grace_sec: float = DEFAULT_NODE_RESTART_GRACE
    events_keep_per_deployment: int = 1000
    events_max_age_sec: float | None = 30 * 86_400.0
    secrets_key_file: Path | None = None
    store_url: str | None = None
    #: The leadership lease of Conductors sharing one store (see ha.md); None: this
    #: Conductor is alone on its store and never steps down (see conductor/alone.py).
    lease_seconds: float | None = None
    #: The largest message of a service's WebSocket relayed through ``/x/`` (bytes,
    #: ``conductor.relay.websocket_max_message``; each way). Each relayed WebSocket
    #: may hold three or four each way: this bounds what one costs (see api.md).
    relay_websocket_max_message: int = 4 * 2**20
    #: How many of the 32 relayed ``/x/`` WebSockets one client address may hold at once
    #: (``conductor.relay.websockets_per_client``).
    relay_websockets_per_client: int = 8
    #: Seconds a relayed WebSocket's visitor (``/x/``, port-forward) may take nothing of
    #: what the Conductor sends it before it is given up and its slot freed
    #: (``conductor.relay.send_timeout``): a visitor gone without a word (its network
    #: lost) otherwise holds it until the kernel stops retransmitting, minutes later.
    relay_send_timeout: float = 30.0
    #: The port services under ``/x/`` are served to browsers on, an origin apart from
    #: the web UI's (``conductor.relay.port``; 0: a free one). None: the HTTP port + 1
    #: (8001 beside the default 8000), or a free one when ``http_port`` is 0.
    relay_port: int | None = None
    #: The relay port's URL as browsers reach it (``conductor.relay.url``), when a
    #: reverse proxy stands in front: visit links and redirects name it.
    relay_url: str | None = None

    def __post_init__(self) -> None:
        _set(self, "listen_host", v.host)
        _set(self, "listen_port", v.port)
        _set(self, "state_dir", v.path)
        if self.cert_path is None:
            object.__setattr__(self, "cert_path", self.state_dir / "certs")
        _set(self, "cert_path", v.path)
        _set(self, "advertise", _tuple_of(v.host))
        _set(self, "http_host", v.host)
        _set(self, "http_port", v.port)
        _set(self, "http_auth", lambda a: v.choice(a, v.HTTP_AUTH_MODES))
        _set(self, "http_allowed_hosts", _tuple_of(v.allowed_host))
        _set(self, "node_timeout_sec", _optional(v.seconds))
        _set(self, "node_restart_grace_sec", v.seconds)
        _set(self, "events_keep_per_deployment", v.at_least_one)
        _set(self, "events_max_age_sec", _optional(v.seconds))
        if self.secrets_key_file is None:
            object.__setattr__(self, "secrets_key_file", self.state_dir / "secrets.key")
        _set(self, "secrets_key_file", v.path)
        _set(self, "store_url", _optional(v.store_url))
        if self.lease_seconds is None and v.is_server_store(self.store_url):
            object.__setattr__(self, "lease_seconds", DEFAULT_SERVER_LEASE)
        _set(self, "lease_seconds", _optional(v.seconds))
        _set(self, "relay_websocket_max_message", v.at_least_one)
        _set(self, "relay_websockets_per_client", v.at_least_one)
        _set(self, "relay_send_timeout", v.send_timeout)
        _set(self, "relay_port", _optional(v.port))
        _set(self, "relay_url", _optional(v.base_url))
        if self.relay_port is not None and self.relay_port == self.http_port != 0:
            raise ConfigError([("relay_port", "must differ from the HTTP port")])
        try:
            v.check_http_auth(self.http_host, self.http_auth)
        except v.Invalid as exc:
            raise ConfigError([("http_auth", str(exc))]) from None

    @property
    def listen(self) -> str:
        """The node endpoint as ``host:port`` (IPv6 in brackets)."""
        return v.format_host_port(self.listen_host, self.listen_port)

    @property
    def relay_listen_port(self) -> int:
        """The relay port to bind (``relay_port``, or its default; 0: a free one)."""
        if self.relay_port is not None:
            return self.relay_port
        return 0 if self.http_port in (0, 65535) else self.http_port + 1

    @property
    def http_listen(self) -> str:
        """The HTTP API address as ``host:port`` (IPv6 in brackets)."""
        return v.format_host_port(self.http_host, self.http_port)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    """A Node: who it is, where its conductor is, what it offers, how it proves identity.

    Identity is either certificate files (``ca_file``, ``cert_file``, ``key_file``, all
    three) or a join token (``join_addr``, ``join_token``, ``join_ca_hash``, all three),
    or neither when ``state_dir`` already holds a certificate from an earlier join.
    ``join_token`` is a secret: it is left out of ``repr()``.

    ``gpus`` lists this node's GPU devices (indexes or ids, as ``CUDA_VISIBLE_DEVICES``
    takes them); ``None`` finds them with NVML (none without it). They are the node's
    ``gpu`` capacity, so ``capacities_total`` must not name ``gpu`` itself.
    """

    node_id: str
    conductor_host: str = "127.0.0.1"
    conductor_port: int = 50051
    groups: tuple[str, ...] = ()
    capacities_total: Mapping[str, int] = field(default_factory=dict)
    heartbeat_sec: float = 3.0
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    join_addr: str | None = None
    join_token: str | None = field(default=None, repr=False)
    join_ca_hash: str | None = None
    state_dir: Path = Path("storage/node")
    # Experiments: the ports this node allocates for bound names, and the address its
    # processes are reached at (None: the address the Conductor sees its link come from).
    ports: str = v.DEFAULT_PORTS
    advertise_addr: str | None = None
    gpus: tuple[str, ...] | None = None
    #: More Conductors' node endpoints (``host:port``), tried in turn after
    #: ``conductor_host:conductor_port`` (a leader and its standbys: see ha.md).
    conductor_alternates: tuple[str, ...] = ()

    #: The cap of the cache of fetched code (archives, git checkouts), least recently
    #: used first out; default 10 GiB.
    cache_max_bytes: int = 10 * 2**30
    #: The logs of instances the node no longer holds are deleted once older than this
    #: (by their newest file; default 7 days), and past a total of them the oldest
    #: first (default 1 GiB); 0 turns either off.
    log_retention_sec: float = 7 * 86_400.0
    orphan_logs_max_bytes: int = 2**30
    #: Where the node's virtual environments are (each a ``python3 -m venv`` directory);
    #: None: none.
    envs_dir: Path | None = None

    def __post_init__(self) -> None:
        _set(self, "node_id", v.node_id)
        _set(self, "ports", v.port_range)
        _set(self, "advertise_addr", _optional(v.host))
        _set(self, "cache_max_bytes", v.at_least_one)
        _set(self, "log_retention_sec", v.seconds_or_zero)
        _set(self, "orphan_logs_max_bytes", v.integer)
        _set(self, "envs_dir", _optional(v.path))
        _set(self, "conductor_host", v.host)
        _set(self, "conductor_port", v.port)
        _set(self, "conductor_alternates", _tuple_of(lambda a: v.format_host_port(*v.host_port(a))))
        _set(self, "groups", _tuple_of(v.group))
        _set(self, "capacities_total", _capacities)
        _set(self, "heartbeat_sec", v.seconds)
        for name in ("ca_file", "cert_file", "key_file"):
            _set(self, name, _optional(v.path))
        _set(self, "join_addr", _optional(lambda a: v.format_host_port(*v.host_port(a))))
        _set(self, "join_token", _optional(v.join_token))
        _set(self, "join_ca_hash", _optional(v.ca_hash))
        _set(self, "state_dir", v.path)
        _set(self, "gpus", _optional(v.gpu_ids))
        problems = _all_or_none(self, ("ca_file", "cert_file", "key_file"))
        problems += _all_or_none(self, ("join_addr", "join_token", "join_ca_hash"))
        if self.ca_file is not None and self.join_addr is not None:
            problems.append(("join_addr", "use certificate files or a join token, not both"))
        if v.GPU_CLASS in self.capacities_total:
            problems.append((f"capacities_total.{v.GPU_CLASS}", _GPU_DECLARED))
        if problems:
            raise ConfigError(problems)

    @property
    def conductor_addr(self) -> str:
        """The conductor's node endpoint as ``host:port``."""
        return v.format_host_port(self.conductor_host, self.conductor_port)

    @property
    def conductor_addrs(self) -> tuple[tuple[str, int], ...]:
        """Every Conductor endpoint to try, in order, as ``(host, port)``."""
        first = (self.conductor_host, self.conductor_port)
        return (first, *(v.host_port(a) for a in self.conductor_alternates))

    @property
    def join_host_port(self) -> tuple[str, int] | None:
        """``join_addr`` split into ``(host, port)``, or ``None`` without a join token."""
        return None if self.join_addr is None else v.host_port(self.join_addr)


_GPU_DECLARED = (
    "the gpu capacity comes from the node's devices, not from a number: remove it, and "
    "list the devices in node.gpus (e.g. gpus: [0, 1]) or leave node.gpus out to find "
    "them with NVML"
)


def _all_or_none(obj: object, names: tuple[str, ...]) -> list[tuple[str, str]]:
    missing = [n for n in names if getattr(obj, n) is None]
    if not missing or len(missing) == len(names):
        return []
    together = ", ".join(names)
    return [(n, f"required together with the others ({together})") for n in missing]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A whole configuration file: which role to run, logging, and that role's settings."""

    mode: Literal["conductor", "node"]
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    conductor: ConductorConfig | None = None
    node: NodeConfig | None = None

    def __post_init__(self) -> None:
        _set(self, "mode", lambda m: v.choice(m, v.MODES))
        if self.mode == "conductor" and self.conductor is None:
            object.__setattr__(self, "conductor", ConductorConfig())
        if self.mode == "node" and self.node is None:
            raise ConfigError([("node", "required for mode 'node' (at least node.node_id)")])
