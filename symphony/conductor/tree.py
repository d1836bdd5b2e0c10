"""The Conductor's actor tree, assembled from its configuration (not started here).

::

    Conductor (Supervisor, rest_for_one)
    ├── registry      NodeRegistry: node states, resources, usage
    ├── scheduler     Scheduler: placement and capacity reservations
    ├── deployments   Deployments: one DeploymentSupervisor per deployment
    ├── timetable     Timetable: fires cron schedules (runs, scheduled restarts)
    ├── gateway       Gateway: the mTLS node endpoint, one NodeSession per link
    ├── http          HttpServer: the Quart-Trio API (symphony.httpd)
    └── housekeeper   Housekeeper: old events, spent tokens, unused uploads

``rest_for_one``: a restarted registry or scheduler restarts everything after it (the
deployments reload from the store, nodes reconnect and report what they run); a crashed
API restarts alone. The SQLite store is shared by the actors: its calls never await, so
the event loop serializes them, and every write is committed before it returns.

Each child is made by a factory run at every (re)start, which finds its siblings by the
tree's stable refs. What outlives a restart of a child is made once here, beside the
tree: the heartbeat inbox the sessions put into, the relay hub, the join service, the
secret vault, the event log. Running the tree, and the roles of a Conductor (leading,
standing by), are :mod:`symphony.conductor.service`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

from symphony import __version__
from symphony.actors import ChildSpec, Supervisor
from symphony.config import ConductorConfig
from symphony.owndir import NotOurDirectory
from symphony.pki import ConductorPKI, server_ssl_context
from symphony.pki.apart import ensure_conductor_pki_apart

from .api import (
    ApiContext,
    HttpServer,
    HttpSettings,
    SnapshotCache,
    create_app,
    ensure_api_token,
)
from .api.hosts import allowed_hosts
from .api.lean import LeanApi
from .api.routes_secrets import SECRETS_KEY
from .api.routes_tokens import JOIN_SERVICE_KEY
from .api.stepdown import StepDownGate
from .deployments import Deployments, EventLog, Scheduler
from .housekeeping import Housekeeper, Retention
from .join import JoinService
from .nodes import Gateway, GatewaySettings, NodeRegistry, liveness_timeout
from .nodes.beats import HeartbeatInbox
from .nodes.gateway import GetPort
from .relay import RelayHub
from .secrets import SecretVault
from .store import Store
from .timetable import Timetable
from .uploads import UploadStore

WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def cert_dir_of(config: ConductorConfig) -> Path:
    """Where the Conductor keeps its certificates (``state_dir/certs`` unless set)."""
    # Only None before ConductorConfig.__post_init__ has filled in the default.
    assert config.cert_path is not None
    return config.cert_path


def load_pki(config: ConductorConfig) -> ConductorPKI:
    """Create (first start, in a child process: see :mod:`symphony.pki.apart`) or load
    the CA, server and shared node certificates."""
    hosts = [*config.advertise]
    if config.listen_host not in WILDCARD_HOSTS:
        hosts.append(config.listen_host)
    try:
        return ensure_conductor_pki_apart(cert_dir_of(config), hosts=hosts)
    except NotOurDirectory as exc:  # a cert_path such as /tmp: say which setting names it
        change = "--cert-path DIR, or conductor.tls.cert_path in a config file"
        use = "the conductor's certificate directory"
        raise NotOurDirectory.refusing(exc.path, exc.why, use=use, change=change) from None


def api_token_of(config: ConductorConfig) -> str | None:
    """The API token (made on the first start, in ``state_dir/api-token``), or None when
    ``http.auth`` is ``none``."""
    return None if config.http_auth == "none" else ensure_api_token(config.state_dir)


def http_settings_of(config: ConductorConfig) -> HttpSettings:
    """Where the API and the services (``/x/``, the relay port) listen."""
    return HttpSettings(
        host=config.http_host,
        port=config.http_port,
        relay_port=config.relay_listen_port,
        relay_url=config.relay_url,
        state_dir=config.state_dir,
    )


def retention_of(config: ConductorConfig) -> Retention:
    """How much event history the Conductor keeps (``conductor.events.*``)."""
    return Retention(
        keep_per_deployment=config.events_keep_per_deployment,
        max_age_sec=config.events_max_age_sec,
    )


def build_tree(
    config: ConductorConfig,
    pki: ConductorPKI,
    store: Store,
    *,
    now: Callable[[], float] = time.time,
    is_leader: Callable[[], bool] = lambda: True,
) -> Supervisor:
    """The Conductor's supervision tree (not started yet).

    ``now`` is the wall clock schedules are read by (Unix seconds); ``is_leader`` says
    whether this Conductor fires them (see :mod:`symphony.conductor.timetable`).
    """
    tree, _http = assemble(config, pki, store, now=now, is_leader=is_leader, gate=None)
    return tree


def assemble(
    config: ConductorConfig,
    pki: ConductorPKI,
    store: Store,
    *,
    now: Callable[[], float],
    is_leader: Callable[[], bool],
    gate: StepDownGate | None,
) -> tuple[Supervisor, Callable[[], HttpServer]]:
    """The tree and the API server's factory. Without ``gate`` the API is the tree's
    ``http`` child; with it the API is left out of the tree (a running Conductor runs
    it beside the tree, to answer what it serves when it steps down or stops: see
    :func:`.service._lead`), and its app sits behind ``gate``.
    """
    timeout_for = functools.partial(liveness_timeout, config.node_timeout_sec)
    # Nodes without a certificate may use the node port for one thing: joining.
    specific = () if config.listen_host in WILDCARD_HOSTS else (config.listen_host,)
    join = JoinService(
        ca=pki.ca,
        store=store,
        advertise=next(iter((*config.advertise, *specific)), None),
        node_port=lambda: tree.child("gateway").ask(GetPort(), timeout=5),
    )
    uploads = UploadStore(config.state_dir / "uploads")
    beats = HeartbeatInbox()  # outlives a registry restart: sessions keep putting there
    relay = RelayHub(  # visits, forwards, tunnels: its registry is set below
        store,
        websocket_max_message=config.relay_websocket_max_message,
        websockets_per_client=config.relay_websockets_per_client,
        send_timeout=config.relay_send_timeout,
    )
    gateway_settings = GatewaySettings(
        host=None if config.listen_host in WILDCARD_HOSTS else config.listen_host,
        port=config.listen_port,
        ssl_context=server_ssl_context(pki, client_cert="optional"),
        join_handler=join.serve,
        hello_check=join.hello_refusal,
        uploads=uploads,
        beats=beats,
        relay=relay,
    )
    http_settings = http_settings_of(config)
    api_token = api_token_of(config)
    hosts = allowed_hosts(config.http_host, config.http_allowed_hosts)
    started_at = time.time()
    events = EventLog(store)
    assert config.secrets_key_file is not None  # filled in by ConductorConfig
    vault = SecretVault.open(store, config.secrets_key_file)

    # Factories run at (re)start time, after `tree` exists: they find their siblings
    # through the tree's stable refs.
    def registry() -> NodeRegistry:
        # The Scheduler hears of nodes through the Deployments manager, after the
        # hello's report was applied (see deployments/manager.py).
        subscribers = (tree.child("deployments"),)
        return NodeRegistry(
            node_timeout_sec=config.node_timeout_sec,
            restart_grace_sec=config.node_restart_grace_sec,
            subscribers=subscribers,
            incarnations=store,
            drains=store,
            beats=beats,
        )

    def deployments() -> Deployments:
        return Deployments(
            store=store,
            scheduler=tree.child("scheduler"),
            registry=tree.child("registry"),
            events=events,
            secrets=vault,
            timetable=tree.child("timetable"),
        )

    def timetable() -> Timetable:
        return Timetable(
            store=store, deployments=tree.child("deployments"), now=now, is_leader=is_leader
        )

    retention = retention_of(config)

    def gateway() -> Gateway:
        return Gateway(gateway_settings, tree.child("registry"), timeout_for)

    def http() -> HttpServer:
        context = ApiContext(
            registry=tree.child("registry"),
            scheduler=tree.child("scheduler"),
            deployments=tree.child("deployments"),
            store=store,
            events=events,
            started_at=started_at,
            version=__version__,
            token=api_token,
            allowed_hosts=hosts,
            # Reads of the whole store (/live sweeps, GET /deployments) run in a worker
            # thread, off the loop that handles the nodes' heartbeats.
            snapshots=SnapshotCache(store, off_thread=True),
            uploads=uploads,
            relay=relay,
            relay_url=config.relay_url,
        )
        app = create_app(context)
        app.config[JOIN_SERVICE_KEY] = join  # for POST /tokens
        app.config[SECRETS_KEY] = vault  # for /secrets
        # POST /deployments, the hottest request, skips Quart's request cycle.
        lean = LeanApi(app, context)
        if gate is None:
            return HttpServer(lean, http_settings)
        gate.app = lean
        return HttpServer(gate, http_settings)

    tree = Supervisor(
        [
            ChildSpec(name="registry", factory=registry),
            ChildSpec(name="scheduler", factory=functools.partial(Scheduler, journal=store)),
            ChildSpec(name="deployments", factory=deployments, shutdown_timeout=10.0),
            ChildSpec(name="timetable", factory=timetable),
            ChildSpec(name="gateway", factory=gateway),
            *([ChildSpec(name="http", factory=http)] if gate is None else []),
            # Last: under rest_for_one its restart restarts nothing else.
            ChildSpec(
                name="housekeeper", factory=lambda: Housekeeper(store, retention, uploads=uploads)
            ),
        ],
        strategy="rest_for_one",
        max_restarts=5,
        max_seconds=30,
    )
    relay.registry = tree.child("registry")  # a stable ref, whatever restarts behind it
    return tree, http
