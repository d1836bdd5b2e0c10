"""ConductorLink: the node's one outbound connection to the Conductor.

It connects (TCP + TLS with our client certificate + WebSocket), says hello with what
the node offers and what it already runs, then keeps three things going until the link
drops: heartbeats every ``heartbeat_sec`` carrying the node's usage (from protocol 3
also each live instance's CPU% and RSS), batched instance status updates, and the
commands the Conductor sends (start, stop, logs). When the link
drops, or cannot be made, it waits per its :class:`~symphony.actors.Backoff` (with
jitter, so a thousand nodes do not reconnect in step) and tries again, forever.

Jobs keep running while the link is down; statuses queue up (bounded) and go out after
the next hello, followed by the hello's own list again so that the current state has the
last word (see :meth:`ConductorLink._replay_after_hello`).
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from symphony.actors import Actor, ActorRef, Backoff, sole_exception
from symphony.wire import (
    MAX_USAGE_INSTANCES,
    NODE_MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    ConductorConnection,
    EncodeError,
    FrameTooLarge,
    Heartbeat,
    Hello,
    HelloAccepted,
    HelloRefused,
    InstanceSecrets,
    InstanceStatus,
    InstanceUsage,
    LinkError,
    LogCancel,
    LogChunk,
    LogCredit,
    LogRequest,
    Message,
    OpenStream,
    ProtocolError,
    StartInstance,
    StatusBatch,
    StopInstance,
    TLSRejected,
    UploadData,
    client_hello,
    connect_to_conductor,
)
from symphony.wire.usagedelta import UsageSender

from .logwindow import LogRequests
from .relay import NodeRelay
from .resources import GetStatic, GetUsage
from .uploadlink import UploadReads

log = logging.getLogger("symphony.node.link")

#: Status updates kept while disconnected; past this the oldest are dropped (the hello
#: after reconnecting carries every instance's current state anyway).
MAX_PENDING_STATUSES = 10_000
#: Updates per frame: big enough to amortize TLS and framing, small enough to stay far
#: below the frame size limit.
STATUS_BATCH = 500
#: Seconds a node leaves between two status frames. An update after a quiet spell leaves
#: at once; what follows within the gap waits and leaves together in the next frame. A
#: crash-looping job is four updates per restart, hundreds of restarts a second: one frame
#: (and one transaction on the Conductor) each cost the node and the Conductor about a
#: millisecond per restart, on the cores the restarted jobs need.
STATUS_GAP = 0.02
#: Seconds between rounds of the Conductor list while a standby refuses the link (with
#: 20 % jitter): a leader is expected within its lease.
STANDBY_RETRY = 1.0


class Jobs(Protocol):
    """What the link needs from the node's process layer."""

    async def reports(self) -> list[InstanceStatus]:
        """The current state of every instance the node knows (for the hello)."""

    async def start(self, command: StartInstance) -> None:
        """Start an instance (idempotent for an instance already running)."""

    async def stop(self, command: StopInstance) -> None:
        """Stop an instance (idempotent)."""

    def keep_secrets(self, command: InstanceSecrets) -> None:
        """Hold an instance's secret values (in memory), unless it holds them already."""

    async def serve_logs(
        self, request: LogRequest, send: Callable[[LogChunk], Awaitable[None]]
    ) -> None:
        """Send the requested log lines as chunks, ending with an ``eof`` chunk."""

    async def usage(self) -> list[InstanceUsage]:
        """CPU% and RSS of every live instance, for the next heartbeat."""

    async def envs(self) -> tuple[str, ...]:
        """The names of the node's environments (for ``config.env_name``), sorted."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkSettings:
    """Where the Conductor is and who this node is."""

    host: str
    port: int
    ssl_context: ssl.SSLContext
    node_id: str
    groups: tuple[str, ...] = ()
    capacities_total: dict[str, int] = field(default_factory=dict)
    heartbeat_sec: float = 3.0
    incarnation: str | None = None  # see symphony.node.incarnation
    #: More Conductors to try, in order, after ``host:port`` (a leader and standbys).
    alternates: tuple[tuple[str, int], ...] = ()
    # Told in the hello's resources (``network``): where experiments' processes bind.
    network: dict[str, Any] = field(default_factory=dict)
    server_hostname: str | None = None
    connect_timeout: float = 10.0
    hello_timeout: float = 10.0
    backoff: Backoff = field(
        default_factory=lambda: Backoff(
            initial=0.5, factor=2.0, max=30.0, jitter=0.2, reset_after=30.0
        )
    )
    #: After a link that was up drops, the first retry waits a random 0..this many
    #: seconds (at least the backoff's delay): a fleet that lost its Conductor at the
    #: same instant (a restart) comes back spread out, not in one storm.
    reconnect_spread: float = 3.0


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """Answer to :class:`GetLinkStatus`: how the link is doing."""

    state: str  # "connecting" | "connected" | "waiting"
    connected_since: float | None
    connects: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class GetLinkStatus:
    """Ask: the link's :class:`LinkStatus` now."""


