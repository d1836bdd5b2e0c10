"""The join exchange's messages: how a node without a certificate gets one.

A new node opens the one resource the node endpoint offers a client without a
certificate (:data:`~symphony.wire.server.JOIN_WS_PATH`); one message per binary
WebSocket frame, encoded and validated by :mod:`symphony.wire.codec` like every other
message of the protocol::

    conductor -> node   JoinCA        the CA certificate (the node checks its hash)
    node -> conductor   JoinRequest   token, node id, CSR; groups and capacities (v3)
    conductor -> node   JoinOk        the node's certificate
                     or JoinRefused  code and reason

``JoinRefused.code`` is ``invalid`` (malformed, unknown or wrong token), ``expired``,
``used`` (a single-use token already spent), ``not_allowed`` (a node id, group or
capacity the token does not allow; version 3), ``enrolled`` (the node id is enrolled
already and the token does not name it) or ``bad_request`` (a malformed message, CSR
or node id). A node reads a code it does not know as a token problem, with the
Conductor's reason. Both ends map codes to exceptions with :func:`refusal_code` and
:func:`refusal_error`, so a refusal is raised on the node as the very class the
Conductor refused with.

``JoinRequest.groups`` and ``capacities`` (protocol 3) are what the node will offer
once joined. A Conductor checks them against what the token binds and refuses at
once rather than after issuing a certificate; a version-2 node sends neither, and
its first hello is checked instead (the Conductor checks every hello anyway).
"""

from __future__ import annotations

from typing import Annotated, Literal

from .errors import (
    CertificateError,
    JoinNotAllowed,
    JoinTokenError,
    JoinTokenExpired,
    JoinTokenInvalid,
    JoinTokenUsed,
    LinkError,
    NodeIdEnrolled,
)
from .messages import Capacity, ClassName, GroupName, Message, NodeId, Text, message
from .schema import MaxLen, MinLen

__all__ = [
    "JoinCA",
    "JoinOk",
    "JoinRefused",
    "JoinRequest",
    "RefusalCode",
    "refusal_code",
    "refusal_error",
]

# PEM certificates and CSRs are under 2 KiB; a token is ~60 characters.
Pem = Annotated[bytes, MinLen(1), MaxLen(16 * 1024)]
Token = Annotated[str, MaxLen(512)]
RefusalCode = Literal["invalid", "expired", "used", "not_allowed", "enrolled", "bad_request"]

_ERRORS: dict[str, type[LinkError]] = {
    "expired": JoinTokenExpired,
    "used": JoinTokenUsed,
    "not_allowed": JoinNotAllowed,
    "enrolled": NodeIdEnrolled,
    "invalid": JoinTokenInvalid,
    "bad_request": CertificateError,
}


@message("join_ca")
class JoinCA(Message):
    """Conductor -> node, first: the CA that will sign the node's certificate."""

    ca_pem: Pem


@message("join_request")
class JoinRequest(Message):
    """Node -> conductor: the token, the id it wants, a CSR for that id (the key stays
    on the node) and, from protocol 3, the groups and capacities it will offer."""

    token: Token
    node_id: NodeId
    csr_pem: Pem
    groups: Annotated[tuple[GroupName, ...], MaxLen(256)] | None = None
    capacities: Annotated[dict[ClassName, Capacity], MaxLen(256)] | None = None

    def __repr__(self) -> str:  # the token is a secret: keep it out of every repr
        return (
            f"JoinRequest(node_id={self.node_id!r}, groups={self.groups!r}, "
            f"capacities={self.capacities!r}, csr_pem=<{len(self.csr_pem)} bytes>)"
        )


@message("join_ok")
class JoinOk(Message):
    """Conductor -> node: the signed certificate, CN = the node id."""

    cert_pem: Pem


@message("join_refused")
class JoinRefused(Message):
    """Conductor -> node: no certificate, and why; the connection closes after it.

    ``code`` is kept as text so that a newer Conductor's new code still decodes (the
    node treats an unknown one as a token problem)."""

    code: Annotated[str, MaxLen(32)]
    reason: Text


def refusal_code(error: Exception) -> RefusalCode:
    """The wire ``code`` for a refusal (the node turns it back into the same class)."""
    if isinstance(error, JoinTokenExpired):
        return "expired"
    if isinstance(error, JoinTokenUsed):
        return "used"
    if isinstance(error, NodeIdEnrolled):
        return "enrolled"
    if isinstance(error, JoinNotAllowed):
        return "not_allowed"
    if isinstance(error, JoinTokenError):
        return "invalid"
    return "bad_request"


def refusal_error(refused: JoinRefused) -> LinkError:
    """The exception a node raises for ``refused``: the class the Conductor refused
    with, its reason (bounded, printable: it is the peer's text) and what to do next."""
    reason = "".join(c if c.isprintable() else "?" for c in refused.reason[:300])
    cls = _ERRORS.get(refused.code, JoinTokenError)
    return cls.with_hint(f"the conductor refused this join: {reason}")
