"""What one mTLS handshake on the node port costs each side, in CPU.

    python -m benchmarks.tls [--handshakes 300] [--rounds 3]

A Conductor's node port and a node's link, with their real contexts
(``server_ssl_context`` and a node certificate from the same CA), shake hands over
memory buffers in this one process: no sockets, no event loop, so the figure is the
TLS library's own work per handshake on each side (``time.process_time`` around each
step). Measured twice, alternating by round: with the server context as Symphony builds
it, and with TLS 1.3 session tickets turned back on (OpenSSL's default: two per
handshake), which a Conductor restart's reconnect storm used to pay for 5,000 times,
for tickets no node ever presented again.

Prints a table and writes ``benchmarks/results/tls.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import ssl
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from benchmarks._report import print_table, write_json
from symphony.pki import (
    client_ssl_context,
    ensure_conductor_pki,
    issue_node_certificate,
    make_node_key_and_csr,
    server_ssl_context,
    write_private_file,
)


def contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The node port's server context and a node's client context."""
    pki = ensure_conductor_pki(directory / "certs")
    key_pem, csr_pem = make_node_key_and_csr("node-1")
    write_private_file(directory / "node.key", key_pem)
    (directory / "node.pem").write_bytes(issue_node_certificate(pki.ca, csr_pem, "node-1"))
    client = client_ssl_context(
        pki.ca_file, directory / "node.pem", directory / "node.key", check_hostname=False
    )
    return server_ssl_context(pki), client


class Handshake(NamedTuple):
    """A completed handshake: each side's CPU seconds, and the client's end of it."""

    server_s: float
    client_s: float
    client: ssl.SSLObject


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> Handshake:
    """One full handshake, and the client's read of what follows it."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    s = server.wrap_bio(s_in, s_out, server_side=True)
    c = client.wrap_bio(c_in, c_out)
    spent = {s: 0.0, c: 0.0}
    done: set[ssl.SSLObject] = set()
    for _ in range(10):
        for side, outgoing, peer_in in ((c, c_out, s_in), (s, s_out, c_in)):
            if side not in done:
                start = time.process_time()
                try:
                    side.do_handshake()
                    done.add(side)
                except ssl.SSLWantReadError:
                    pass
                spent[side] += time.process_time() - start
            peer_in.write(outgoing.read())
        if len(done) == 2:
            break
    assert len(done) == 2, "the handshake did not complete"
    start = time.process_time()
    with contextlib.suppress(ssl.SSLWantReadError):  # what follows it (tickets, if any)
        c.read(1)
    spent[c] += time.process_time() - start
    return Handshake(spent[s], spent[c], c)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handshakes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server, client = contexts(Path(tmp))
        with_tickets = server_ssl_context(ensure_conductor_pki(Path(tmp) / "certs"))
        with_tickets.num_tickets = 2  # OpenSSL's default
        results: dict[str, dict[str, list[float]]] = {
            "symphony": {"server_ms": [], "client_ms": []},
            "with tickets": {"server_ms": [], "client_ms": []},
        }
        for _ in range(args.rounds):
            for label, context in (("symphony", server), ("with tickets", with_tickets)):
                spent = [handshake(context, client) for _ in range(args.handshakes)]
                results[label]["server_ms"].append(
                    1000 * statistics.mean(h.server_s for h in spent)
                )
                results[label]["client_ms"].append(
                    1000 * statistics.mean(h.client_s for h in spent)
                )
    rows = [
        (label, statistics.median(r["server_ms"]), statistics.median(r["client_ms"]))
        for label, r in results.items()
    ]
    print_table(
        f"CPU per mTLS handshake (ms, median of {args.rounds} rounds of {args.handshakes};"
        f" {ssl.OPENSSL_VERSION})",
        ["server context", "Conductor side", "node side"],
        rows,
    )
    path = write_json(
        "tls", {"openssl": ssl.OPENSSL_VERSION, "handshakes": args.handshakes, **results}
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
