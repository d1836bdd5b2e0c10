"""A standby Conductor's two listeners: nodes are refused, API requests forwarded.

It listens where it will listen as the leader (the same node port and API port), so
nodes and clients that list it find it there either way:

- a node's hello is answered with a refusal that says why (this Conductor is a standby,
  and where the leader is); a node with several ``conductor_addr`` tries the next;
- the API forwards every request to the leader (:mod:`symphony.conductor.api.forward`);
- the relay port (services under ``/x/``) answers 503: a standby relays nothing, and a
  browser's visit goes to the leader's relay port (the link the leader makes says it).

When it takes over it hands over first: the requests it is forwarding are answered
(by the old leader, or else by a 503 or 502 that says the leader changed) before its
listeners close and the leader's open on the same ports.
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Callable

import trio

from symphony.actors import spawn
from symphony.httpd import ASGIReceiveCallable, ASGISendCallable, Message, Scope
from symphony.wire import HelloRejected, NodeConnection, serve_nodes
from symphony.wire.connection import CLOSE_POLICY_VIOLATION
from symphony.wire.hello import receive_hello

from .api import HttpServer, HttpSettings
from .api.roleheaders import answer_retry
from .api.server import GetRelayUrl, GetUrl, server_port

log = logging.getLogger("symphony.conductor.standby")

#: The refusal's first words: a node recognises a standby by them.
STANDBY_REFUSAL = "this Conductor is a standby"


def standby_refusal(leader_url: str | None) -> str:
    where = f"the leader's API is at {leader_url}" if leader_url else "no leader is known yet"
    return f"{STANDBY_REFUSAL} ({where}); try the next Conductor address"


async def refuse_node(conn: NodeConnection, *, leader_url: Callable[[], str | None]) -> None:
    """Answer one node's hello with the standby refusal and close the link."""
    await receive_hello(conn, timeout=5.0)
    reason = standby_refusal(leader_url())
    log.info("refused node link from %s: standby", conn.remote)
    await conn.send(HelloRejected(reason=reason))
    await conn.close(CLOSE_POLICY_VIOLATION, reason)


async def serve_standby(
    *,
    node_host: str | None,
    node_port: int,
    ssl_context: ssl.SSLContext,
    http: HttpSettings,
    leader_url: Callable[[], str | None],
    handover: trio.Event | None = None,
    task_status: trio.TaskStatus[tuple[int, int, int | None]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve as a standby; reports ``(node port, API port, relay port)`` once bound.

    Runs until cancelled, or until ``handover`` is set (this Conductor takes over):
    then the forwards in flight are answered (at most :data:`HANDOVER_GRACE` seconds
    for the old leader's answers, then the API's graceful stop), and it returns.
    """
    # Only a standby forwards: a leader does not keep httpx (~4.5 MiB) resident.
    import httpx

    from .api.forward import Forwarder

    # No read timeout: forwarded streams (log follow, /live) last as long as the client.
    timeout = httpx.Timeout(None, connect=5.0)
    async with httpx.AsyncClient(timeout=timeout) as client, trio.open_nursery() as nursery:
        bound = await nursery.start(
            functools.partial(
                serve_nodes,
                functools.partial(refuse_node, leader_url=leader_url),
                host=node_host,
                port=node_port,
                ssl_context=ssl_context,
            )
        )
        forwarder = Forwarder(leader_url, client)
        async with trio.open_nursery() as api:
            refusal = functools.partial(_refuse_service, leader_url)
            server = HttpServer(forwarder, http, relay_app=refusal)
            ref = await spawn(api, server, name="standby-http")
            url = await ref.ask(GetUrl())
            relay = await ref.ask(GetRelayUrl())
            log.info("standby: nodes on port %d are refused, API on %s forwards", bound, url)
            task_status.started((bound, server_port(url), relay and server_port(relay)))
            await (handover.wait() if handover is not None else trio.sleep_forever())
            # Every request in flight gets its answer while the listener is still open
            # (one that comes meanwhile is answered 503 at once), then the API stops
            # gracefully: this nursery ends when the server has.
            await forwarder.hand_over()
            await ref.stop()
        nursery.cancel_scope.cancel()  # the node listener


async def _refuse_service(
    leader_url: Callable[[], str | None],
    scope: Scope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
) -> None:
    """The standby's relay port: every service request is answered 503 (and a
    WebSocket's handshake too), naming the leader whose API makes working links."""
    leader = leader_url()
    where = f"the leader's API is at {leader}" if leader else "no leader is known yet"
    detail = f"a standby relays no services ({where}): run `symphony visit` again"
    if scope["type"] == "websocket":

        async def deny(message: Message) -> None:  # ASGI's websocket.http.response
            await send({**message, "type": "websocket." + message["type"]})

        await answer_retry(deny, 503, STANDBY_REFUSAL, detail)
    else:
        await answer_retry(send, 503, STANDBY_REFUSAL, detail)
