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
from typing import TYPE_CHECKING

from symphony.wire.errors import CertificateError

from .authority import CertificateAuthority, check_key_pair
from .private import check_private, ensure_private_dir, restrict_file, write_new, write_private_file

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

# Files that exist are checked with ssl alone; ``cryptography`` is imported only to
# create what is missing (see :mod:`.authority`).

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


def _ensure_pair(cert_path: Path, key_path: Path, make: Callable[[], tuple[bytes, bytes]]) -> bool:
    """True if both files exist (to be checked), else create both with ``make`` (False)."""
    have_cert, have_key = cert_path.exists(), key_path.exists()
    if have_cert and have_key:
        check_private(key_path)
        return True
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
    return False


def _new_leaf(
    issue: Callable[[ec.EllipticCurvePublicKey], x509.Certificate],
) -> tuple[bytes, bytes]:
    from .certs import cert_to_pem, generate_key, key_to_pem

    key = generate_key()
    return cert_to_pem(issue(key.public_key())), key_to_pem(key)


def _covered_names(cert_file: Path) -> set[str] | None:
    """The DNS names and IP addresses a certificate is valid for, read by ssl's own
    decoder (None where this Python has none)."""
    import _ssl

    decode = getattr(_ssl, "_test_decode_cert", None)
    if decode is None:
        return None
    have = set()
    for kind, value in decode(str(cert_file)).get("subjectAltName", ()):
        if kind == "DNS":
            have.add(value)
        elif kind == "IP Address":
            have.add(str(ipaddress.ip_address(value.strip())))
    return have


def _covered_names_parsed(cert_file: Path) -> set[str]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = x509.SubjectAlternativeName([])
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    return have | {str(v) for v in san.get_values_for_type(x509.IPAddress)}


def _warn_missing_hosts(cert_file: Path, hosts: Sequence[str]) -> None:
    have = _covered_names(cert_file)
    if have is None:
        have = _covered_names_parsed(cert_file)
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
            cert_file,
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
        from .certs import create_ca, key_to_pem

        ca = create_ca()
        return ca.cert_pem, key_to_pem(ca.key)

    _ensure_pair(cert_dir / "ca.pem", cert_dir / "ca.key", make_ca)
    ca = CertificateAuthority.from_files(cert_dir / "ca.pem", cert_dir / "ca.key")

    def make_server() -> tuple[bytes, bytes]:
        from .certs import issue_server_certificate

        return _new_leaf(lambda pub: issue_server_certificate(ca, pub, all_hosts))

    def make_shared() -> tuple[bytes, bytes]:
        from .certs import SHARED_CLIENT_CN, issue_client_certificate

        return _new_leaf(
            lambda pub: issue_client_certificate(ca, pub, SHARED_CLIENT_CN, valid_days=825)
        )

    server = cert_dir / "server.pem"
    if _ensure_pair(server, cert_dir / "server.key", make_server):
        check_key_pair(server, cert_dir / "server.key", str(server))
        _warn_missing_hosts(server, all_hosts)
    shared = cert_dir / "node-client.pem"
    if _ensure_pair(shared, cert_dir / "node-client.key", make_shared):
        check_key_pair(shared, cert_dir / "node-client.key", str(shared))
    return ConductorPKI(cert_dir=cert_dir, ca=ca)
