"""Join a Conductor with a token: get a certificate for this node id, keep it, reuse it.

``symphony node --join HOST:PORT --token T --ca-hash sha256:...`` (or ``node.join`` in
node.yaml) runs :func:`enroll` once; every later start finds the stored identity and
needs no token (:func:`identity_for` decides). The exchange (its messages are in
:mod:`symphony.wire.join`, its client in :mod:`symphony.wire.join_client`):

1. connect to the node endpoint's join resource over TLS 1.3 *without* verifying
   (the node has no CA yet) and without a client certificate;
2. receive the CA; refuse unless its SHA-256 is the pinned ``--ca-hash``, and unless
   the certificate the server proved it holds in the TLS handshake was issued by that
   CA for server use. Only then does anything secret leave the node;
3. send the token, the node id, a CSR (the private key never leaves the node) and
   the groups and capacities the node will offer;
4. store key (0600), certificate and CA under ``<state_dir>/identity/`` (0700).

Each failure is one clear exception: :class:`CAFingerprintMismatch` (wrong hash or
someone in between), :class:`ServerUntrusted`, :class:`JoinTokenExpired`,
:class:`JoinTokenUsed`, :class:`JoinTokenInvalid` (unknown or wrong token),
:class:`ConnectFailed` (conductor unreachable), :class:`ConnectTimeout`,
:class:`TLSRejected` (the endpoint does not let nodes join).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import shutil
import ssl
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from symphony.config import NodeConfig
from symphony.pki import (
    CAFingerprintMismatch,
    CertificateError,
    ca_fingerprint,
    check_ca_fingerprint,
    client_ssl_context,
    make_node_key_and_csr,
    write_private_file,
)
from symphony.pki.contexts import enrollment_ssl_context
from symphony.wire import (
    ConnectTimeout,
    ServerUntrusted,
)
from symphony.wire.identity import certificate_common_name
from symphony.wire.join import JoinRequest
from symphony.wire.join_client import request_certificate

__all__ = ["IDENTITY_DIR", "NodeIdentity", "enroll", "identity_for", "load_identity"]

log = logging.getLogger("symphony.node.enroll")

#: Where, under the node's state dir, an enrolled identity lives.
IDENTITY_DIR = "identity"


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """A certificate obtained by joining, with its key and the CA, in ``directory``."""

    directory: Path
    node_id: str
    ca_fingerprint: str
    not_after: dt.datetime

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def cert_file(self) -> Path:
        return self.directory / "node.pem"

    @property
    def key_file(self) -> Path:
        return self.directory / "node.key"

    def ssl_context(self) -> ssl.SSLContext:
        """The link's client context. No hostname check: the pinned private CA signs
        exactly one server-auth certificate, the conductor's, so the CA alone identifies
        it whatever address the node dials (OpenSSL still requires server-auth use)."""
        return client_ssl_context(self.ca_file, self.cert_file, self.key_file, check_hostname=False)


def load_identity(state_dir: Path) -> NodeIdentity | None:
    """The identity an earlier join stored in ``state_dir``, or None if there is none.

    A partial or damaged identity is a :class:`CertificateError` naming the problem.
    """
    directory = Path(state_dir) / IDENTITY_DIR
    if not directory.exists():
        return None
    names = ("ca.pem", "node.pem", "node.key")
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise CertificateError(
            f"{directory} is incomplete ({', '.join(missing)} missing); remove it and "
            "join again with a new token"
        )
    ca_pem, cert_pem, key_pem = ((directory / n).read_bytes() for n in names)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"cannot load the node identity in {directory}: {exc}") from None
    if cert.public_key() != key.public_key():
        raise CertificateError(f"{directory}: node.key does not belong to node.pem")
    mode = stat.S_IMODE((directory / "node.key").stat().st_mode)
    if mode & 0o077:
        log.warning("%s has mode %o; it should be 0600", directory / "node.key", mode)
    return NodeIdentity(
        directory, certificate_common_name(cert), ca_fingerprint(ca_pem), cert.not_valid_after_utc
    )


def _save_identity(state_dir: Path, key_pem: bytes, cert_pem: bytes, ca_pem: bytes) -> Path:
    """Write the three files into a fresh 0700 directory, then swap it into place, so a
    crash leaves either the old identity or the new one, never half of each."""
    state_dir.mkdir(parents=True, exist_ok=True)
    staging = state_dir / f".{IDENTITY_DIR}.{secrets.token_hex(4)}.new"
    staging.mkdir(mode=0o700)
    for name, data in (("node.key", key_pem), ("node.pem", cert_pem), ("ca.pem", ca_pem)):
        write_private_file(staging / name, data)
    final = state_dir / IDENTITY_DIR
    old = state_dir / f".{IDENTITY_DIR}.{secrets.token_hex(4)}.old"
    if final.exists():
        final.rename(old)
    os.rename(staging, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def check_server_certificate(der: bytes | None, ca_pem: bytes) -> None:
    """Raise :class:`ServerUntrusted` unless ``der`` is a valid server-auth certificate
    issued by the CA ``ca_pem`` (the TLS handshake already proved the server holds its key).
    """
    if not der:
        raise ServerUntrusted("the conductor presented no TLS certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
        ca = x509.load_pem_x509_certificate(ca_pem)
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise ServerUntrusted(
            "the conductor's TLS certificate was not issued by the CA it sent: someone in between?"
        ) from None
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ServerUntrusted(
            f"the conductor's TLS certificate is not valid now (valid "
            f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
        )
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or ExtendedKeyUsageOID.SERVER_AUTH not in usage:
        raise ServerUntrusted("the conductor's TLS certificate is not a server certificate")


def _verifier(ca_hash: str) -> Callable[[bytes, bytes | None], None]:
    """What the join client runs on the CA it was sent, before the token leaves."""

    def verify(ca_pem: bytes, server_cert_der: bytes | None) -> None:
        check_ca_fingerprint(ca_pem, ca_hash)
        check_server_certificate(server_cert_der, ca_pem)

    return verify


async def enroll(
    *,
    host: str,
    port: int,
    token: str,
    ca_hash: str,
    node_id: str,
    state_dir: Path,
    groups: Sequence[str] | None = None,
    capacities: Mapping[str, int] | None = None,
    timeout: float = 10.0,
) -> NodeIdentity:
    """Join the conductor at ``host:port`` as ``node_id`` and store the identity.

    ``groups`` and ``capacities`` are what the node will offer: a Conductor whose token
    binds them refuses at once if they ask for more (None: not told, checked at hello).
    """
    key_pem, csr_pem = make_node_key_and_csr(node_id)
    request = JoinRequest(
        token=token,
        node_id=node_id,
        csr_pem=csr_pem,
        groups=None if groups is None else tuple(groups),
        capacities=None if capacities is None else dict(capacities),
    )
    try:
        with trio.fail_after(timeout):
            cert_pem, ca_pem = await request_certificate(
                host, port, enrollment_ssl_context(), request, verify=_verifier(ca_hash)
            )
    except trio.TooSlowError:
        raise ConnectTimeout(
            f"joining the conductor at {host}:{port} took more than {timeout}s"
        ) from None
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    if cert.public_key() != key.public_key() or certificate_common_name(cert) != node_id:
        raise CertificateError("the conductor returned a certificate for another key or id")
    directory = _save_identity(Path(state_dir), key_pem, cert_pem, ca_pem)
    log.info(
        "joined the conductor at %s:%d as node %r; identity in %s", host, port, node_id, directory
    )
    identity = load_identity(Path(state_dir))
    assert identity is not None
    return identity


def _unusable(identity: NodeIdentity, config: NodeConfig) -> str | None:
    """Why a stored identity cannot serve ``config``, or None if it can."""
    if identity.node_id != config.node_id:
        return (
            f"the stored certificate in {identity.directory} is for node "
            f"{identity.node_id!r}, not {config.node_id!r}"
        )
    if identity.not_after <= dt.datetime.now(dt.UTC):
        return f"the stored certificate in {identity.directory} expired on {identity.not_after}"
    if config.join_ca_hash is not None:
        try:
            check_ca_fingerprint((identity.ca_file).read_bytes(), config.join_ca_hash)
        except CAFingerprintMismatch:
            return f"the stored certificate in {identity.directory} is from another CA"
    return None


async def identity_for(
    config: NodeConfig, *, capacities: Mapping[str, int] | None = None
) -> NodeIdentity | None:
    """The node's enrolled identity: the stored one if it fits ``config``, else a new
    one from ``node.join`` if configured; None when there is neither. ``capacities`` is
    what the node will offer (default ``config.capacities_total``; its GPU devices add
    ``gpu``), told to the Conductor in the join."""
    stored = load_identity(config.state_dir)
    join = config.join_host_port
    if stored is not None:
        problem = _unusable(stored, config)
        if problem is None:
            log.info("node %r: using the certificate from an earlier join", stored.node_id)
            return stored
        if join is None:
            raise CertificateError(f"{problem}; join again with a new token (node.join)")
        log.warning("%s; joining again with the configured token", problem)
    if join is None:
        return None
    assert config.join_token is not None and config.join_ca_hash is not None
    return await enroll(
        host=join[0],
        port=join[1],
        token=config.join_token,
        ca_hash=config.join_ca_hash,
        node_id=config.node_id,
        state_dir=config.state_dir,
        groups=config.groups,
        capacities=config.capacities_total if capacities is None else capacities,
    )
