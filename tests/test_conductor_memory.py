"""What a Conductor keeps resident: it serves without ``cryptography`` loaded.

``cryptography`` (about 8 MiB a process keeps for good) builds and parses
certificates. A Conductor creates its certificates once (its first start: in a child
process), signs a node's certificate at a join, and opens sealed secrets; it does not
need the library to serve its API and its nodes, so it does not load it for that.
Each is checked in a real process, as it starts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from symphony.pki import (
    ca_fingerprint,
    ensure_conductor_pki,
    issue_node_certificate,
    make_node_key_and_csr,
)
from symphony.pki.certs import cert_to_pem
from tests.deployments.helpers import tear_down_node
from tests.deployments.onenode import one_node_cluster


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_a_conductor_serving_a_node_has_not_loaded_cryptography(tmp_path: Path) -> None:
    """Started fresh (it creates its certificates), a node connected with the shared
    client certificate, the API answering: no ``cryptography`` mapped in the process."""
    conductor, agent, api = await one_node_cluster(tmp_path, capacity=1)
    try:
        assert (await api.http.get("/secrets")).status_code == 200
        maps = Path(f"/proc/{conductor.pid}/maps").read_text()
        assert "cryptography" not in maps, conductor.output()[-3000:]
        assert (tmp_path / "conductor" / "certs" / "ca.key").exists()
    finally:
        await tear_down_node(agent, conductor, api, tmp_path / "worker" / "jobs")


def test_creating_certificates_apart_leaves_this_process_without_cryptography(
    tmp_path: Path,
) -> None:
    certs = tmp_path / "certs"
    out = _run(
        "import sys\n"
        "from symphony.pki.apart import ensure_conductor_pki_apart\n"
        f"pki = ensure_conductor_pki_apart({str(certs)!r}, hosts=['10.1.2.3'])\n"
        "print(pki.ca_fingerprint)\n"
        "print('cryptography' in sys.modules)\n"
    )
    fingerprint, loaded = out.split()
    assert loaded == "False"
    # The files are what ensure_conductor_pki itself makes and checks.
    pki = ensure_conductor_pki(certs, hosts=["10.1.2.3"])
    assert pki.ca_fingerprint == fingerprint
    assert sorted(p.name for p in certs.iterdir()) == [
        "ca.key", "ca.pem", "node-client.key", "node-client.pem", "server.key", "server.pem",
    ]  # fmt: skip


def test_a_ca_read_from_files_is_parsed_only_to_sign(tmp_path: Path) -> None:
    """Loading existing files checks them with ssl alone; the CA's PEM and fingerprint
    are what ``cryptography`` makes of them, and it still signs a node's certificate."""
    made = ensure_conductor_pki(tmp_path / "certs")
    out = _run(
        "import sys\n"
        "from symphony.pki import ensure_conductor_pki\n"
        f"pki = ensure_conductor_pki({str(tmp_path / 'certs')!r})\n"
        "print(pki.ca_fingerprint, pki.ca.cert_pem.hex(), 'cryptography' in sys.modules)\n"
    )
    fingerprint, pem_hex, loaded = out.split()
    assert loaded == "False"
    from cryptography import x509

    parsed = x509.load_pem_x509_certificate(made.ca_file.read_bytes())
    assert fingerprint == ca_fingerprint(made.ca_file.read_bytes())
    assert bytes.fromhex(pem_hex) == cert_to_pem(parsed)
    again = ensure_conductor_pki(tmp_path / "certs")
    _, csr = make_node_key_and_csr("gpu-7")
    cert = x509.load_pem_x509_certificate(issue_node_certificate(again.ca, csr, "gpu-7"))
    assert cert.issuer == parsed.subject
