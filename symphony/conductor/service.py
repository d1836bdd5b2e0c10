"""Assemble and run a Conductor: its PKI, its actor tree, its two listeners.

::

    Conductor (Supervisor, rest_for_one)
    ├── registry      NodeRegistry: node states, resources, usage
    ├── scheduler     Scheduler: placement and capacity reservations
    ├── deployments   Deployments: one DeploymentSupervisor per deployment
    ├── timetable     Timetable: fires cron schedules (runs, scheduled restarts)
    ├── gateway       Gateway: the mTLS node endpoint, one NodeSession per link
    └── http          HttpServer: the Quart-Trio API (symphony.httpd)

That tree runs only while this Conductor leads: Conductors sharing one store compete for
its leadership lease (:mod:`symphony.conductor.leadership`); a standby instead listens on
the same ports, refusing nodes and forwarding the API to the leader
(:mod:`symphony.conductor.standby`), and loads the state from the store when it takes
over. A Conductor alone on its store (no ``conductor.store.lease_seconds``) takes no
lease and simply leads. A running Conductor has ``http`` beside the tree (the
tree of :func:`build_tree` has it inside), so that when it steps down the actors stop
at once while the API answers what it serves (:mod:`symphony.conductor.api.stepdown`),
and when it is stopped (cancelled: SIGTERM, Ctrl-C) the API answers what it serves
before the actors stop (:mod:`symphony.conductor.stopping`).

``rest_for_one``: a restarted registry or scheduler restarts everything after it (the
deployments reload from the store, nodes reconnect and report what they run); a crashed
API restarts alone. The SQLite store is shared by the actors: its calls never await, so
the event loop serializes them, and every write is committed before it returns.

Embedding::

    async with trio.open_nursery() as nursery:
        info = await nursery.start(run_conductor, ConductorConfig(state_dir=path))
        print(info.http_url, info.node_port)
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from symphony import __version__
from symphony.actors import ActorRef, ChildSpec, Supervisor, spawn
from symphony.config import ConductorConfig
from symphony.pki import ConductorPKI, ensure_private_dir, server_ssl_context
from symphony.pki.apart import ensure_conductor_pki_apart
from symphony.statedir import hold_state_dir

from .api import (
    ApiContext,
    HttpServer,
    HttpSettings,
    SnapshotCache,
    create_app,
    ensure_api_token,
)
from .api.auth import client_url
from .api.hosts import allowed_hosts
from .api.lean import LeanApi
from .api.routes_secrets import SECRETS_KEY
from .api.routes_tokens import JOIN_SERVICE_KEY
from .api.server import GetUrl
from .api.stepdown import STOP_GRACE, StepDownGate
from .deployments import Deployments, EventLog, Scheduler
from .housekeeping import Housekeeper, Retention
from .join import JoinService
from .leadership import Leadership, conductor_id
from .nodes import Gateway, GatewaySettings, NodeRegistry, liveness_timeout
from .nodes.beats import HeartbeatInbox
from .nodes.gateway import GetPort
from .relay import RelayHub
from .secrets import SecretVault
from .shared import check_shared_material
from .standby import serve_standby, server_port
from .stopping import CleanStop, first_of
from .store import Store
from .timetable import Timetable
from .uploads import UploadStore

log = logging.getLogger("symphony.conductor")

WILDCARD_HOSTS = ("", "0.0.0.0", "::")
#: Seconds a Conductor changing roles may spend answering what it serves (a leader that
#: steps down) or forwards (a standby that takes over) before its phase is cancelled:
#: the grace (0.5 s) and the API's graceful stop (1 s), with room to spare. Only a hang
#: would reach it.
HANDOVER_LIMIT = 3.0


@dataclass(frozen=True, slots=True)
class ConductorInfo:
    """Where a running Conductor can be reached (what ``run_conductor`` reports)."""

    node_port: int
    http_url: str
    ca_fingerprint: str
    cert_dir: Path
    state_dir: Path
    api_token: str | None = None  # None: the API takes no token (http.auth: none)


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
    return ensure_conductor_pki_apart(cert_dir_of(config), hosts=hosts)


def api_token_of(config: ConductorConfig) -> str | None:
    """The API token (made on the first start, in ``state_dir/api-token``), or None when
    ``http.auth`` is ``none``."""
    return None if config.http_auth == "none" else ensure_api_token(config.state_dir)


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
    tree, _http = _assemble(config, pki, store, now=now, is_leader=is_leader, gate=None)
    return tree


def _assemble(
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
    :func:`_lead`), and its app sits behind ``gate``.
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
    relay = RelayHub(store)  # visits, forwards, tunnels: its registry is set below
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
    http_settings = HttpSettings(
        host=config.http_host, port=config.http_port, state_dir=config.state_dir
    )
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
            ChildSpec(name="scheduler", factory=Scheduler),
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


async def run_conductor(
    config: ConductorConfig,
    *,
    task_status: trio.TaskStatus[ConductorInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a Conductor until cancelled; reports a :class:`ConductorInfo` once serving.

    Raises :class:`~symphony.statedir.StateDirInUse` at once when another Conductor
    holds ``config.state_dir``. Cancelling it is a clean stop (:mod:`.stopping`): the
    requests in flight are answered first, within a second or so (at most
    :data:`~symphony.conductor.stopping.STOP_LIMIT` seconds in all).
    """
    ensure_private_dir(config.state_dir)  # the database, the API token, the certificates
    with hold_state_dir(config.state_dir, "conductor"):
        stop = CleanStop()
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            # A clean stop (see .stopping): the work runs shielded; this sibling is
            # not, so it hears of our cancellation, even during start-up.
            nursery.start_soon(stop.ask_when_cancelled)
            with stop.guard:
                try:
                    await _run_conductor(config, task_status, stop)
                except Exception as error:  # raised below, as it came, not in a group
                    failure = error
            nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure
    # Stopped during start-up: task_status was never reported, and our caller is being
    # cancelled; this checkpoint (outside the guard) hands it that cancellation.
    await trio.lowlevel.checkpoint()


