"""Join tokens on the Conductor: create them, and enrol the nodes that present them.

A new node has no certificate, so it cannot use the mTLS link yet. It opens the one
resource the node endpoint offers a client without a certificate
(:data:`~symphony.wire.server.JOIN_WS_PATH`) and runs the exchange whose typed
messages are in :mod:`symphony.wire.join`: the Conductor sends ``JoinCA``, the node
answers ``JoinRequest``, the Conductor ``JoinOk`` or ``JoinRefused``. The node checks
the CA against the hash it was given, and the server's TLS certificate against that
CA, *before* it sends its token. The connection is closed after the answer; the node
then connects to the normal endpoint with its new certificate.

Order of the checks, so that a refused join changes nothing: the token is verified
against its stored hash, the request against what the token binds
(:mod:`symphony.conductor.binding`), the CSR is signed into a certificate (in memory),
and only then is the token spent and its binding given to the node id, atomically in
the store (two nodes racing with one single-use token cannot both win). In that same
transaction a node id that is enrolled already (it joined, or a node said hello as it)
is refused unless the token is bound to that very id: a token for new nodes cannot
take over a running node's name, its jobs and a certificate for it. Tokens never
appear in a log line: only their id.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from symphony.pki import (
    CertificateAuthority,
    CertificateError,
    JoinToken,
    JoinTokenError,
    JoinTokenInvalid,
    JoinTokenUsed,
    new_join_token,
    parse_join_token,
    verify_join_token,
)
from symphony.wire import Hello, Message, ProtocolError, WireConnection
from symphony.wire.errors import JoinNotAllowed, NodeIdEnrolled
from symphony.wire.join import JoinCA, JoinOk, JoinRefused, JoinRequest, refusal_code

from .binding import JoinBinding
from .store import AlreadyExists, Store

__all__ = ["CreatedToken", "JoinService", "parse_join_request"]

log = logging.getLogger("symphony.conductor.join")

#: Longest a token may live: a join token is a short-lived secret, not a credential.
MAX_TOKEN_TTL = 30 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class CreatedToken:
    """A new token: ``token`` is shown once to the operator and never stored."""

    token: str
    id: str
    expires_at: float
    single_use: bool
    ca_fingerprint: str
    binding: JoinBinding | None = None

    def __repr__(self) -> str:
        return f"CreatedToken(id={self.id!r}, expires_at={self.expires_at}, ...)"


def parse_join_request(received: Message | list[Message]) -> JoinRequest:
    """The one message a joining node may send; :class:`ProtocolError` for anything else."""
    if not isinstance(received, JoinRequest):
        got = "a batch" if isinstance(received, list) else type(received).__name__
        raise ProtocolError(f"expected a join_request, got {got}")
    return received


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

    def create_token(
        self, *, ttl: float, single_use: bool = True, binding: JoinBinding | None = None
    ) -> CreatedToken:
        """Create and store a token valid ``ttl`` seconds (at most :data:`MAX_TOKEN_TTL`)
        that lets a node claim only what ``binding`` allows (None: anything)."""
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        if ttl > MAX_TOKEN_TTL:
            raise ValueError(f"ttl must be at most {MAX_TOKEN_TTL:.0f} seconds (30 days)")
        token, record = new_join_token(ttl, single_use=single_use, now=self.clock())
        self.store.add_join_token(
            record.id,
            record.secret_hash,
            expires_at=record.expires_at,
            single_use=single_use,
            binding=binding,
        )
        log.info(
            "created %s join token %s, valid until %s",
            "single-use" if single_use else "reusable",
            record.id,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.expires_at)),
        )
        return CreatedToken(
            token, record.id, record.expires_at, single_use, self.ca_fingerprint, binding
        )

    def enroll(self, request: JoinRequest) -> bytes:
        """Check the token, sign the CSR, spend the token; returns the certificate PEM.

        Raises a :class:`JoinTokenError` subclass or :class:`CertificateError`; on any
        error nothing has changed (the token is not spent).
        """
        token_id, _ = parse_join_token(request.token)
        verify_join_token(request.token, _pki_record(self.store, token_id), now=self.clock())
        stored = self.store.get_join_token(token_id)
        binding = stored.binding if stored is not None else None
        if binding is not None:
            refusal = binding.refusal(request.node_id, request.groups, request.capacities)
            if refusal is not None:
                raise JoinNotAllowed(f"join token {token_id} does not allow this node: {refusal}")
        # Signing needs ``cryptography``: loaded here, at a node's first join, not at start.
        from symphony.pki import issue_node_certificate

        cert_pem = issue_node_certificate(
            self.ca, request.csr_pem, request.node_id, valid_days=self.cert_valid_days
        )
        # Only a token that names the id may enrol it again (a machine rebuilt): any
        # other would let its holder take over a running node's name and its jobs.
        names_node = binding is not None and binding.node_id == request.node_id
        try:
            used = self.store.use_join_token(token_id, request.node_id, new_node=not names_node)
        except AlreadyExists:
            raise NodeIdEnrolled(
                f"node id {request.node_id!r} is enrolled already, and join token "
                f"{token_id} does not name it (only a token bound to a node id enrols "
                "it again)"
            ) from None
        if used is None:
            # Lost a race (or expired in between): say precisely why.
            verify_join_token(request.token, _pki_record(self.store, token_id), now=self.clock())
            raise JoinTokenUsed(f"join token {token_id} was already used (it was single-use)")
        return cert_pem

    async def serve(self, conn: WireConnection, remote: str) -> None:
        """Run the join exchange on ``conn`` (the wire server's ``join_handler``)."""
        with trio.move_on_after(self.exchange_timeout) as scope:
            await conn.send(JoinCA(ca_pem=self._ca_pem))
            try:
                request = parse_join_request(await conn.receive())
            except ProtocolError as error:
                await self._refuse(conn, remote, None, error)
                return
            try:
                cert_pem = self.enroll(request)
            except (JoinTokenError, CertificateError) as error:
                await self._refuse(conn, remote, request.node_id, error)
                return
            token_id = parse_join_token(request.token)[0]
            log.info(
                "node %r joined from %s with join token %s; issued its certificate",
                request.node_id,
                remote,
                token_id,
            )
            await conn.send(JoinOk(cert_pem=cert_pem))
        if scope.cancelled_caught:
            log.warning(
                "join from %s: exchange not done within %ss, closing",
                remote,
                self.exchange_timeout,
            )

    @staticmethod
    async def _refuse(
        conn: WireConnection, remote: str, node: str | None, error: Exception
    ) -> None:
        # The node id is the peer's unchecked input: bound what goes into the log.
        shown = "?" if node is None else repr(node[:80])
        log.warning("refused join from %s (node %s): %s", remote, shown, error)
        await conn.send(JoinRefused(code=refusal_code(error), reason=str(error)[:4096]))

    def hello_refusal(self, node_id: str, hello: Hello) -> str | None:
        """Why the certificate of ``node_id`` may not send ``hello``, or None: the binding
        of the token it joined with holds at every hello, not only at the join."""
        binding = self.store.get_node_binding(node_id)
        if binding is None:
            return None
        refusal = binding.refusal(hello.node_id, hello.groups, hello.capacities_total)
        if refusal is None:
            return None
        return f"the join token this node joined with does not allow it: {refusal}"

    async def join_addr(self, request_host: str) -> str | None:
        """``HOST:PORT`` nodes should pass to ``--join``, or None if the port is unknown."""
        port = await self.node_port() if self.node_port is not None else None
        if port is None:
            return None
        host = self.advertise or request_host
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
