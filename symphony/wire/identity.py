"""Who is on the other end: the Common Name of the peer's verified TLS certificate.

The conductor binds a node's identity to the CN of its client certificate, so a
node cannot speak for another. This lives in the wire package (the transport
needs it) and is re-exported as :func:`symphony.pki.peer_node_id`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .errors import CertificateError

if TYPE_CHECKING:
    from cryptography import x509

# ``cryptography`` is imported where a certificate is read, not here: the node agent
# imports this package but never reads a peer certificate, and the import would cost
# it several MiB of resident memory for good.

__all__ = ["certificate_common_name", "peer_node_id", "verified_common_name"]


class _HasPeerCert(Protocol):
    def getpeercert(self, binary_form: bool = ...) -> object: ...


def certificate_common_name(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    """The single CN of a certificate's (or CSR's) subject; :class:`CertificateError` if
    there is none or several."""
    from cryptography.x509.oid import NameOID

    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise CertificateError(
            f"certificate subject must have exactly one common name, has {len(names)}"
        )
    value = names[0].value
    if isinstance(value, bytes):  # only for exotic encodings; CN is a string type
        value = value.decode("utf-8", "replace")
    if not value:
        raise CertificateError("certificate common name is empty")
    return value


def peer_node_id(ssl_object: _HasPeerCert) -> str:
    """Read the CN of the peer certificate of a TLS connection.

    ``ssl_object`` is anything with ``getpeercert(binary_form=True)``: an
    ``ssl.SSLObject``, an ``ssl.SSLSocket`` or a handshaken ``trio.SSLStream``.
    Call it only on a context that *requires and verifies* peer certificates
    (our server context does); this function does not verify anything itself.

    A verified certificate's CN is read from the ``ssl`` module's own decoding, as
    :func:`verified_common_name` does: a Conductor reads every node's name and
    loads ``cryptography`` (several MiB for good) only for a certificate that
    decoding cannot name.
    """
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise CertificateError("the peer presented no certificate")
    if not isinstance(der, bytes):
        raise CertificateError("the peer certificate is not available in DER form")
    name = verified_common_name(ssl_object)
    if name is not None:
        return name
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateError(f"cannot parse the peer certificate: {exc}") from None
    return certificate_common_name(cert)


def verified_common_name(ssl_object: _HasPeerCert) -> str | None:
    """The CN of a peer certificate that the TLS handshake *verified*, read from the
    ``ssl`` module's own decoding (no ``cryptography``); ``None`` if the certificate
    was not verified or its subject has no single, non-empty CN.

    A node reads its Conductor's name this way for its logs: the import of
    ``cryptography`` that :func:`peer_node_id` needs would stay resident in the agent.
    """
    cert = ssl_object.getpeercert()
    if not isinstance(cert, dict):
        return None
    names = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    if len(names) != 1 or not isinstance(names[0], str) or not names[0]:
        return None
    return names[0]