class ConductorLink(Actor):
    """Keeps the node connected; see the module docstring.

    Tell it :class:`InstanceStatus` updates (or a :class:`StatusBatch` of them) to
    forward; ask it ``"status"``.
    """

    def __init__(
        self,
        settings: LinkSettings,
        resources: ActorRef,
        jobs: Jobs | None = None,
        uploads: UploadReads | None = None,
        relay: NodeRelay | None = None,
    ) -> None:
        super().__init__()
        #: Relayed streams (protocol 5): answered on connections of their own.
        self.relay = relay
        #: Reads of uploaded archives ride on this link (see ``uploadlink.py``).
        self.uploads = uploads if uploads is not None else UploadReads()
        self.settings = settings
        self.resources = resources
        self.jobs = jobs
        self._pending: deque[InstanceStatus] = deque(maxlen=MAX_PENDING_STATUSES)
        self._pending_changed = trio.Event()
        self._envs: tuple[str, ...] = ()  # as last reported to the Conductor
        self._state = "connecting"
        self._connected_since: float | None = None
        self._connects = 0
        self._last_error: str | None = None

    async def on_start(self) -> None:
        self.nursery.start_soon(self._connect_forever)

    async def receive(self, message: Any) -> Any:
        if isinstance(message, InstanceStatus):
            self._pending.append(message)
            self._pending_changed.set()
            return None
        if isinstance(message, StatusBatch):  # emitted together: they leave together
            self._pending.extend(message.updates)
            self._pending_changed.set()
            return None
        if isinstance(message, GetLinkStatus):
            return LinkStatus(self._state, self._connected_since, self._connects, self._last_error)
        raise TypeError(f"ConductorLink does not handle {message!r}")

    # ---- connecting -----------------------------------------------------------------------
    async def _connect_forever(self) -> None:
        """Connect, and after each end of a link try the next address of the list.

        With several Conductors (one leader, standbys refusing nodes) a refusal or a
        failure moves on to the next address at once; the backoff delay comes only after
        a whole round of the list failed, so a failover costs one round, not a backoff.
        """
        s = self.settings
        addresses = ((s.host, s.port), *s.alternates)
        backoff = s.backoff.tracker()
        index, tried, standby = 0, 0, False
        while True:
            self._state = "connecting"
            host, port = addresses[index]
            began, connects = trio.current_time(), self._connects
            try:
                await self._connect_once(host, port)
            except TLSRejected as error:
                self._failed(host, port, f"TLS rejected: {error}", logging.ERROR)
            except HelloRefused as error:
                # A standby's refusal is expected while another Conductor leads.
                is_standby = len(addresses) > 1 and "standby" in str(error)
                standby = standby or is_standby
                level = logging.INFO if is_standby else logging.ERROR
                self._failed(host, port, str(error), level)  # says who refused it
            except ProtocolError as error:
                self._failed(host, port, f"protocol error: {error}", logging.ERROR)
            except (LinkError, OSError) as error:
                self._failed(host, port, str(error) or type(error).__name__, logging.WARNING)
            self._state, self._connected_since = "waiting", None
            backoff.observe_run(trio.current_time() - began)
            was_up = self._connects != connects
            tried = 1 if was_up else tried + 1
            index = (index + 1) % len(addresses)
            if tried < len(addresses):
                continue  # the rest of the list first
            tried = 0
            # A standby answered: a failover is under way, and the new leader is up
            # within the lease. Come back soon, without growing the backoff.
            delay = STANDBY_RETRY * random.uniform(0.8, 1.2) if standby else backoff.next_delay()
            standby = False
            if was_up:  # the link was up: spread the fleet's retries (a restart)
                delay = max(delay, random.uniform(0.0, s.reconnect_spread))
            log.info("reconnecting to %s:%d in %.2f s", *addresses[index], delay)
            await trio.sleep(delay)

    def _failed(self, host: str, port: int, error: str, level: int) -> None:
        self._last_error = error
        log.log(level, "link to conductor %s:%d: %s", host, port, error)

    async def _connect_once(self, host: str, port: int) -> None:
        s = self.settings
        async with connect_to_conductor(
            host,
            port,
            s.ssl_context,
            timeout=s.connect_timeout,
            server_hostname=s.server_hostname,
        ) as conn:
            hello = await self._hello()
            queued = len(self._pending)  # updates no newer than the hello's list
            accepted = await client_hello(conn, hello, timeout=s.hello_timeout)
            self._state, self._connected_since = "connected", trio.current_time()
            self._connects += 1
            self._last_error = None
            self._replay_after_hello(queued, hello.instances)
            if self.relay is not None:
                self.relay.conductor_version = accepted.protocol_version
            log.info(
                "connected to conductor %s:%d as %r (heartbeat every %g s)",
                host,
                port,
                s.node_id,
                accepted.heartbeat_sec,
            )
            await self._session(conn, accepted)

    def _replay_after_hello(self, queued: int, current: tuple[InstanceStatus, ...]) -> None:
        """Order what goes out after a hello: history, current state, newer updates.

        The hello carries each instance's current state only. The updates queued while
        disconnected are its history (a run that exited and was restarted meanwhile
        shows only as ``running`` in the hello), and the Conductor records every exit
        from them: they go first, then the hello's list once more, so that the current
        state has the last word, then the updates that are newer than the hello.
        """
        history = [self._pending.popleft() for _ in range(min(queued, len(self._pending)))]
        newer = list(self._pending)
        self._pending.clear()
        if history:
            self._pending.extend(history)
            self._pending.extend(current)
        self._pending.extend(newer)
        if self._pending:
            self._pending_changed.set()

    async def _hello(self) -> Hello:
        s = self.settings
        static = await self.resources.ask(GetStatic(), timeout=10)
        instances = await self.jobs.reports() if self.jobs is not None else []
        self._envs = await self.jobs.envs() if self.jobs is not None else ()
        return Hello(
            protocol_version=PROTOCOL_VERSION,
            node_id=s.node_id,
            groups=s.groups,
            capacities_total=dict(s.capacities_total),
            resources={**static, "network": s.network} if s.network else static,
            instances=tuple(instances),
            heartbeat_sec=s.heartbeat_sec,
            # A Conductor older than us refuses this range with "upgrade this side":
            # the Conductor is upgraded first (it still accepts older nodes).
            min_protocol_version=NODE_MIN_PROTOCOL_VERSION,
            incarnation=s.incarnation,
            envs=self._envs,
            # A Jobs without containers (an embedding's own) reports none.
            container_runtimes=getattr(self.jobs, "container_runtimes", ()),
        )

    # ---- one connected session ------------------------------------------------------------
    async def _session(self, conn: ConductorConnection, accepted: HelloAccepted) -> None:
        log_requests = LogRequests(conn)
        if accepted.protocol_version >= 4:  # older conductors keep no uploads
            self.uploads.attach(conn)
        try:
            await self._run_session(conn, accepted, log_requests)
        finally:
            self.uploads.attach(None)

    async def _run_session(
        self, conn: ConductorConnection, accepted: HelloAccepted, log_requests: LogRequests
    ) -> None:
        async with trio.open_nursery() as nursery:
            deltas = UsageSender(deltas=accepted.protocol_version >= 5)
            nursery.start_soon(self._heartbeats, conn, accepted.heartbeat_sec, deltas)
            nursery.start_soon(self._send_statuses, conn)
            try:
                while True:
                    received = await conn.receive()
                    for msg in received if isinstance(received, list) else (received,):
                        await self._command(conn, msg, nursery, log_requests)
            finally:
                nursery.cancel_scope.cancel()

    async def _command(
        self,
        conn: ConductorConnection,
        msg: Message,
        nursery: trio.Nursery,
        log_requests: LogRequests,
    ) -> None:
        if isinstance(msg, StartInstance | StopInstance):
            if self.jobs is None:
                log.warning("no process layer: ignoring %s", type(msg).__name__)
            elif isinstance(msg, StartInstance):
                await self.jobs.start(msg)
            else:
                await self.jobs.stop(msg)
        elif isinstance(msg, InstanceSecrets):
            if self.jobs is not None:
                self.jobs.keep_secrets(msg)
        elif isinstance(msg, LogRequest):
            nursery.start_soon(self._serve_logs, msg, log_requests)
        elif isinstance(msg, LogCancel):
            log_requests.cancel(msg.request_id)
        elif isinstance(msg, LogCredit):
            log_requests.credit(msg.request_id, msg.bytes)
        elif isinstance(msg, UploadData):
            self.uploads.deliver(msg)
        elif isinstance(msg, OpenStream):
            if self.relay is None:
                log.warning("no relay on this node: ignoring stream %s", msg.stream_id)
            else:
                self.relay.open(msg)  # in the relay's own tasks: never holds this loop
        else:
            raise ProtocolError(f"the conductor may not send {type(msg).__name__} here")

    async def _serve_logs(self, request: LogRequest, log_requests: LogRequests) -> None:
        async with log_requests.serving(request) as send:
            if self.jobs is None:
                reason = "no process layer on this node"
                await send(LogChunk(request_id=request.request_id, eof=True, reason=reason))
                return
            try:
                await self.jobs.serve_logs(request, send)
            except Exception as error:
                if isinstance(sole_exception(error), LinkError):
                    raise  # the connection itself (a follow wraps it): the session is over
                # In the session's nursery: what escaped would end the link, and every
                # other request, heartbeat and command with it. A log that cannot be
                # read (an OSError from its file) fails this request only, saying why.
                log.warning("log request %s failed: %r", request.request_id, error)
                reason = f"cannot read the log: {error}"
                await send(LogChunk(request_id=request.request_id, eof=True, reason=reason))

    async def _heartbeats(
        self, conn: ConductorConnection, interval: float, deltas: UsageSender
    ) -> None:
        seq = 0
        next_at = trio.current_time()
        while True:
            usage = await self.resources.ask(GetUsage(), timeout=max(interval, 1.0))
            # Every Conductor this node speaks to is version 3 or newer (see
            # NODE_MIN_PROTOCOL_VERSION), so the instances' usage always goes along.
            instances = await self._instance_usage(interval)
            envs = self._envs
            with trio.move_on_after(max(interval, 1.0)):  # liveness never waits for conda
                envs = await self.jobs.envs() if self.jobs is not None else ()
            changed = envs if envs != self._envs else None  # sent only when they change
            self._envs = envs
            # sent_at (wall clock): GET /nodes shows it beside last_heartbeat (when the
            # Conductor took it), so a heartbeat's delay on its way can be seen.
            usage = {**usage, "sent_at": time.time()}
            usage, delta = deltas.next(usage)  # from protocol 5: only what changed
            beat = Heartbeat(seq=seq, usage=usage, instances=instances, envs=changed, delta=delta)
            await conn.send(beat)
            seq += 1
            # Anchor to the schedule, not to "now": no drift over hours.
            next_at = max(next_at + interval, trio.current_time())
            await trio.sleep_until(next_at)

    async def _instance_usage(self, interval: float) -> tuple[InstanceUsage, ...] | None:
        """Each live instance's usage, or None when the process layer cannot say soon:
        liveness must not wait for it (a monitor being replaced holds the list back)."""
        if self.jobs is None:
            return ()
        with trio.move_on_after(max(interval / 2, 0.5)):
            found = tuple(await self.jobs.usage())
            # Past the wire's bound the list would fail the whole frame: say nothing.
            return found if len(found) <= MAX_USAGE_INSTANCES else None
        log.debug("no instance usage in this heartbeat: the process layer is busy")
        return None

    async def _send_statuses(self, conn: ConductorConnection) -> None:
        sent_at = -float("inf")
        while True:
            await self._pending_changed.wait()
            # Paced (see STATUS_GAP); a cancel while waiting loses nothing: the updates
            # stay queued for the next link's hello.
            await trio.sleep_until(sent_at + STATUS_GAP)
            self._pending_changed = trio.Event()
            while self._pending:
                count = await self._send_some(conn, min(len(self._pending), STATUS_BATCH))
                for _ in range(count):
                    self._pending.popleft()  # only once sent: a drop keeps them queued
            sent_at = trio.current_time()

    async def _send_some(self, conn: ConductorConnection, count: int) -> int:
        """Send the first ``count`` queued updates, or as many of them as one frame can
        carry; how many left the queue (sent, or dropped as unsendable).

        A frame that cannot be made sends nothing. Kept queued, it went first again after
        every hello and ended every link: one bad update wedged them all. So a batch too
        big for a frame is halved until a part fits, and an update that cannot be
        encoded even alone (a string UTF-8 cannot carry) is dropped, saying so.
        """
        while True:
            updates = tuple(self._pending[i] for i in range(count))
            try:
                await conn.send(StatusBatch(updates=updates))
                return count
            except (EncodeError, FrameTooLarge) as error:
                if count == 1:
                    log.error("not sending a status of %s: %s", updates[0].instance_id, error)
                    return 1
                count = (count + 1) // 2


__all__ = ["ConductorLink", "Jobs", "LinkSettings", "LinkStatus"]