async def _run_conductor(
    config: ConductorConfig, task_status: trio.TaskStatus[ConductorInfo], stop: CleanStop
) -> None:
    pki = load_pki(config)
    store = Store.open_url(config.store_url, state_dir=config.state_dir)
    if config.store_url is not None:  # a database meant to be shared by Conductors
        try:
            check_shared_material(store, config, pki)
        except BaseException:
            store.close()
            raise
    if config.lease_seconds is None:  # alone on its store: it simply leads
        try:
            async with trio.open_nursery() as nursery:
                ports = await nursery.start(_lead, config, pki, store, None, None, stop)
                task_status.started(_info(config, pki, ports))
        finally:
            store.close()
        return
    leadership = Leadership(
        store, holder=conductor_id(config.state_dir), seconds=config.lease_seconds
    )
    reported = False
    try:
        # One phase per role: lead (the whole actor tree) or stand by (refuse nodes,
        # forward the API). Each phase binds the ports the first one got, so nodes and
        # clients find this Conductor at the same addresses whatever its role.
        while not stop.asked.is_set():
            try:
                leadership.try_acquire()
            except Exception as error:  # a busy or unreachable store: stand by meanwhile
                log.warning("lease attempt failed: %s", error)
                leadership.step_down()
            async with trio.open_nursery() as phase:
                leading = leadership.is_leader()
                change = trio.Event()  # the role must change: hand over, or step down
                if leading:
                    ports = await phase.start(_lead, config, pki, store, leadership, change, stop)
                else:
                    ports = await phase.start(_stand_by, config, pki, leadership, change)
                config = dataclasses.replace(config, listen_port=ports[0], http_port=ports[1])
                leadership.url = advertised_url(config, ports[1])
                # A leader publishes its API URL with the lease now. The renewal also
                # catches a start that outlasted the lease's deadline, or a store that
                # fails right then: such a leader steps down at once (it would search
                # for the lease as a standby does, with its tree running meanwhile).
                lead = leading and leadership.renew_or_step_down()
                if not reported:
                    reported = True
                    task_status.started(_info(config, pki, ports))
                if lead or not leading:
                    await first_of(leadership.until_change, stop.asked.wait)
                if stop.asked.is_set():
                    # The leader stops itself (a standby was cancelled), renewing its
                    # lease while it drains: a standby taking over meanwhile would fence
                    # the writes of the requests being finished. Released below.
                    phase.start_soon(leadership.keep_until, stop.drained)
                    break
                # Stepping down, the leader stops its actors and answers what its API
                # serves; taking over, the standby answers what it forwards. Either
                # then returns, which ends this phase (bounded, should it hang).
                change.set()
                phase.cancel_scope.deadline = trio.current_time() + HANDOVER_LIMIT
    finally:
        # Released on a clean stop too: a standby takes over at once, not at its expiry.
        leadership.release()
        store.close()


