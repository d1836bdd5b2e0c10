"""The conductor's certificate directory: created once, then reused forever.

Layout (the seed docs' names, so existing node configs keep working)::

    ca.pem           ca.key            the private CA
    server.pem       server.key        the conductor's TLS server certificate
    node-client.pem  node-client.key   one shared node client cert (CN "node-client")

Rules: a file that exists is never overwritten; every private key is created
with mode 0600 from its first byte (``os.open`` with the mode, then a hard link
to the final name, so there is neither a world-readable window nor a
half-written key under the real name); half of a key pair without the other is
an error that names the missing file rather than a silent regeneration, which
would orphan every certificate the old CA signed.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from symphony.wire.errors import CertificateError

from .certs import (
    SHARED_CLIENT_CN,
    CertificateAuthority,
    cert_to_pem,
    create_ca,
    generate_key,
    issue_client_certificate,
    issue_server_certificate,
    key_to_pem,
)
from .private import check_private, ensure_private_dir, restrict_file, write_new, write_private_file

__all__ = [
    "DEFAULT_HOSTS",
    "ConductorPKI",
    "ensure_conductor_pki",
    "ensure_private_dir",
    "restrict_file",
    "write_private_file",
]

log = logging.getLogger("symphony.pki")

#: Names every server certificate covers, so local setups work out of the box.
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ConductorPKI:
    """The conductor's certificate directory, with the CA loaded for issuing."""

    cert_dir: Path
    ca: CertificateAuthority

    @property
    def ca_file(self) -> Path:
        return self.cert_dir / "ca.pem"

    @property
    def ca_key_file(self) -> Path:
        return self.cert_dir / "ca.key"

    @property
    def server_cert_file(self) -> Path:
        return self.cert_dir / "server.pem"

    @property
    def server_key_file(self) -> Path:
        return self.cert_dir / "server.key"

    @property
    def node_client_cert_file(self) -> Path:
        return self.cert_dir / "node-client.pem"

    @property
    def node_client_key_file(self) -> Path:
        return self.cert_dir / "node-client.key"

    @property
    def ca_fingerprint(self) -> str:
        """``"sha256:<hex>"`` of the CA: what joining nodes pin."""
        return self.ca.fingerprint


def _ensure_pair(
    cert_path: Path, key_path: Path, make: Callable[[], tuple[bytes, bytes]]
) -> tuple[bytes, bytes]:
    """Reuse (cert, key) PEMs if both exist, else create both with ``make``."""
    have_cert, have_key = cert_path.exists(), key_path.exists()
    if have_cert and have_key:
        check_private(key_path)
        return cert_path.read_bytes(), key_path.read_bytes()
    if have_cert or have_key:
        present, missing = (cert_path, key_path) if have_cert else (key_path, cert_path)
        raise CertificateError(
            f"{present} exists but {missing} is missing; restore it, or remove both "
            "files to generate a new pair (certificates signed by an old CA stop working)"
        )
    cert_pem, key_pem = make()
    write_private_file(key_path, key_pem)
    write_new(cert_path, cert_pem, 0o644)
    log.info("generated %s and %s", cert_path, key_path)
    return cert_pem, key_pem


def _load_leaf(cert_pem: bytes, key_pem: bytes, where: Path) -> x509.Certificate:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"cannot load {where}: {exc}") from None
    if cert.public_key() != key.public_key():
        raise CertificateError(f"{where}: the key does not belong to the certificate")
    return cert


def _new_leaf(
    issue: Callable[[ec.EllipticCurvePublicKey], x509.Certificate],
) -> tuple[bytes, bytes]:
    key = generate_key()
    return cert_to_pem(issue(key.public_key())), key_to_pem(key)


def _warn_missing_hosts(cert: x509.Certificate, hosts: Sequence[str], where: Path) -> None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = x509.SubjectAlternativeName([])
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    missing = []
    for host in hosts:
        try:
            key = str(ipaddress.ip_address(host))
        except ValueError:
            key = host
        if key not in have:
            missing.append(host)
    if missing:
        log.warning(
            "existing server certificate %s does not cover %s; nodes using those names "
            "will fail hostname checks (remove server.pem and server.key to regenerate)",
            where,
            ", ".join(missing),
        )


def ensure_conductor_pki(cert_dir: Path, *, hosts: Sequence[str] = ()) -> ConductorPKI:
    """Create what is missing in ``cert_dir`` (CA, server cert, shared node client cert)
    and load the CA. ``hosts`` are extra DNS names/IPs for the server certificate,
    on top of :data:`DEFAULT_HOSTS`.

    >>> pki = ensure_conductor_pki(Path("storage/certs"), hosts=["conductor.example"])
    ... # doctest: +SKIP
    """
    cert_dir = ensure_private_dir(Path(cert_dir))
    all_hosts = list(dict.fromkeys([*DEFAULT_HOSTS, *hosts]))

    def make_ca() -> tuple[bytes, bytes]:
        ca = create_ca()
        return ca.cert_pem, key_to_pem(ca.key)

    ca_pem, ca_key_pem = _ensure_pair(cert_dir / "ca.pem", cert_dir / "ca.key", make_ca)
    ca = CertificateAuthority.from_pem(ca_pem, ca_key_pem)

    server = cert_dir / "server.pem"
    pem, key = _ensure_pair(
        server,
        cert_dir / "server.key",
        lambda: _new_leaf(lambda pub: issue_server_certificate(ca, pub, all_hosts)),
    )
    _warn_missing_hosts(_load_leaf(pem, key, server), all_hosts, server)

    shared = cert_dir / "node-client.pem"
    pem, key = _ensure_pair(
        shared,
        cert_dir / "node-client.key",
        lambda: _new_leaf(
            lambda pub: issue_client_certificate(ca, pub, SHARED_CLIENT_CN, valid_days=825)
        ),
    )
    _load_leaf(pem, key, shared)
    return ConductorPKI(cert_dir=cert_dir, ca=ca)
