"""Shared test material for the wire and pki tests (no tests here): certificate files, logs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import trio

from symphony.pki import (
    ConductorPKI,
    client_ssl_context,
    create_ca,
    ensure_conductor_pki,
    issue_node_certificate,
    make_node_key_and_csr,
    write_private_file,
)
from symphony.pki.certs import cert_to_pem, generate_key, issue_client_certificate, key_to_pem


@dataclass(frozen=True)
class NodeFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def context(self, **kwargs: object):  # type: ignore[no-untyped-def]
        return client_ssl_context(self.ca_file, self.cert_file, self.key_file, **kwargs)


def node_files(pki: ConductorPKI, directory: Path, node_id: str) -> NodeFiles:
    """A node's key and CA-issued certificate, the way the join flow would make them."""
    directory.mkdir(parents=True, exist_ok=True)
    key_pem, csr_pem = make_node_key_and_csr(node_id)
    cert = directory / f"{node_id}.pem"
    cert.write_bytes(issue_node_certificate(pki.ca, csr_pem, node_id))
    write_private_file(directory / f"{node_id}.key", key_pem)
    return NodeFiles(pki.ca_file, cert, directory / f"{node_id}.key")


def foreign_node_files(pki: ConductorPKI, directory: Path, node_id: str) -> NodeFiles:
    """A client certificate from *another* CA; it trusts the real conductor's CA."""
    directory.mkdir(parents=True, exist_ok=True)
    other = create_ca("Some Other CA")
    key = generate_key()
    cert = issue_client_certificate(other, key.public_key(), node_id)
    (directory / "foreign.pem").write_bytes(cert_to_pem(cert))
    write_private_file(directory / "foreign.key", key_to_pem(key))
    return NodeFiles(pki.ca_file, directory / "foreign.pem", directory / "foreign.key")


def make_pki(tmp_path: Path) -> ConductorPKI:
    return ensure_conductor_pki(tmp_path / "certs")


class LogWatch(logging.Handler):
    """Collects log records and lets a Trio test wait for one containing some text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._changed = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, text: str) -> str:
        while True:
            for line in self.lines:
                if text in line:
                    return line
            await self._changed.wait()
