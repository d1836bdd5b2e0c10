"""Malformed input at both entry points (the join exchange, POST /tokens), the CLI, and
the promise that no token ever reaches a log."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio
import trio_websocket

from symphony.cli import main
from symphony.conductor.join import JoinService
from symphony.conductor.store import Store
from symphony.pki import ensure_conductor_pki, make_node_key_and_csr, server_ssl_context
from symphony.pki.contexts import enrollment_ssl_context
from symphony.wire import serve_nodes
from symphony.wire.server import JOIN_WS_PATH

from .helpers import (
    api,
    capture_logs,
    create_token,
    join_node,
    start_conductor,
    start_node,
    wait_ready,
)


async def exchange(port: int, frame: bytes | str) -> dict[str, Any]:
    """Open the join resource by hand, send one frame, return the conductor's answer
    (``{"t": "closed", "code": ...}`` if it closed the connection instead)."""
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    tls = trio.SSLStream(tcp, enrollment_ssl_context(), server_hostname="127.0.0.1")
    answer: dict[str, Any] = {}
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(nursery, tls, "127.0.0.1", JOIN_WS_PATH)
            try:
                offer = msgpack.unpackb(await ws.get_message())
                assert offer["t"] == "join_ca" and offer["ca_pem"].startswith(b"-----BEGIN CERT")
                await ws.send_message(frame)
                answer = msgpack.unpackb(await ws.get_message())
            except trio_websocket.ConnectionClosed as closed:
                answer = {"t": "closed", "code": closed.reason.code}
            finally:
                await ws.aclose()
                nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(tls)  # trio-websocket leaves it open after a peer close
    return answer


def request(token: str, node_id: str = "n1", csr: bytes | None = None, **extra: Any) -> bytes:
    if csr is None:
        csr = make_node_key_and_csr(node_id)[1]
    return msgpack.packb(
        {"t": "join_request", "token": token, "node_id": node_id, "csr_pem": csr, **extra}
    )


async def test_join_malformed_requests_are_refused_and_spend_nothing(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        created = await create_token(info)
        token = created["token"]
        any_csr = make_node_key_and_csr("x")[1]
        cases: list[tuple[bytes | str, str, str]] = [
            # garbage
            (b"\xc1not msgpack", "bad_request", "not valid msgpack"),
            (b"", "bad_request", "not valid msgpack"),
            ("a text frame", "bad_request", "binary frames only"),
            (msgpack.packb([1, 2]), "bad_request", "a message must be a map, got int"),
            (msgpack.packb({"t": "nonsense"}), "bad_request", "unknown message type"),
            (msgpack.packb({"token": token}), "bad_request", "type tag 't'"),
            # another message of the protocol, alone or in a batch
            (msgpack.packb({"t": "heartbeat", "seq": 1}), "bad_request", "got Heartbeat"),
            (msgpack.packb([{"t": "heartbeat", "seq": 1}]), "bad_request", "got a batch"),
            # wrong types and missing fields
            (msgpack.packb({"t": "join_request", "token": token}), "bad_request", "node_id"),
            (request(token, csr="text"), "bad_request", "csr_pem: expected bytes"),  # type: ignore[arg-type]
            (request(token, groups="gpu-1"), "bad_request", "JoinRequest.groups"),
            (request(token, groups=[1]), "bad_request", "groups[0]: expected str"),
            (request(token, capacities={"A": -1}), "bad_request", "capacities['A']"),
            (request(token, capacities={"A": 10**13}), "bad_request", "capacities['A']"),
            (request(token, capacities={"A": True}), "bad_request", "capacities['A']"),
            # oversize fields (the frame itself fits)
            (request("x" * 600), "bad_request", "JoinRequest.token"),
            (request(token, csr=b"x" * 20_000), "bad_request", "JoinRequest.csr_pem"),
            (request(token, groups=["g"] * 300), "bad_request", "JoinRequest.groups"),
            # well-formed, but not acceptable
            (request(token, csr=b"not a csr"), "bad_request", "malformed certificate signing"),
            (request(token, csr=make_node_key_and_csr("other")[1]), "bad_request", "'other'"),
            (request(token, node_id="bad id!", csr=any_csr), "bad_request", "node_id"),
            (request(token, node_id="node-client", csr=any_csr), "bad_request", "reserved"),
            (request("symjt1.only-two"), "invalid", "malformed join token"),
            (request(""), "invalid", "malformed join token"),
        ]
        for frame, code, text in cases:
            answer = await exchange(info.node_port, frame)
            assert answer["t"] == "join_refused", frame
            assert answer["code"] == code, (frame, answer)
            assert text in answer["reason"], (frame, answer)
        # None of that spent the token; a proper request still works.
        answer = await exchange(info.node_port, request(token))
        assert answer["t"] == "join_ok" and b"BEGIN CERTIFICATE" in answer["cert_pem"]
        nursery.cancel_scope.cancel()


async def test_join_oversized_request_is_dropped(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        answer = await exchange(info.node_port, b"\x00" * (128 * 1024))
        assert answer == {"t": "closed", "code": 1009}  # message too big
        created = await create_token(info)
        assert (await exchange(info.node_port, request(created["token"])))["t"] == "join_ok"
        nursery.cancel_scope.cancel()


async def test_join_tokens_api_refuses_bad_input(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        bad: list[tuple[Any, int]] = [
            (b"{not json", 400),
            (b"\xff\xfe", 400),
            (b"[1, 2]", 400),
            (b'{"ttl_seconds": "abc"}', 422),
            (b'{"ttl_seconds": true}', 422),
            (b'{"ttl_seconds": -1}', 422),
            (b'{"ttl_seconds": 0}', 422),
            (b'{"ttl_seconds": NaN}', 422),
            (b'{"ttl_seconds": 1e12}', 422),
            (b'{"reusable": "yes"}', 422),
            (b'{"ttl": 60}', 422),
        ]
        for body, status in bad:
            response = await api(
                info, "POST", "/tokens", content=body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == status, (body, response.text)
            assert set(response.json()) == {"error", "detail"}
        response = await api(info, "POST", "/tokens", content=b"")  # defaults
        assert response.status_code == 201 and response.json()["single_use"] is True
        assert response.headers["cache-control"] == "no-store"
        token_id = response.json()["id"]
        async with trio_websocket_free_client(info) as client:
            assert (await client.post("/tokens")).status_code == 401
        assert (await api(info, "DELETE", f"/tokens/{token_id}")).status_code == 200
        assert (await api(info, "DELETE", f"/tokens/{token_id}")).status_code == 404
        assert (await api(info, "GET", "/tokens")).json() == {"tokens": []}
        nursery.cancel_scope.cancel()


def trio_websocket_free_client(info: Any) -> Any:
    import httpx

    return httpx.AsyncClient(base_url=info.http_url, timeout=5)


async def test_join_cli_token_create_prints_a_working_join_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./.symphony here: everything comes from the env
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        monkeypatch.setenv("SYMPHONY_URL", info.http_url)
        monkeypatch.setenv("SYMPHONY_TOKEN", (info.state_dir / "api-token").read_text().strip())
        code = await trio.to_thread.run_sync(main, ["token", "create", "--ttl", "15m"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "single-use, valid for 15m" in out and info.ca_fingerprint in out
        line = next(x.strip() for x in out.splitlines() if x.strip().startswith("symphony node"))
        words = line.split()
        join_addr = words[words.index("--join") + 1]
        assert join_addr == f"127.0.0.1:{info.node_port}"
        created = {
            "token": words[words.index("--token") + 1],
            "ca_hash": words[words.index("--ca-hash") + 1],
        }
        await start_node(nursery, join_node(info, "cli-node", tmp_path / "n", created))
        assert (await wait_ready(info, "cli-node"))["shared_certificate"] is False
        # list shows it spent; revoke removes it; --json is machine-readable.
        assert await trio.to_thread.run_sync(main, ["token", "list", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)["tokens"]
        assert len(listed) == 1 and listed[0]["usable"] is False
        assert await trio.to_thread.run_sync(main, ["token", "revoke", listed[0]["id"]]) == 0
        assert await trio.to_thread.run_sync(main, ["token", "revoke", listed[0]["id"]]) == 1
        assert "not found" in capsys.readouterr().err
        monkeypatch.setenv("SYMPHONY_TOKEN", "wrong")
        assert await trio.to_thread.run_sync(main, ["token", "create"]) == 1
        assert "unauthorized" in capsys.readouterr().err
        nursery.cancel_scope.cancel()


def test_join_cli_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYMPHONY_URL", "http://127.0.0.1:9")  # discard port: refused
    assert main(["token", "create"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("symphony: error: cannot reach the Conductor at http://127.0.0.1:9")
    assert err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["token", "create", "--ttl", "soon"])
    assert exit_info.value.code == 2
    assert "expected a duration like 90s" in capsys.readouterr().err


async def test_join_token_never_reaches_a_log(tmp_path: Path) -> None:
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, tmp_path / "c")
            created = await create_token(info)
            config = join_node(info, "quiet", tmp_path / "n", created)
            await start_node(nursery, config)
            await wait_ready(info, "quiet")
            # Refusals log too: a second use, and a forged secret.
            await exchange(info.node_port, request(created["token"], node_id="again"))
            forged = created["token"][:-4] + "AAAA"
            await exchange(info.node_port, request(forged, node_id="forged"))
            nursery.cancel_scope.cancel()
    text = logs.text()
    assert "already used" in text and "join token is wrong" in text  # the refusals logged
    assert created["id"] in text  # the id names the token in the log...
    secret = created["token"].split(".")[2]
    for leaked in (created["token"], secret, forged, forged.split(".")[2]):
        assert leaked not in text  # ...its secret never does
    assert secret not in repr(config)


async def test_join_silent_client_is_dropped_after_the_exchange_timeout(
    tmp_path: Path, autojump_clock: Any
) -> None:
    pki = ensure_conductor_pki(tmp_path / "certs")

    async def never(conn: Any) -> None:
        raise AssertionError("unreachable")

    with Store.open(tmp_path / "db.sqlite") as store, capture_logs() as logs:
        service = JoinService(ca=pki.ca, store=store, exchange_timeout=10.0)
        async with trio.open_nursery() as nursery:
            ctx = server_ssl_context(pki, client_cert="optional")
            port = await nursery.start(
                partial(
                    serve_nodes,
                    never,
                    host="127.0.0.1",
                    port=0,
                    ssl_context=ctx,
                    join_handler=service.serve,
                )
            )
            start = trio.current_time()
            # Sends nothing after the CA offer: a text frame is never sent either.
            answer = await exchange_silently(port)
            assert answer["t"] == "closed"
            assert 10.0 <= trio.current_time() - start < 12.0
            nursery.cancel_scope.cancel()
    assert "exchange not done within 10.0s" in logs.text()


async def exchange_silently(port: int) -> dict[str, Any]:
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    tls = trio.SSLStream(tcp, enrollment_ssl_context(), server_hostname="127.0.0.1")
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(nursery, tls, "127.0.0.1", JOIN_WS_PATH)
            try:
                await ws.get_message()  # the CA offer
                await ws.get_message()  # nothing more comes: the conductor gives up
                return {"t": "unexpected"}
            except trio_websocket.ConnectionClosed as closed:
                return {"t": "closed", "code": closed.reason.code}
            finally:
                await ws.aclose()
                nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(tls)
