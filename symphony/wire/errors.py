"""The one exception tree of the node <-> conductor link: its crypto and its protocol.

Both :mod:`symphony.pki` and :mod:`symphony.wire` raise only these (plus the
standard ``OSError`` family for plain file I/O), so a caller can catch as broadly
or as narrowly as it needs::

    LinkError                      anything wrong on the link or with its credentials
    ├── PKIError                   certificate material or identity problems
    │   ├── CertificateError       bad CSR / certificate / node id, missing CN, half a key pair
    │   ├── CAFingerprintMismatch  a CA does not match the pinned sha256 fingerprint
    │   └── JoinTokenError         a join token cannot be used
    │       ├── JoinTokenInvalid   malformed, unknown id, or wrong secret
    │       ├── JoinTokenExpired   past its expiry
    │       ├── JoinTokenUsed      single-use token already consumed
    │       └── JoinNotAllowed     the node claims an id, group or capacity the token does not allow
    │           └── NodeIdEnrolled the id is enrolled already and the token does not name it
    ├── ProtocolError              a frame that does not decode or validate
    │   ├── FrameTooLarge          over the maximum frame size (checked before unpacking)
    │   ├── FrameError             a WebSocket frame that breaks the framing (close ``code``)
    │   └── VersionMismatch        no protocol version both ends speak
    ├── EncodeError                a message we were about to send cannot be encoded
    └── TransportError             the connection itself
        ├── ConnectFailed          TCP connect failed (refused, unreachable, DNS)
        ├── ConnectTimeout         TCP + TLS + WebSocket upgrade took too long
        ├── TLSRejected            the peer refused our certificate (or sent none we accept)
        ├── ServerUntrusted        the server's certificate failed our verification
        ├── HelloRefused           the conductor answered our hello with HelloRejected
        └── ConnectionClosed       the WebSocket is closed; ``code`` and ``reason`` say why

Messages state the rule that was broken or the likely cause, e.g.
``"Hello.groups[2]: expected str, got int"`` or
``"conductor 10.0.0.5:7443 closed the connection right after the TLS handshake:
it most likely rejected our client certificate"``. None of them ever contains a
join token or a private key.
"""

from __future__ import annotations

from symphony.errors import SymphonyError

__all__ = [
    "CAFingerprintMismatch",
    "CertificateError",
    "ConnectFailed",
    "ConnectTimeout",
    "ConnectionClosed",
    "EncodeError",
    "FrameTooLarge",
    "HelloRefused",
    "JoinNotAllowed",
    "JoinTokenError",
    "JoinTokenExpired",
    "JoinTokenInvalid",
    "JoinTokenUsed",
    "LinkError",
    "NodeIdEnrolled",
    "PKIError",
    "ProtocolError",
    "ServerUntrusted",
    "TLSRejected",
    "TransportError",
    "VersionMismatch",
]


class LinkError(SymphonyError):
    """Root of every error raised by :mod:`symphony.pki` and :mod:`symphony.wire`."""


class PKIError(LinkError):
    """Certificate material or identity is missing, malformed or not acceptable."""


class CertificateError(PKIError):
    """A certificate, CSR, key pair or node id is not acceptable."""


class CAFingerprintMismatch(PKIError):
    """A CA certificate does not match the fingerprint we were told to pin."""


class JoinTokenError(PKIError):
    """A join token cannot be used to join (see the subclasses for why)."""


class JoinTokenInvalid(JoinTokenError):
    """The token is malformed, names another token, or its secret is wrong."""

    hint = "check that the whole token was copied, or create a new one with 'symphony token create'"


class JoinTokenExpired(JoinTokenError):
    """The token was valid but its expiry time has passed."""

    hint = "create a new one with 'symphony token create'"


class JoinTokenUsed(JoinTokenError):
    """The token was single-use and has already been consumed."""

    hint = "create a new one with 'symphony token create'"


class JoinNotAllowed(JoinTokenError):
    """The token binds a node id, groups or capacities, and the node claims others."""

    hint = "join with what the token names, or create another token with 'symphony token create'"


class NodeIdEnrolled(JoinNotAllowed):
    """The node id is enrolled already (a join gave it a certificate, or a node with that
    id has connected), and the token does not name that id: only a token bound to an id
    enrols it again, so a token meant for new nodes cannot take over a running one."""

    hint = (
        "join under another node id, or with a token bound to this one "
        "('symphony token create --node-id ID', with its --group and --capacity again)"
    )


class ProtocolError(LinkError):
    """A frame does not decode into valid messages; the connection should be closed."""


class FrameTooLarge(ProtocolError):
    """A frame is larger than the configured maximum frame size."""


class VersionMismatch(ProtocolError):
    """The two ends share no protocol version."""


class EncodeError(LinkError, ValueError):
    """A message cannot be encoded (a string that is not valid Unicode, a value msgpack
    cannot carry); nothing was sent. It fails that one send, never the link."""


class TransportError(LinkError):
    """The connection could not be made or has ended."""


class ConnectFailed(TransportError):
    """The TCP connection could not be established (refused, unreachable, DNS)."""

    hint = "is the Conductor running, and is that its node port (conductor.listen)?"


class ConnectTimeout(TransportError):
    """TCP connect, TLS handshake and WebSocket upgrade did not finish in time."""


class TLSRejected(TransportError):
    """The peer refused our TLS credentials (unknown CA, no certificate, ...)."""


class ServerUntrusted(TransportError):
    """The server's certificate did not pass our verification (CA or hostname)."""


class HelloRefused(TransportError):
    """The conductor refused our hello (``reason`` is its HelloRejected reason)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the conductor refused this node: {reason}")


class ConnectionClosed(TransportError):
    """The WebSocket is closed.

    ``code`` is the WebSocket close code (1000 normal, 1001 going away, 1002
    protocol error, 1006 abnormal/no close frame, 1009 message too big, ...) and
    ``reason`` the peer's close reason, if any.
    """

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason
        text = f"connection closed (code {code})"
        if reason:
            text += f": {reason}"
        super().__init__(text)
