"""Keys, certificates and CSRs: the pure crypto of Symphony's private CA.

Everything is EC P-256 and SHA-256: a CA + server + client set generates in a
few milliseconds (RSA-2048 takes ~30x longer) and handshakes are cheaper, which
matters when thousands of nodes reconnect at once.

Identity model: the conductor's CA signs one server certificate and, per node,
a client certificate whose Common Name *is* the node id (client-auth EKU only).
For compatibility with older setups there is also one shared client certificate
with CN :data:`SHARED_CLIENT_CN`; that name is reserved and never issued to a node.

Issuing a node certificate from a CSR, as the join flow does::

    key_pem, csr_pem = make_node_key_and_csr("gpu-7")        # on the node
    cert_pem = issue_node_certificate(ca, csr_pem, "gpu-7")   # on the conductor
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Sequence
from typing import TypeGuard

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from symphony.wire.errors import CAFingerprintMismatch, CertificateError
from symphony.wire.identity import certificate_common_name

from .authority import CertificateAuthority
from .names import SHARED_CLIENT_CN, validate_node_id

__all__ = [
    "SHARED_CLIENT_CN",
    "CertificateAuthority",
    "ca_fingerprint",
    "cert_to_pem",
    "check_ca_fingerprint",
    "create_ca",
    "generate_key",
    "issue_client_certificate",
    "issue_node_certificate",
    "issue_server_certificate",
    "key_to_pem",
    "make_node_key_and_csr",
    "validate_node_id",
]

# Certificates start a little in the past so a node whose clock is slightly
# behind the conductor's does not see a "not yet valid" certificate.
_CLOCK_SKEW = dt.timedelta(minutes=5)


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A fresh EC P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (protect it with file permissions: 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_to_pem(cert: x509.Certificate) -> bytes:
    """PEM encoding of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def _builder(
    subject_cn: str, public_key: CertificatePublicKeyTypes, issuer: x509.Name, days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def create_ca(common_name: str = "Symphony CA", *, valid_days: int = 3650) -> CertificateAuthority:
    """A new self-signed CA that may sign leaf certificates only (path length 0)."""
    key = generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        _builder(common_name, key.public_key(), name, valid_days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(cert, key)


def _leaf(
    ca: CertificateAuthority,
    public_key: CertificatePublicKeyTypes,
    cn: str,
    eku: x509.ObjectIdentifier,
    days: int,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    builder = (
        _builder(cn, public_key, ca.cert.subject, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue_server_certificate(
    ca: CertificateAuthority,
    public_key: ec.EllipticCurvePublicKey,
    hosts: Sequence[str],
    *,
    valid_days: int = 825,
) -> x509.Certificate:
    """A server-auth certificate valid for ``hosts`` (DNS names and/or IP addresses)."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        if not isinstance(host, str) or not host.strip():
            raise CertificateError(f"invalid server host name {host!r}")
        name = _general_name(host.strip())
        if name not in names:
            names.append(name)
    if not names:
        raise CertificateError("a server certificate needs at least one host name")
    cn = next((n.value for n in names if isinstance(n, x509.DNSName)), str(names[0].value))
    return _leaf(ca, public_key, cn, ExtendedKeyUsageOID.SERVER_AUTH, valid_days, names)


def issue_client_certificate(
    ca: CertificateAuthority,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    common_name: str,
    *,
    valid_days: int = 365,
) -> x509.Certificate:
    """A client-auth certificate with CN ``common_name`` (no name checks: see below)."""
    return _leaf(ca, public_key, common_name, ExtendedKeyUsageOID.CLIENT_AUTH, valid_days)


def make_node_key_and_csr(node_id: str) -> tuple[bytes, bytes]:
    """A new node private key and a CSR for CN ``node_id``, both PEM (run on the node)."""
    validate_node_id(node_id)
    key = generate_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .sign(key, hashes.SHA256())
    )
    return key_to_pem(key), csr.public_bytes(serialization.Encoding.PEM)


def _acceptable_key(key: object) -> TypeGuard[ec.EllipticCurvePublicKey | rsa.RSAPublicKey]:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return isinstance(key.curve, (ec.SECP256R1, ec.SECP384R1))
    return isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048


def issue_node_certificate(
    ca: CertificateAuthority, csr_pem: bytes, node_id: str, *, valid_days: int = 365
) -> bytes:
    """Sign a node's CSR: the certificate's CN is ``node_id`` (the conductor decides the
    identity, e.g. from the join token), client-auth only. Returns PEM.

    Refuses (:class:`CertificateError`) a malformed CSR, a CSR whose signature
    does not verify (it proves the node holds the key), a weak key, an invalid or
    reserved node id, and a CSR that names a different CN.
    """
    validate_node_id(node_id)
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"malformed certificate signing request: {exc}") from None
    if not csr.is_signature_valid:
        raise CertificateError("the CSR signature does not verify")
    public_key = csr.public_key()
    if not _acceptable_key(public_key):
        raise CertificateError("the CSR key must be EC P-256/P-384 or RSA >= 2048 bits")
    if csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        requested = certificate_common_name(csr)
        if requested != node_id:
            raise CertificateError(f"the CSR asks for CN {requested!r:.80}, not {node_id!r}")
    cert = issue_client_certificate(ca, public_key, node_id, valid_days=valid_days)
    return cert_to_pem(cert)


def ca_fingerprint(ca_cert_pem: bytes) -> str:
    """``"sha256:<lowercase hex>"`` of the certificate's DER encoding."""
    try:
        cert = x509.load_pem_x509_certificate(ca_cert_pem)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"cannot parse the CA certificate: {exc}") from None
    der = cert.public_bytes(serialization.Encoding.DER)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _normalize(fingerprint: str) -> str:
    text = fingerprint.strip().lower()
    text = text.removeprefix("sha256:").replace(":", "")
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise CAFingerprintMismatch(
            "a CA fingerprint must be 'sha256:' followed by 64 hex digits "
            "(colons between bytes are allowed)"
        )
    return text


def check_ca_fingerprint(ca_cert_pem: bytes, expected: str) -> None:
    """Raise :class:`CAFingerprintMismatch` unless the CA has the ``expected`` fingerprint."""
    actual = _normalize(ca_fingerprint(ca_cert_pem))
    if not hmac.compare_digest(actual, _normalize(expected)):
        raise CAFingerprintMismatch(
            f"the conductor's CA is sha256:{actual}, but we were told to trust "
            f"{expected.strip()}: wrong conductor address, or someone in between"
        )
