"""The CA the Conductor signs with, and checks of PEM files that need only :mod:`ssl`.

``cryptography`` (which builds and parses certificates) costs a process about 8 MiB
of resident memory that it keeps for good. A Conductor needs it to create its CA and
certificates (first start) and to sign a node's certificate (a join), never just to
serve: its TLS context is made by :mod:`ssl` from the files. So a
:class:`CertificateAuthority` read from files is checked with :mod:`ssl` (the
certificate parses, the key belongs to it, the key is EC) and parsed by
``cryptography`` only when it first signs::

    ca = CertificateAuthority.from_files(ca_file, ca_key_file)        # ssl only
    ca.fingerprint                                                  # hashlib only
    issue_node_certificate(ca, csr_pem, "gpu-7")                    # loads cryptography
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from symphony.wire.errors import CertificateError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["CertificateAuthority", "certificate_der", "check_key_pair"]

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
# id-ecPublicKey (1.2.840.10045.2.1) as DER: only an EC subject key puts it in a
# certificate (ECDSA signatures use 1.2.840.10045.4.*).
_EC_PUBLIC_KEY_OID = bytes.fromhex("06072a8648ce3d0201")


def certificate_der(pem: bytes, what: str = "the certificate") -> bytes:
    """The DER bytes of the first certificate in ``pem`` (:class:`CertificateError` if none)."""
    found = _PEM_CERT.search(pem)
    try:
        if found is None:
            raise ValueError("no PEM certificate")
        return base64.b64decode(b"".join(found.group(1).split()), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise CertificateError(f"cannot load {what}: {exc}") from None


def check_key_pair(cert_file: Path, key_file: Path, what: str) -> None:
    """Both files parse and the key belongs to the certificate (OpenSSL checks it)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise CertificateError(f"{what}: the key does not belong to the certificate") from None
        raise CertificateError(f"cannot load {what}: {exc.reason or exc}") from None


class CertificateAuthority:
    """The CA certificate with its private key: what is needed to issue certificates.

    Made from parsed objects (``CertificateAuthority(cert, key)``), from PEM checked by
    ``cryptography`` (:meth:`from_pem`), or from PEM checked by :mod:`ssl`
    (:meth:`from_files`), which ``cryptography`` parses on first use of
    :attr:`cert` or :attr:`key`.
    """

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        from cryptography.hazmat.primitives import serialization

        self._parsed: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = (cert, key)
        self._der = cert.public_bytes(serialization.Encoding.DER)
        self._key_pem = b""

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes) -> CertificateAuthority:
        """Load a CA; :class:`CertificateError` if either is malformed or they do not match."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise CertificateError(f"cannot load the CA: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertificateError("the CA key must be an EC key")
        if cert.public_key() != key.public_key():
            raise CertificateError("the CA key does not belong to the CA certificate")
        return cls(cert, key)

    @classmethod
    def from_files(cls, cert_file: Path, key_file: Path) -> CertificateAuthority:
        """The same checks as :meth:`from_pem`, made by :mod:`ssl`; parsed on first use."""
        check_key_pair(cert_file, key_file, "the CA")
        der = certificate_der(cert_file.read_bytes(), "the CA")
        if _EC_PUBLIC_KEY_OID not in der:
            raise CertificateError("the CA key must be an EC key")
        ca = cls.__new__(cls)
        ca._parsed, ca._der, ca._key_pem = None, der, key_file.read_bytes()
        return ca

    def _objects(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        if self._parsed is None:
            self._parsed = self.from_pem(self.cert_pem, self._key_pem)._objects()
        return self._parsed

    @property
    def cert(self) -> x509.Certificate:
        """The CA certificate (parsed by ``cryptography``)."""
        return self._objects()[0]

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        """The CA's private key (parsed by ``cryptography``)."""
        return self._objects()[1]

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate in PEM (what nodes must trust)."""
        return ssl.DER_cert_to_PEM_cert(self._der).encode("ascii")

    @property
    def fingerprint(self) -> str:
        """``"sha256:<hex>"`` of the CA certificate (what a joining node pins)."""
        return "sha256:" + hashlib.sha256(self._der).hexdigest()
