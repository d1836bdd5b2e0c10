"""Hostile input fails only itself: a clear 4xx for the request, nothing else affected."""

from __future__ import annotations

from pathlib import Path

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
