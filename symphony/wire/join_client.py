"""The node's side of the join exchange (see :mod:`symphony.wire.join` for its messages).

It connects with the link's own connect code (:func:`~symphony.wire.client.open_link`:
the same fast, specific errors for a refused TCP connect, a TLS failure or a server
that hangs up), to the join resource instead of the node resource, and with a
context that verifies nothing during the handshake, since the node has no CA yet.
``verify(ca_pem, server_cert_der)`` must raise unless the CA it was sent is the one
the node pinned and the server's certificate was issued by it: it runs before the
token is sent, so a wrong address or someone in between learns nothing secret.

>>> cert_pem, ca_pem = await request_certificate(                    # doctest: +SKIP
...     "conductor.example", 50051, enrollment_ssl_context(), request, verify=check)
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TypeVar

from .client import open_link
from .errors import CertificateError, ConnectionClosed, TLSRejected, TransportError
from .join import JoinCA, JoinOk, JoinRefused, JoinRequest, refusal_error
from .messages import Message
from .server import JOIN_MAX_MESSAGE_SIZE, JOIN_WS_PATH

__all__ = ["request_certificate"]

Verify = Callable[[bytes, bytes | None], None]
M = TypeVar("M", bound=Message)


def _no_join(where: str, error: BaseException | None) -> TLSRejected:
    return TLSRejected(
        f"the conductor at {where} closed the join connection: it does not let nodes "
        "join on this endpoint (an older conductor, or not a Symphony node endpoint)"
    )


async def request_certificate(
    host: str,
    port: int,
    ssl_context: ssl.SSLContext,
    request: JoinRequest,
    *,
    verify: Verify,
    timeout: float = 10.0,
) -> tuple[bytes, bytes]:
    """Run the join exchange; returns ``(certificate PEM, CA PEM)``.

    Raises the Conductor's refusal as its own class (:class:`JoinTokenUsed`, ...),
    whatever ``verify`` raises, or a :class:`TransportError`. ``timeout`` bounds the
    connect; bound the whole exchange with ``trio.fail_after`` around the call.
    """
    where = f"{host}:{port}"
    async with open_link(
        host,
        port,
        ssl_context,
        timeout=timeout,
        path=JOIN_WS_PATH,
        max_frame_size=JOIN_MAX_MESSAGE_SIZE,
        rejected=_no_join,
    ) as (conn, tls):
        try:
            offer = _expect(await conn.receive(), JoinCA)
            verify(offer.ca_pem, tls.getpeercert(binary_form=True))
            await conn.send(request)
            answer = await conn.receive()
        except ConnectionClosed as closed:
            raise TransportError(
                f"the conductor at {where} closed the join connection early ({closed})"
            ) from None
    if isinstance(answer, JoinRefused):
        raise refusal_error(answer)
    return _expect(answer, JoinOk).cert_pem, offer.ca_pem


def _expect(received: Message | list[Message], kind: type[M]) -> M:
    if not isinstance(received, kind):
        got = type(received).__name__
        raise CertificateError(f"unexpected answer from the conductor: {got}, not {kind.__name__}")
    return received
