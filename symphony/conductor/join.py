"""Join tokens on the Conductor: create them, and enrol the nodes that present them.

A new node has no certificate, so it cannot use the mTLS link yet. It opens the one
resource the node endpoint offers a client without a certificate
(:data:`~symphony.wire.server.JOIN_WS_PATH`) and the exchange goes, one msgpack map
per binary WebSocket message::

    conductor -> node   {"t": "join_ca", "ca_pem": <bytes>}
    node -> conductor   {"t": "join_request", "token": str, "node_id": str, "csr_pem": <bytes>}
    conductor -> node   {"t": "join_ok", "cert_pem": <bytes>}
                     or {"t": "join_refused", "code": str, "reason": str}

The node checks the CA against the hash it was given, and the server's TLS certificate
against that CA, *before* it sends its token. ``code`` is ``invalid`` (malformed,
unknown or wrong token), ``expired``, ``used`` (a single-use token already spent) or
``bad_request`` (a malformed message, CSR or node id). The connection is closed after
the answer; the node then connects to the normal endpoint with its new certificate.

Order of the checks, so that a refused join changes nothing: the token is verified
against its stored hash, the CSR is signed into a certificate (in memory), and only
then is the token spent, atomically in the store (two nodes racing with one
single-use token cannot both win). Tokens never appear in a log line: only their id.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgpack
import trio
import trio_websocket

from symphony.pki import (
    CertificateAuthority,
    CertificateError,
    JoinToken,
    JoinTokenError,
    JoinTokenExpired,
    JoinTokenInvalid,
    JoinTokenUsed,
    issue_node_certificate,
    new_join_token,
    parse_join_token,
    verify_join_token,
)
from symphony.wire import ProtocolError

from .store import Store

__all__ = ["CreatedToken", "JoinRequest", "JoinService", "parse_join_request", "refusal_code"]

log = logging.getLogger("symphony.conductor.join")

#: Longest a token may live: a join token is a short-lived secret, not a credential.
MAX_TOKEN_TTL = 30 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """What a joining node sends: its token, the id it wants, and a CSR for that id."""

    token: str = ""
    node_id: str = ""
    csr_pem: bytes = b""

    def __repr__(self) -> str:  # the token is a secret: keep it out of every repr
        return f"JoinRequest(node_id={self.node_id!r}, csr_pem=<{len(self.csr_pem)} bytes>)"


@dataclass(frozen=True, slots=True)
class CreatedToken:
    """A new token: ``token`` is shown once to the operator and never stored."""

    token: str
    id: str
    expires_at: float
    single_use: bool
    ca_fingerprint: str

    def __repr__(self) -> str:
        return f"CreatedToken(id={self.id!r}, expires_at={self.expires_at}, ...)"


def parse_join_request(data: bytes | str) -> JoinRequest:
    """Decode and validate a ``join_request`` message; :class:`ProtocolError` if malformed."""
    if isinstance(data, str):
        raise ProtocolError("the join exchange uses binary frames only")
    try:
        msg = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError(f"join request is not valid msgpack: {type(exc).__name__}") from None
    if not isinstance(msg, dict) or msg.get("t") != "join_request":
        raise ProtocolError("expected a join_request map")
    for key, kind in (("token", str), ("node_id", str), ("csr_pem", bytes)):
        if not isinstance(msg.get(key), kind):
            raise ProtocolError(f"join_request.{key}: expected {kind.__name__}")
    return JoinRequest(msg["token"], msg["node_id"], msg["csr_pem"])


def refusal_code(error: Exception) -> str:
    """The wire ``code`` of a refusal (the node turns it back into the same exception)."""
    if isinstance(error, JoinTokenExpired):
        return "expired"
    if isinstance(error, JoinTokenUsed):
        return "used"
    if isinstance(error, JoinTokenError):
        return "invalid"
    return "bad_request"


def _pki_record(store: Store, token_id: str) -> JoinToken:
    record = store.get_join_token(token_id)
    if record is None:
        raise JoinTokenInvalid(
            "unknown join token (never created here, deleted, or from another conductor)"
        )
    return JoinToken(
        id=record.id,
        secret_hash=record.secret_hash,
        expires_at=math.inf if record.expires_at is None else record.expires_at,
        single_use=record.single_use,
        used_at=record.used_at,
    )


class JoinService:
    """Creates join tokens and serves the join exchange for one Conductor.

    ``node_port`` is an async callable giving the node endpoint's bound port and
    ``advertise`` the host nodes should dial; both only shape the ready-to-paste
    ``symphony node --join`` line. Store calls never await, so each enrolment is
    atomic with respect to the event loop.
    """

    def __init__(
        self,
        *,
        ca: CertificateAuthority,
        store: Store,
        advertise: str | None = None,
        node_port: Callable[[], Awaitable[int | None]] | None = None,
        clock: Callable[[], float] = time.time,
        cert_valid_days: int = 365,
        exchange_timeout: float = 10.0,
    ) -> None:
        self.ca = ca
        self.store = store
        self.advertise = advertise
        self.node_port = node_port
        self.clock = clock
        self.cert_valid_days = cert_valid_days
        self.exchange_timeout = exchange_timeout
        self.ca_fingerprint = ca.fingerprint
        self._ca_pem = ca.cert_pem

    def create_token(self, *, ttl: float, single_use: bool = True) -> CreatedToken:
        """Create and store a token valid ``ttl`` seconds (at most :data:`MAX_TOKEN_TTL`)."""
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        if ttl > MAX_TOKEN_TTL:
            raise ValueError(f"ttl must be at most {MAX_TOKEN_TTL:.0f} seconds (30 days)")
        token, record = new_join_token(ttl, single_use=single_use, now=self.clock())
        self.store.add_join_token(
            record.id, record.secret_hash, expires_at=record.expires_at, single_use=single_use
        )
        log.info(
            "created %s join token %s, valid until %s",
            "single-use" if single_use else "reusable",
            record.id,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.expires_at)),
        )
        return CreatedToken(token, record.id, record.expires_at, single_use, self.ca_fingerprint)

    def enroll(self, request: JoinRequest) -> bytes:
        """Check the token, sign the CSR, spend the token; returns the certificate PEM.

        Raises a :class:`JoinTokenError` subclass or :class:`CertificateError`; on any
        error nothing has changed (the token is not spent).
        """
        token_id, _ = parse_join_token(request.token)
        verify_join_token(request.token, _pki_record(self.store, token_id), now=self.clock())
        cert_pem = issue_node_certificate(
            self.ca, request.csr_pem, request.node_id, valid_days=self.cert_valid_days
        )
        if self.store.use_join_token(token_id) is None:
            # Lost a race (or expired in between): say precisely why.
            verify_join_token(request.token, _pki_record(self.store, token_id), now=self.clock())
            raise JoinTokenUsed(f"join token {token_id} was already used (it was single-use)")
        return cert_pem

    async def serve(self, ws: trio_websocket.WebSocketConnection, remote: str) -> None:
        """Run the join exchange on ``ws`` (the wire server's ``join_handler``)."""
        with trio.move_on_after(self.exchange_timeout) as scope:
            await ws.send_message(msgpack.packb({"t": "join_ca", "ca_pem": self._ca_pem}))
            data = await ws.get_message()
            try:
                request = parse_join_request(data)
            except ProtocolError as error:
                await self._refuse(ws, remote, None, error)
                return
            try:
                cert_pem = self.enroll(request)
            except (JoinTokenError, CertificateError) as error:
                await self._refuse(ws, remote, request.node_id, error)
                return
            token_id = parse_join_token(request.token)[0]
            log.info(
                "node %r joined from %s with join token %s; issued its certificate",
                request.node_id,
                remote,
                token_id,
            )
            await ws.send_message(msgpack.packb({"t": "join_ok", "cert_pem": cert_pem}))
        if scope.cancelled_caught:
            log.warning(
                "join from %s: exchange not done within %ss, closing",
                remote,
                self.exchange_timeout,
            )

    @staticmethod
    async def _refuse(
        ws: trio_websocket.WebSocketConnection, remote: str, node: str | None, error: Exception
    ) -> None:
        # The node id is the peer's unchecked input: bound what goes into the log.
        shown = "?" if node is None else repr(node[:80])
        log.warning("refused join from %s (node %s): %s", remote, shown, error)
        answer = {"t": "join_refused", "code": refusal_code(error), "reason": str(error)}
        await ws.send_message(msgpack.packb(answer))

    async def join_addr(self, request_host: str) -> str | None:
        """``HOST:PORT`` nodes should pass to ``--join``, or None if the port is unknown."""
        port = await self.node_port() if self.node_port is not None else None
        if port is None:
            return None
        host = self.advertise or request_host
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
