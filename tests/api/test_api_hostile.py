"""Hostile input fails only itself: a clear 4xx for the request, nothing else affected."""

from __future__ import annotations

import json
import math
from pathlib import Path

import msgpack

from symphony.conductor.api.hosts import allowed_hosts
from symphony.conductor.api.routes_nodes import node_json
from symphony.conductor.nodes.model import NodeView

from ..link.test_malformed_frames import _send_raw_after_hello
from ..ui.test_live import live
from .helpers import cluster

JSON = {"Content-Type": "application/json"}


async def test_api_text_that_is_not_unicode_is_422_with_its_path(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        cases = {
            b'{"config": {"command": ["echo", "\\ud800"]}}': "config.command[1]",
            b'{"config": {"command": ["x"], "env": {"A": "\\udfff"}}}': "config.env.A",
            b'{"config": {"command": ["x"], "cwd": "/tmp/\\ud800x"}}': "config.cwd",
            b'{"config": {"command": ["x"], "env": {"A\\u0001": "v"}}}': "config.env['A\\x01']",
            b'{"name": "web\\n", "config": {"command": ["x"]}}': "name",
            b'{"node_group": "g\\n", "config": {"command": ["x"]}}': "node_group",
        }
        for body, path in cases.items():
            response = await c.http.post("/deployments", content=body, headers=JSON)
            assert response.status_code == 422, (body, response.text)
            assert path in [e["path"] for e in response.json()["detail"]], response.json()
        # A PATCH is validated as a whole, the same way.
        assert (
            await c.http.post("/deployments", json={"name": "ok", "config": {"command": ["true"]}})
        ).status_code == 201
        patch = b'{"config": {"command": ["x\\ud800"]}}'
        response = await c.http.patch("/deployments/ok", content=patch, headers=JSON)
        assert response.status_code == 422 and response.json()["detail"][0]["path"] == (
            "config.command[0]"
        )
        assert (await c.http.get("/deployments")).status_code == 200
        # A merge patch's null would remove the name (a new one made from the command,
        # the old one found no more): refused, the deployment unchanged.
        response = await c.http.patch("/deployments/ok", json={"name": None, "replicas": 2})
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["path"] == "name"
        kept = (await c.http.get("/deployments/ok")).json()
        assert kept["name"] == "ok" and kept["spec"]["replicas"] == 1
        # Errors never echo text that is not valid Unicode.
        response = await c.http.post("/tokens", content=b'{"\\ud800": 1}', headers=JSON)
        assert response.status_code == 422
        assert response.json()["detail"] == [{"path": "", "message": "is not valid Unicode text"}]


async def test_api_deeply_nested_json_is_400_on_every_body(tmp_path: Path) -> None:
    # 1,000 nested lists made Python's recursion limit fail: a 500.
    async with cluster(tmp_path, node=False) as c:
        good = {"name": "ok", "config": {"command": ["true"]}}
        assert (await c.http.post("/deployments", json=good)).status_code == 201
        for depth in (33, 1000, 100_000):
            deep = b"[" * depth + b"]" * depth
            spec = b'{"config": {"command": ["x"]}, "health_check": ' + deep + b"}"
            for method, path, body in (
                ("POST", "/deployments", deep),
                ("POST", "/deployments", spec),
                ("PATCH", "/deployments/ok", spec),
                ("POST", "/tokens", b'{"ttl_seconds": ' + deep + b"}"),
            ):
                response = await c.http.request(method, path, content=body, headers=JSON)
                assert response.status_code == 400, (method, path, depth, response.text)
                assert "more than 32 deep" in response.json()["detail"]
        # Ordinary nesting is fine.
        nested = {"name": "nested", "config": {"command": ["true"], "env": {"A": "1"}}}
        assert (await c.http.post("/deployments", json=nested)).status_code == 201


def _hello(**fields: object) -> bytes:
    return msgpack.packb({"t": "hello", "protocol_version": 2, "node_id": "odd", **fields})


async def test_api_odd_node_reports_never_break_node_listings(tmp_path: Path) -> None:
    # A hello whose resources held bytes made GET /nodes and /live 500 until restart.
    async with cluster(tmp_path) as c:
        for frame in (
            _hello(resources={"cpu": b"\x00\x01"}),
            _hello(resources={"ram": float("nan")}),
            _hello(resources={"deep": [[[[[[[[[[1]]]]]]]]]]}),
            _hello(node_id="odd\n"),
            _hello(groups=["g\n"]),
            _hello(capacities_total={"A": 10**15}),
        ):
            assert await _send_raw_after_hello(c.info, frame, hello=False) == 1002
        heartbeat = msgpack.packb({"t": "heartbeat", "seq": 1, "usage": {"x": b"1"}})
        assert await _send_raw_after_hello(c.info, heartbeat) == 1002
        response = await c.http.get("/nodes")
        assert response.status_code == 200, response.text
        states = {n["node_id"]: n["state"] for n in response.json()["nodes"]}
        assert states["n1"] == "ready" and "odd" not in states
        async with live(c.info.http_url, c.info.api_token) as (response, sse):
            assert response.status_code == 200
            snapshot = await sse.until("snapshot", lambda data: True)
        assert "n1" in [n["node_id"] for n in snapshot["nodes"]]


def test_api_node_json_leaves_out_what_json_cannot_show() -> None:
    deep: list = []
    for _ in range(20):
        deep = [deep]
    view = NodeView(
        node_id="n1",
        state="ready",
        groups=("g",),
        capacities_total={"A": 1},
        resources={"name": b"gpu", "ram": math.nan, "deep": deep, "ok": [1, "x"]},
        usage={"cpu": math.inf, 3: "int key", "fine": 1.5},
        last_heartbeat=None,
        connected_at=None,
        remote=None,
        shared_certificate=False,
        heartbeat_sec=1.0,
    )
    data = node_json(view, {})
    json.dumps(data, allow_nan=False)  # strict JSON: no bytes, no NaN, no RecursionError
    assert data["resources"]["ok"] == [1, "x"] and data["resources"]["name"] is None
    assert data["usage"] == {"cpu": None, "fine": 1.5}


async def test_api_cross_site_requests_are_refused_without_auth(tmp_path: Path) -> None:
    # With auth: none, a web page's text/plain POST (which browsers send cross-site
    # without asking) created a deployment: a command on every node.
    async with cluster(tmp_path, node=False, http_auth="none") as c:
        spec = b'{"name": "evil", "config": {"command": ["touch", "/tmp/pwned"]}}'
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"Content-Type": content_type} if content_type else {}
            response = await c.http.post("/deployments", content=spec, headers=headers)
            assert response.status_code == 415, (content_type, response.text)
            assert response.json()["error"] == "unsupported media type"
        # A JSON POST from another site's page is refused by its Origin.
        for origin in ("http://evil.example", "null", "http://127.0.0.1.evil.example:8000"):
            headers = {**JSON, "Origin": origin}
            response = await c.http.post("/deployments", content=spec, headers=headers)
            assert response.status_code == 403, (origin, response.text)
            response = await c.http.delete("/deployments/x", headers={"Origin": origin})
            assert response.status_code == 403
        assert (await c.http.get("/deployments")).json()["deployments"] == []
        # JSON merge patch has its own JSON media type.
        response = await c.http.patch(
            "/deployments/x",
            content=b'{"replicas": 2}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert response.status_code == 404  # read as JSON: only the name is unknown
        # The web UI's own requests carry its own origin: accepted.
        own = {**JSON, "Origin": str(c.http.base_url).rstrip("/")}
        assert (await c.http.post("/deployments", content=spec, headers=own)).status_code == 201
        # Reading is not refused by Origin (a page cannot read the answer anyway).
        assert (await c.http.get("/nodes", headers={"Origin": "http://evil.example"})).is_success


async def test_api_unknown_host_header_is_refused(tmp_path: Path) -> None:
    # DNS rebinding: a page on evil.example, resolved to 127.0.0.1, is "same-origin".
    async with cluster(tmp_path, node=False, http_auth="none") as c:
        port = c.http.base_url.port
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", "", "a:b:c"):
            response = await c.http.get("/nodes", headers={"Host": host})
            assert response.status_code == 421, (host, response.text)
            assert response.json()["error"] == "unknown host"
        assert (await c.http.get("/ui", headers={"Host": "evil.example"})).status_code == 421
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"LOCALHOST.:{port}"):
            assert (await c.http.get("/nodes", headers={"Host": host})).status_code == 200


