"""TLS contexts for both ends of the node link, and CA pinning for the join step.

Both ends require TLS 1.3 and verify each other against the private CA:

- :func:`server_ssl_context`: the conductor's node endpoint. Client certificates
  are *required* and must chain to our CA; the node id is then the CN
  (:func:`symphony.wire.identity.peer_node_id`). With ``client_cert="optional"``
  a client may also come without one (a certificate it does present must still
  chain to our CA): the endpoint then lets such a client do nothing but join.
- :func:`enrollment_ssl_context`: a node about to join, before it trusts anything.
  It verifies nothing during the handshake; the join step checks the server's
  certificate against the pinned CA itself before it sends its token.
- :func:`client_ssl_context`: a node with its CA file and client cert/key.
- :func:`pinned_ca_ssl_context`: a node that has no certificate yet and knows
  only the CA fingerprint (from the operator, next to the join token). It gets
  the CA certificate from the conductor over an unauthenticated channel, this
  function checks the fingerprint, and from then on everything is verified
  against that CA: the same trust-on-a-pinned-hash scheme as kubeadm's discovery
  token CA hash.
"""

from __future__ import annotations

import ssl
from os import PathLike
from typing import TYPE_CHECKING, Literal

from symphony.wire.errors import CertificateError

if TYPE_CHECKING:
    from .files import ConductorPKI

__all__ = [
    "client_ssl_context",
    "enrollment_ssl_context",
    "pinned_ca_ssl_context",
    "server_ssl_context",
    "server_ssl_context_from_files",
]

StrPath = str | PathLike[str]


def _load_chain(ctx: ssl.SSLContext, cert_file: StrPath, key_file: StrPath) -> None:
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        # OpenSSL's text ("[SSL] PEM lib") hides the usual cause: say it.
        raise CertificateError(
            f"cannot load certificate {cert_file} with key {key_file}: {exc.reason or exc}; "
            "are they PEM files and does the key belong to the certificate?"
        ) from None


def _load_ca(ctx: ssl.SSLContext, ca_file: StrPath | None, ca_pem: bytes | None) -> None:
    try:
        if ca_file is not None:
            ctx.load_verify_locations(cafile=ca_file)
        else:
            ctx.load_verify_locations(cadata=(ca_pem or b"").decode("ascii", "replace"))
    except ssl.SSLError as exc:
        raise CertificateError(f"cannot load the CA certificate: {exc.reason or exc}") from None


ClientCertPolicy = Literal["required", "optional"]


def server_ssl_context_from_files(
    *,
    ca_file: StrPath,
    cert_file: StrPath,
    key_file: StrPath,
    client_cert: ClientCertPolicy = "required",
) -> ssl.SSLContext:
    """Server context: TLS 1.3+, our certificate, client certificates from our CA.

    ``client_cert="optional"`` also admits clients without a certificate (for the
    join step); whoever serves with it must refuse such clients everything else.

    It issues no session tickets. OpenSSL sends two after every TLS 1.3 handshake, and
    making them (each holds the client's certificate) was a third of the Conductor's
    CPU per handshake (``python -m benchmarks.tls``), paid again by every node in a
    reconnect storm; yet no node resumes a session, and after a Conductor restart,
    when they all reconnect, the tickets of the previous process could not be
    decrypted anyway (its ticket keys die with it).
    """
    if client_cert not in ("required", "optional"):
        raise ValueError(f"client_cert must be 'required' or 'optional', not {client_cert!r}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.num_tickets = 0
    ctx.verify_mode = ssl.CERT_REQUIRED if client_cert == "required" else ssl.CERT_OPTIONAL
    _load_chain(ctx, cert_file, key_file)
    _load_ca(ctx, ca_file, None)
    return ctx


def server_ssl_context(
    pki: ConductorPKI, *, client_cert: ClientCertPolicy = "required"
) -> ssl.SSLContext:
    """:func:`server_ssl_context_from_files` for a directory made by ``ensure_conductor_pki``."""
    return server_ssl_context_from_files(
        ca_file=pki.ca_file,
        cert_file=pki.server_cert_file,
        key_file=pki.server_key_file,
        client_cert=client_cert,
    )


def _client_context(check_hostname: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + hostname checks
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = check_hostname
    return ctx


def client_ssl_context(
    ca_file: StrPath, cert_file: StrPath, key_file: StrPath, *, check_hostname: bool = True
) -> ssl.SSLContext:
    """Node context: trust only ``ca_file``, present ``cert_file``/``key_file``.

    ``check_hostname=False`` accepts any server certificate from our CA whatever
    address the node dialled (handy when the conductor's address is not in its
    certificate; the CA is still verified).
    """
    ctx = _client_context(check_hostname)
    _load_ca(ctx, ca_file, None)
    _load_chain(ctx, cert_file, key_file)
    return ctx


def pinned_ca_ssl_context(
    ca_pem: bytes, fingerprint: str, *, check_hostname: bool = True
) -> ssl.SSLContext:
    """A client context trusting exactly ``ca_pem``, after checking it has ``fingerprint``.

    Raises :class:`~symphony.wire.errors.CAFingerprintMismatch` if it does not; no
    client certificate is loaded (this is for the join request that obtains one).
    """
    from .certs import check_ca_fingerprint  # cryptography: only a joining node needs it

    check_ca_fingerprint(ca_pem, fingerprint)
    ctx = _client_context(check_hostname)
    _load_ca(ctx, None, ca_pem)
    return ctx


def enrollment_ssl_context() -> ssl.SSLContext:
    """A TLS 1.3 client context that verifies nothing and presents no certificate.

    Only for the join step, which cannot verify during the handshake (the node does
    not have the CA yet). TLS still proves that the server holds the key of the
    certificate it sent; the join step then checks that certificate against the
    pinned CA before anything secret is sent.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
