"""The private PKI: files on disk, node certificates, fingerprints, join tokens, contexts."""

from __future__ import annotations

import logging
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from symphony.owndir import MARKER
from symphony.pki import (
    SHARED_CLIENT_CN,
    CAFingerprintMismatch,
    CertificateError,
    JoinTokenExpired,
    JoinTokenInvalid,
    JoinTokenUsed,
    ca_fingerprint,
    check_ca_fingerprint,
    client_ssl_context,
    consume_join_token,
    create_ca,
    ensure_conductor_pki,
    issue_node_certificate,
    make_node_key_and_csr,
    new_join_token,
    parse_join_token,
    pinned_ca_ssl_context,
    server_ssl_context,
    verify_join_token,
)

FILES = ["ca.pem", "ca.key", "server.pem", "server.key", "node-client.pem", "node-client.key"]


def cn(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value  # type: ignore[return-value]


def test_pki_first_start_creates_every_file(tmp_path: Path) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs", hosts=["conductor.example", "10.1.2.3"])
    made = sorted(p.name for p in (tmp_path / "certs").iterdir())
    assert made == sorted([*FILES, MARKER])  # the mark of a directory Symphony made
    server = x509.load_pem_x509_certificate(pki.server_cert_file.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "conductor.example"}
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {
        "127.0.0.1",
        "::1",
        "10.1.2.3",
    }
    assert isinstance(server.public_key(), ec.EllipticCurvePublicKey)
    assert server.public_key().curve.name == "secp256r1"
    shared = x509.load_pem_x509_certificate(pki.node_client_cert_file.read_bytes())
    assert cn(shared) == SHARED_CLIENT_CN


def test_pki_private_keys_are_0600(tmp_path: Path) -> None:
    ensure_conductor_pki(tmp_path / "certs")
    for name in FILES:
        mode = stat.S_IMODE((tmp_path / "certs" / name).stat().st_mode)
        if name.endswith(".key"):
            assert mode == 0o600, name
        else:
            assert mode & 0o077 != 0o077, name
    assert stat.S_IMODE((tmp_path / "certs").stat().st_mode) == 0o700
    assert not list((tmp_path / "certs").glob(".*tmp"))  # no temporary files left


def test_pki_existing_files_are_reused_not_overwritten(tmp_path: Path) -> None:
    first = ensure_conductor_pki(tmp_path / "certs")
    before = {n: (tmp_path / "certs" / n).read_bytes() for n in FILES}
    second = ensure_conductor_pki(tmp_path / "certs", hosts=["new.example"])
    assert {n: (tmp_path / "certs" / n).read_bytes() for n in FILES} == before
    assert first.ca_fingerprint == second.ca_fingerprint


def test_pki_missing_server_cert_is_reissued_by_the_same_ca(tmp_path: Path) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs")
    pki.server_cert_file.unlink()
    pki.server_key_file.unlink()
    again = ensure_conductor_pki(tmp_path / "certs")
    assert again.ca_fingerprint == pki.ca_fingerprint
    server = x509.load_pem_x509_certificate(again.server_cert_file.read_bytes())
    assert server.issuer == pki.ca.cert.subject


def test_pki_half_a_key_pair_is_an_error(tmp_path: Path) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs")
    pki.ca_key_file.unlink()
    with pytest.raises(CertificateError, match=r"ca.pem exists but .*ca.key is missing"):
        ensure_conductor_pki(tmp_path / "certs")
    assert pki.ca_file.exists()


def test_pki_corrupt_existing_file_is_an_error_not_a_regeneration(tmp_path: Path) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs")
    pki.server_cert_file.write_bytes(b"not a certificate")
    with pytest.raises(CertificateError, match="cannot load"):
        ensure_conductor_pki(tmp_path / "certs")
    assert pki.server_cert_file.read_bytes() == b"not a certificate"


def test_pki_warns_about_loose_key_mode_and_uncovered_host(tmp_path: Path, caplog) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs")
    pki.server_key_file.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="symphony.pki"):
        ensure_conductor_pki(tmp_path / "certs", hosts=["other.example"])
    text = caplog.text
    assert "should be 0600" in text
    assert "does not cover other.example" in text


def test_pki_node_certificate_has_node_id_as_cn_and_client_auth(tmp_path: Path) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs")
    key_pem, csr_pem = make_node_key_and_csr("gpu-7")
    cert = x509.load_pem_x509_certificate(issue_node_certificate(pki.ca, csr_pem, "gpu-7"))
    assert cn(cert) == "gpu-7"
    assert cert.issuer == pki.ca.cert.subject
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert b"PRIVATE KEY" in key_pem