async def test_api_allowed_hosts_from_the_config(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False, http_allowed_hosts=("conductor.lan",)) as c:
        assert (await c.http.get("/healthz", headers={"Host": "conductor.lan"})).status_code == 200
        assert (await c.http.get("/healthz", headers={"Host": "other.lan"})).status_code == 421
        good = {"name": "ok", "config": {"command": ["true"]}}
        behind_proxy = {"Origin": "https://conductor.lan", "Host": "conductor.lan"}
        response = await c.http.post("/deployments", json=good, headers=behind_proxy)
        assert response.status_code == 201


def test_api_allowed_hosts_defaults() -> None:
    import socket

    import psutil

    assert allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert allowed_hosts("10.1.2.3") == {"localhost", "127.0.0.1", "::1", "10.1.2.3"}
    everything = allowed_hosts("0.0.0.0", ["Proxy.Example."])
    assert socket.gethostname().lower() in everything and "proxy.example" in everything
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET:
                assert address.address in everything


async def test_api_stored_spec_that_cannot_be_sent_fails_only_its_instance(
    tmp_path: Path,
) -> None:
    # A spec an older version accepted (a lone surrogate in its command) is still in the
    # store: the node's link, its other jobs and every listing must be unaffected.
    from symphony.conductor.store import Store
    from symphony.spec import parse_stored_spec

    bad = {
        "name": "old-bad",
        "config": {"command": ["echo", "\ud800"], "env": {"K\x01": "v"}},
        "reschedule": {"attempts": 0},
    }
    with Store.open(tmp_path / "conductor" / "symphony.db") as store:
        store.create_deployment(parse_stored_spec(bad))
    async with cluster(tmp_path) as c:
        good = {"name": "good", "config": {"command": ["sleep", "60"]}}
        assert (await c.http.post("/deployments", json=good)).status_code == 201
        running = await c.wait_running("good")
        failed = await c.wait_for(
            "old-bad", lambda d: any(i["state"] == "failed" for i in d["instances"])
        )
        assert "could not send" in failed["instances"][0]["reason"]
        events = (await c.http.get("/deployments/old-bad/events")).json()["events"]
        assert any("could not send" in e["message"] for e in events)
        listed = (await c.http.get("/deployments")).json()["deployments"]
        assert {d["name"] for d in listed} == {"old-bad", "good"}
        nodes = (await c.http.get("/nodes")).json()["nodes"]
        assert [(n["node_id"], n["state"]) for n in nodes] == [("n1", "ready")]
        still = await c.wait_running("good")
        assert still["instances"][0]["pid"] == running["instances"][0]["pid"]
        # A PATCH validates the whole spec again and names what must change.
        response = await c.http.patch("/deployments/old-bad", json={"replicas": 2})
        assert response.status_code == 422
        assert {e["path"] for e in response.json()["detail"]} >= {"config.command[1]"}


async def test_api_rollback_to_a_stored_template_rules_now_refuse_is_a_422(
    tmp_path: Path,
) -> None:
    # Version 1 is a template an older version accepted (a lone surrogate in its
    # command); going back to it must be refused in words, and the Deployments actor
    # must go on answering (it used to raise inside it).
    from symphony.conductor.store import Store
    from symphony.spec import parse_stored_spec

    bad = {"name": "old-bad", "config": {"command": ["echo", "\ud800"]}}
    with Store.open(tmp_path / "conductor" / "symphony.db") as store:
        store.create_deployment(parse_stored_spec(bad))
    async with cluster(tmp_path) as c:
        fixed = {"config": {"command": ["sleep", "60"]}}
        assert (await c.http.patch("/deployments/old-bad", json=fixed)).status_code == 200
        await c.wait_running("old-bad")
        response = await c.http.post("/deployments/old-bad/rollback", json={"version": 1})
        assert response.status_code == 422, response.text
        assert {e["path"] for e in response.json()["detail"]} >= {"config.command[1]"}
        good = {"name": "good", "config": {"command": ["sleep", "60"]}}
        assert (await c.http.post("/deployments", json=good)).status_code == 201
        await c.wait_running("good")
