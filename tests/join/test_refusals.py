"""Every way a join can fail is one clear error on the node and a clear line on the
Conductor, and none of them spends the token or leaks it into a log."""

from __future__ import annotations

import ssl
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.conductor.join import JoinService
from symphony.conductor.store import Store
from symphony.node.enroll import check_server_certificate, enroll
from symphony.pki import (
    CAFingerprintMismatch,
    JoinTokenExpired,
    JoinTokenInvalid,
    JoinTokenUsed,
    create_ca,
    ensure_conductor_pki,
    new_join_token,
    server_ssl_context,
)
from symphony.wire import (
    ConnectFailed,
    Hello,
    ServerUntrusted,
    TLSRejected,
    client_hello,
    connect_to_conductor,
    serve_nodes,
)

from .helpers import api, capture_logs, create_token, start_conductor


async def join(info: Any, token: str, tmp_path: Path, node_id: str = "n1", **kw: Any) -> Any:
    fields = {
        "host": "127.0.0.1",
        "port": info.node_port,
        "token": token,
        "ca_hash": info.ca_fingerprint,
        "node_id": node_id,
        "state_dir": tmp_path / node_id,
    }
    fields.update(kw)
    return await enroll(**fields)


async def token_state(info: Any, token_id: str) -> dict[str, Any]:
    listed = (await api(info, "GET", "/tokens")).json()["tokens"]
    return next(t for t in listed if t["id"] == token_id)


async def test_join_wrong_ca_hash_is_refused_before_the_token_is_sent(tmp_path: Path) -> None:
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, tmp_path / "c")
            created = await create_token(info)
            wrong = create_ca().fingerprint
            with pytest.raises(CAFingerprintMismatch, match="someone in between"):
                await join(info, created["token"], tmp_path, ca_hash=wrong)
            # The conductor never received a request: the node left after the CA.
            state = await token_state(info, created["id"])
            assert state["usable"] and state["used_at"] is None
            nursery.cancel_scope.cancel()
    text = logs.text()
    assert "left before the exchange ended" in text
    assert "refused join" not in text and "joined from" not in text
    assert not (tmp_path / "n1" / "identity").exists()


async def test_join_expired_token_is_refused(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        # A token that expired a minute ago, written the way POST /tokens writes one.
        token, record = new_join_token(60, now=time.time() - 120)
        with Store.open(info.state_dir / "symphony.db") as store:
            store.add_join_token(record.id, record.secret_hash, expires_at=record.expires_at)
        with pytest.raises(JoinTokenExpired, match=f"join token {record.id} expired at"):
            await join(info, token, tmp_path)
        nursery.cancel_scope.cancel()


async def test_join_single_use_token_is_refused_the_second_time(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        created = await create_token(info)
        await join(info, created["token"], tmp_path, node_id="first")
        with pytest.raises(JoinTokenUsed, match="already used"):
            await join(info, created["token"], tmp_path, node_id="second")
        assert not (tmp_path / "second" / "identity").exists()
        nursery.cancel_scope.cancel()


async def test_join_unknown_or_wrong_token_is_refused(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        created = await create_token(info)
        other, _ = new_join_token(60)  # never stored here
        with pytest.raises(JoinTokenInvalid, match="unknown join token"):
            await join(info, other, tmp_path)
        prefix, token_id, secret = created["token"].split(".")
        forged = f"{prefix}.{token_id}.{secret[::-1]}"
        with pytest.raises(JoinTokenInvalid, match="wrong"):
            await join(info, forged, tmp_path)
        assert (await token_state(info, created["id"]))["usable"]
        nursery.cancel_scope.cancel()


async def test_join_unreachable_conductor_is_connect_failed(tmp_path: Path) -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    token, _ = new_join_token(60)
    with pytest.raises(ConnectFailed, match="cannot reach the conductor"):
        await enroll(
            host="127.0.0.1",
            port=port,
            token=token,
            ca_hash=create_ca().fingerprint,
            node_id="n1",
            state_dir=tmp_path,
        )


async def test_join_certless_client_on_the_node_path_is_refused_fast(tmp_path: Path) -> None:
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, tmp_path / "c")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(info.cert_dir / "ca.pem")
            start = time.monotonic()
            with pytest.raises(TLSRejected, match="rejected our client certificate"):
                async with connect_to_conductor("127.0.0.1", info.node_port, ctx, timeout=10) as c:
                    await client_hello(c, Hello(protocol_version=1, node_id="n1"), timeout=10)
            assert time.monotonic() - start < 1.0
            with trio.fail_after(2):
                while "presented no client certificate" not in logs.text():
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    line = next(r.getMessage() for r in logs.records if "no client certificate" in r.getMessage())
    assert line.startswith("rejected TLS client 127.0.0.1:") and "/v1/node" in line


async def test_join_endpoint_without_join_support_is_tls_rejected(tmp_path: Path) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs")

    async def never(conn: Any) -> None:
        raise AssertionError("no cert-less client may reach the node handler")

    async with trio.open_nursery() as nursery:
        # Required client certificates and no join handler: an older conductor.
        port = await nursery.start(
            partial(
                serve_nodes, never, host="127.0.0.1", port=0, ssl_context=server_ssl_context(pki)
            )
        )
        token, _ = new_join_token(60)
        start = time.monotonic()
        with pytest.raises(TLSRejected, match="does not let nodes join"):
            await enroll(
                host="127.0.0.1",
                port=port,
                token=token,
                ca_hash=pki.ca_fingerprint,
                node_id="n1",
                state_dir=tmp_path / "n",
            )
        assert time.monotonic() - start < 1.0
        nursery.cancel_scope.cancel()


async def test_join_server_certificate_not_from_the_pinned_ca_is_untrusted(tmp_path: Path) -> None:
    # A server that sends the real CA (which the node pins) but cannot prove it holds a
    # certificate from it: the node refuses before it sends the token.
    real = ensure_conductor_pki(tmp_path / "real")
    impostor = ensure_conductor_pki(tmp_path / "impostor")
    with Store.open(tmp_path / "db.sqlite") as store:
        join_service = JoinService(ca=real.ca, store=store)
        created = join_service.create_token(ttl=60)

        async def never(conn: Any) -> None:
            raise AssertionError("unreachable")

        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                partial(
                    serve_nodes,
                    never,
                    host="127.0.0.1",
                    port=0,
                    ssl_context=server_ssl_context(impostor, client_cert="optional"),
                    join_handler=join_service.serve,
                )
            )
            with pytest.raises(ServerUntrusted, match="not issued by the CA"):
                await enroll(
                    host="127.0.0.1",
                    port=port,
                    token=created.token,
                    ca_hash=real.ca_fingerprint,
                    node_id="n1",
                    state_dir=tmp_path / "n",
                )
            nursery.cancel_scope.cancel()
        record = store.get_join_token(created.id)
        assert record is not None and record.used_at is None


def test_join_node_certificate_is_not_accepted_as_server_certificate(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from symphony.pki import issue_node_certificate, make_node_key_and_csr

    pki = ensure_conductor_pki(tmp_path / "certs")
    _, csr = make_node_key_and_csr("mallory")
    pem = issue_node_certificate(pki.ca, csr, "mallory")
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    with pytest.raises(ServerUntrusted, match="not a server certificate"):
        check_server_certificate(der, pki.ca.cert_pem)
    with pytest.raises(ServerUntrusted, match="no TLS certificate"):
        check_server_certificate(None, pki.ca.cert_pem)
    server_der = x509.load_pem_x509_certificate(pki.server_cert_file.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    check_server_certificate(server_der, pki.ca.cert_pem)  # the real one passes
