"""Run a Conductor: its PKI, its actor tree (``tree.py``), its two listeners.

That tree runs only while this Conductor leads: Conductors sharing one store compete for
its leadership lease (:mod:`symphony.conductor.leadership`); a standby instead listens on
the same ports, refusing nodes and forwarding the API to the leader
(:mod:`symphony.conductor.standby`), and loads the state from the store when it takes
over. A Conductor alone on its store (no ``conductor.store.lease_seconds``) simply
leads, never stepping down: it holds a lease of its own only to refuse to run beside
another Conductor (:mod:`symphony.conductor.alone`). A running Conductor has ``http``
beside the tree (the tree of :func:`build_tree` has it inside), so that when it steps
down the actors stop at once while the API answers what it serves
(:mod:`symphony.conductor.api.stepdown`), and when it is stopped (cancelled: SIGTERM,
Ctrl-C) the API answers what it serves before the actors stop
(:mod:`symphony.conductor.stopping`).

Embedding::

    async with trio.open_nursery() as nursery:
        info = await nursery.start(run_conductor, ConductorConfig(state_dir=path))
        print(info.http_url, info.node_port)
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import trio

from symphony.actors import ActorRef, ChildSpec, Supervisor, spawn
from symphony.config import ConductorConfig
from symphony.pki import ConductorPKI, server_ssl_context
from symphony.statedir import hold_state_dir

from .alone import AloneLease, SharedStoreConflict, refuse_beside
from .api.auth import client_url
from .api.server import GetRelayUrl, GetUrl, server_port
from .api.stepdown import STOP_GRACE, StepDownGate
from .leadership import Leadership, conductor_id
from .nodes.gateway import GetPort
from .shared import check_shared_material
from .standby import serve_standby
from .stopping import CleanStop, first_of
from .store import Store
from .tree import (
    WILDCARD_HOSTS,
    api_token_of,
    assemble,
    build_tree,
    cert_dir_of,
    http_settings_of,
    load_pki,
    retention_of,
)

log = logging.getLogger("symphony.conductor")

__all__ = [
    "HANDOVER_LIMIT",
    "WILDCARD_HOSTS",
    "ConductorInfo",
    "advertised_url",
    "api_token_of",
    "build_tree",
    "cert_dir_of",
    "load_pki",
    "retention_of",
    "run_conductor",
]

#: Seconds a Conductor changing roles may spend answering what it serves (a leader that
#: steps down) or forwards (a standby that takes over) before its phase is cancelled:
#: the grace (0.5 s) and the API's graceful stop (1 s), with room to spare. Only a hang
#: would reach it.
HANDOVER_LIMIT = 3.0
#: The ports a phase bound: the node endpoint's, the API's and the relay's (or None).
Ports = tuple[int, int, int | None]


@dataclass(frozen=True, slots=True)
class ConductorInfo:
    """Where a running Conductor can be reached (what ``run_conductor`` reports)."""

    node_port: int
    http_url: str
    ca_fingerprint: str
    cert_dir: Path
    state_dir: Path
    api_token: str | None = None  # None: the API takes no token (http.auth: none)
    #: Where browsers reach services (``/x/``): the relay port, an origin of its own.
    relay_url: str | None = None


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
    # Made private (the database, the API token, the certificates), or refused when it
    # may be someone else's directory: see symphony.owndir.
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
        alone = AloneLease(store, conductor_id(config.state_dir))
        lost = trio.Event()  # another Conductor took the lease: stop, as a leader steps down
        try:
            alone.take()  # or refuse: another Conductor runs on this store (see .alone)
            async with trio.open_nursery() as nursery:

                async def leading_alone(task_status: trio.TaskStatus[Ports]) -> None:
                    await _lead(config, pki, store, None, lost, stop, task_status=task_status)
                    nursery.cancel_scope.cancel()  # the lease's renewals

                # Kept from the start: a start-up slower than the lease must not lose it,
                # and a write refused meanwhile must end this Conductor as a loss.
                nursery.start_soon(alone.keep, lost)
                ports = await nursery.start(leading_alone)
                alone.url = advertised_url(config, ports[1])
                alone.renew()  # the URL, for another Conductor's refusal to name
                task_status.started(_info(config, pki, ports))
        finally:
            alone.release()
            store.close()
        if lost.is_set():
            raise alone.lost_error()
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
                # A Conductor without a lease never stands down: refuse to run beside it.
                refuse_beside(leadership.seen, leadership.holder, time.time(), alone=False)
            except SharedStoreConflict:
                raise
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
                config = dataclasses.replace(
                    config, listen_port=ports[0], http_port=ports[1], relay_port=ports[2]
                )
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


def _info(config: ConductorConfig, pki: ConductorPKI, ports: Ports) -> ConductorInfo:
    relay = None if ports[2] is None else f"http://{_host_port(config.http_host, ports[2])}"
    info = ConductorInfo(
        node_port=ports[0],
        http_url=client_url(f"http://{_host_port(config.http_host, ports[1])}"),
        relay_url=config.relay_url or (relay and client_url(relay)),
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
    task_status: trio.TaskStatus[Ports],
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
    tree, http = assemble(config, pki, store, now=time.time, is_leader=is_leader, gate=gate)
    # Restarted on a crash as the tree's child was (and as independent of it as then:
    # the routes reach the actors by the tree's stable refs).
    api = Supervisor([ChildSpec(name="http", factory=http)], max_restarts=5, max_seconds=30)
    # Alone on its store, it never steps down (it stops if another took its lease).
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
                    relay_url = await api.child("http").ask(GetRelayUrl())
                    relay_port = None if relay_url is None else server_port(relay_url)
                    task_status.started((node_port, server_port(http_url), relay_port))
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
    task_status: trio.TaskStatus[Ports],
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
        http=http_settings_of(config),
        leader_url=leader_url,
        handover=handover,
        task_status=task_status,
    )