def advertised_url(config: ConductorConfig, http_port: int) -> str:
    """The API URL other Conductors forward to: the listen address, or with a wildcard
    listen the first ``tls.advertise`` name (else loopback)."""
    host = config.http_host
    if host in WILDCARD_HOSTS:
        host = config.advertise[0] if config.advertise else "127.0.0.1"
    return f"http://{_host_port(host, http_port)}"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _info(config: ConductorConfig, pki: ConductorPKI, ports: tuple[int, int]) -> ConductorInfo:
    info = ConductorInfo(
        node_port=ports[0],
        http_url=client_url(f"http://{_host_port(config.http_host, ports[1])}"),
        ca_fingerprint=pki.ca_fingerprint,
        cert_dir=pki.cert_dir,
        state_dir=config.state_dir,
        api_token=api_token_of(config),
    )
    log.info(
        "conductor ready: nodes on port %d, API on %s, CA %s",
        info.node_port,
        info.http_url,
        pki.ca_fingerprint,
    )
    return info


async def _lead(
    config: ConductorConfig,
    pki: ConductorPKI,
    store: Store,
    leadership: Leadership | None,
    step_down: trio.Event | None,
    stop: CleanStop,
    *,
    task_status: trio.TaskStatus[tuple[int, int]],
) -> None:
    """Run the actor tree (loading the state from the store) until cancelled, until
    ``step_down`` (this Conductor stopped leading) or until ``stop`` is asked (see
    :mod:`.api.stepdown` and :mod:`.stopping`).

    The API runs beside the tree, not in it, behind a gate: stepping down stops every
    actor at once (no node command, no write after it) while the API answers what it is
    serving: requests stop going in, the streams end saying why, the rest get a moment
    to finish and are answered. A clean stop does the same, but the actors run until
    the requests in flight had their moment. Then the API stops and this returns.
    """
    is_leader = (lambda: True) if leadership is None else leadership.is_leader
    gate = StepDownGate(commits=lambda: store.commits)
    tree, http = _assemble(config, pki, store, now=time.time, is_leader=is_leader, gate=gate)
    # Restarted on a crash as the tree's child was (and as independent of it as then:
    # the routes reach the actors by the tree's stable refs).
    api = Supervisor([ChildSpec(name="http", factory=http)], max_restarts=5, max_seconds=30)
    # Alone on its store, it never steps down.
    ending = step_down if step_down is not None else trio.Event()
    api_ref: ActorRef | None = None
    try:
        async with trio.open_nursery() as serving:
            try:
                async with trio.open_nursery() as acting:
                    await spawn(acting, tree, name="conductor")
                    api_ref = await spawn(serving, api, name="conductor-api")
                    node_port = await tree.child("gateway").ask(GetPort())
                    http_url = await api.child("http").ask(GetUrl())
                    task_status.started((node_port, server_port(http_url)))
                    stop.graceful = True  # no checkpoint since the start: not asked yet
                    await first_of(ending.wait, stop.asked.wait)
                    if stop.asked.is_set():
                        log.info("stopping: answering the requests in flight first")
                        gate.stop()
                        await gate.settle(STOP_GRACE)  # the actors still run meanwhile
                    else:
                        # The store refuses every write already (Leadership.step_down).
                        # In this order, without a checkpoint between: the streams end
                        # with the gate's last words, not with what an actor's stop
                        # would make them say.
                        gate.step_down()
                    acting.cancel_scope.cancel()
            except* Exception as group:
                if not (ending.is_set() or stop.asked.is_set()):
                    raise
                # An actor that failed as the tree was cancelled (typically on the write
                # that was fenced, which made this Conductor step down, or on one
                # refused since): its tree is gone; the next phase starts afresh.
                log.warning("an actor failed as this Conductor stopped: %r", group.exceptions)
            if not stop.asked.is_set():
                await gate.settle()
            if api_ref is not None:  # the listener closes; this nursery ends when it has
                await api_ref.stop()
    finally:
        stop.graceful = False
        if stop.asked.is_set():
            stop.drained.set()  # a leader stopping renews its lease until now


async def _stand_by(
    config: ConductorConfig,
    pki: ConductorPKI,
    leadership: Leadership,
    handover: trio.Event,
    *,
    task_status: trio.TaskStatus[tuple[int, int]],
) -> None:
    """Refuse node links and forward the API to the leader until cancelled, or until
    ``handover`` (this Conductor takes over: see :func:`serve_standby`)."""

    def leader_url() -> str | None:
        leadership.refresh()  # every request: the leader may have changed meanwhile
        return leadership.leader_url()

    await serve_standby(
        node_host=None if config.listen_host in WILDCARD_HOSTS else config.listen_host,
        node_port=config.listen_port,
        ssl_context=server_ssl_context(pki, client_cert="optional"),
        http=HttpSettings(host=config.http_host, port=config.http_port, state_dir=config.state_dir),
        leader_url=leader_url,
        handover=handover,
        task_status=task_status,
    )