@pytest.mark.parametrize(
    ("csr", "node_id", "text"),
    [
        (b"garbage", "n1", "malformed certificate signing request"),
        (None, "", "invalid node id"),
        (None, "../etc", "invalid node id"),
        (None, SHARED_CLIENT_CN, "reserved"),
        ("other", "n1", "asks for CN 'other'"),
    ],
)
def test_pki_bad_csr_or_node_id_is_refused(tmp_path, csr, node_id, text) -> None:
    ca = create_ca()
    if csr is None:
        csr = make_node_key_and_csr("n1")[1]
    elif csr == "other":
        csr = make_node_key_and_csr("other")[1]
    with pytest.raises(CertificateError, match=text):
        issue_node_certificate(ca, csr, node_id)


def test_pki_ca_fingerprint_is_sha256_and_pins(tmp_path: Path) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs")
    fp = ca_fingerprint(pki.ca_file.read_bytes())
    assert fp.startswith("sha256:") and len(fp) == 7 + 64
    assert fp == pki.ca_fingerprint
    colons = "SHA256:" + ":".join(fp[7:][i : i + 2].upper() for i in range(0, 64, 2))
    check_ca_fingerprint(pki.ca_file.read_bytes(), colons)  # accepted in that form too
    with pytest.raises(CAFingerprintMismatch, match="told to trust"):
        check_ca_fingerprint(create_ca().cert_pem, fp)
    with pytest.raises(CAFingerprintMismatch, match="64 hex digits"):
        check_ca_fingerprint(pki.ca_file.read_bytes(), "sha256:abc")
    with pytest.raises(CertificateError):
        ca_fingerprint(b"not pem")


def test_pki_pinned_context_trusts_only_the_pinned_ca(tmp_path: Path) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs")
    ctx = pinned_ca_ssl_context(pki.ca.cert_pem, pki.ca_fingerprint)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert len(ctx.get_ca_certs()) == 1
    with pytest.raises(CAFingerprintMismatch):
        pinned_ca_ssl_context(create_ca().cert_pem, pki.ca_fingerprint)


def test_pki_contexts_require_tls13_and_client_certs(tmp_path: Path) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs")
    server = server_ssl_context(pki)
    assert server.minimum_version == ssl.TLSVersion.TLSv1_3
    assert server.verify_mode == ssl.CERT_REQUIRED
    client = client_ssl_context(pki.ca_file, pki.node_client_cert_file, pki.node_client_key_file)
    assert client.minimum_version == ssl.TLSVersion.TLSv1_3


def test_pki_mismatched_cert_and_key_is_a_clear_error(tmp_path: Path) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs")
    with pytest.raises(CertificateError, match="does the key belong"):
        client_ssl_context(pki.ca_file, pki.node_client_cert_file, pki.server_key_file)


# -- join tokens ----------------------------------------------------------------------


def test_pki_join_token_verifies_then_is_used_up() -> None:
    token, record = new_join_token(60, now=1000.0)
    assert token.startswith("symjt1.") and record.expires_at == 1060.0
    assert token.split(".")[2] not in repr(record) and record.secret_hash not in repr(record)
    verify_join_token(token, record, now=1059.0)
    used = consume_join_token(record, now=1059.0)
    with pytest.raises(JoinTokenUsed):
        verify_join_token(token, used, now=1059.5)


def test_pki_multi_use_join_token_stays_usable() -> None:
    token, record = new_join_token(60, single_use=False, now=0.0)
    record = consume_join_token(record, now=1.0)
    verify_join_token(token, record, now=2.0)


def test_pki_join_token_expires() -> None:
    token, record = new_join_token(60, now=1000.0)
    with pytest.raises(JoinTokenExpired, match="expired at"):
        verify_join_token(token, record, now=1060.0)


def test_pki_wrong_join_token_is_invalid_before_anything_else() -> None:
    token, record = new_join_token(60, now=0.0)
    other, _ = new_join_token(60, now=0.0)
    prefix, token_id, secret = token.split(".")
    forged = f"{prefix}.{token_id}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    for bad in (other, forged):
        with pytest.raises(JoinTokenInvalid) as info:
            verify_join_token(bad, record, now=10_000.0)  # expired too: wrong wins
        assert secret not in str(info.value)


@pytest.mark.parametrize("bad", ["", "symjt1", "symjt1..x", "nope.a.b", "symjt1.a.b.c", 5])
def test_pki_malformed_join_token_is_invalid(bad) -> None:
    with pytest.raises(JoinTokenInvalid, match="malformed"):
        parse_join_token(bad)


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), "60"])
def test_pki_join_token_ttl_must_be_positive(ttl) -> None:
    with pytest.raises(ValueError, match="ttl"):
        new_join_token(ttl)


def test_pki_node_port_issues_no_session_tickets(tmp_path: Path) -> None:
    # No node resumes a session, and a restarted Conductor could not read the old
    # process's tickets anyway; making two per handshake was a third of its CPU per
    # handshake in a reconnect storm.
    from benchmarks.tls import contexts, handshake

    server, client = contexts(tmp_path)
    done = handshake(server, client)
    assert done.client.version() == "TLSv1.3"
    assert done.client.session is not None and not done.client.session.has_ticket
    server.num_tickets = 2  # what the check can see: OpenSSL's default does send them
    assert handshake(server, client).client.session.has_ticket
