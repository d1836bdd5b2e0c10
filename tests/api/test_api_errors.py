"""Malformed input on every entry point: a JSON error with the right status, never a 500."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import httpx
import trio

from .helpers import cluster, sh

GOOD = {"name": "ok", "config": {"command": ["true"]}}


async def raw_request(
    http: httpx.AsyncClient, method: str, path: str, body: bytes
) -> tuple[int, dict]:
    """Send ``body`` over a plain socket and read the answer.

    The server answers an oversized body with 413 and closes the connection before
    reading it all; httpx then abandons its request-body generator, which Python reports
    as an unraisable error later. A socket of our own has no such generator.
    """
    url = http.base_url
    stream = await trio.open_tcp_stream(url.host, url.port)
    auth = http.headers.get("Authorization")
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {url.host}\r\n"
        + (f"Authorization: {auth}\r\n" if auth else "")
        + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    # The server may stop reading early: its answer is already on the way.
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(head + body)
    data = b""
    with trio.fail_after(10):
        while not _complete(data) and (chunk := await stream.receive_some(65536)):
            data += chunk
    await stream.aclose()
    header, _, payload = data.partition(b"\r\n\r\n")
    status = int(header.split()[1])
    try:
        return status, json.loads(payload) if payload else {}
    except ValueError:  # not one JSON document (say, a chunked body): the status alone
        return status, {}


def _complete(data: bytes) -> bool:
    """A whole response: headers, then as many body bytes as Content-Length says."""
    header, sep, payload = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(payload) >= int(value)
    return False


async def test_api_errors_bodies_get_400_413_422_never_500(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        assert (await c.http.post("/deployments", json=GOOD)).status_code == 201

        async def check(method: str, path: str, status: int, **kwargs: object) -> dict:
            response = await c.http.request(method, path, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == status, (method, path, kwargs, response.text)
            assert response.headers["content-type"].startswith("application/json")
            body = response.json()
            assert set(body) == {"error", "detail"}, body
            return body

        for method, path in (("POST", "/deployments"), ("PATCH", "/deployments/ok")):
            raw = {"headers": {"Content-Type": "application/json"}}
            assert (
                "not valid JSON"
                in (await check(method, path, 400, content=b"{nope", **raw))["detail"]
            )
            bad_utf8 = b'{"a": "\xff\xfe"}'
            assert "UTF-8" in (await check(method, path, 400, content=bad_utf8, **raw))["detail"]
            assert "empty" in (await check(method, path, 400, content=b"", **raw))["detail"]
            huge = b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}'
            status, body = await raw_request(c.http, method, path, huge)
            assert status == 413 and set(body) == {"error", "detail"}, (status, body)
        assert (await check("PATCH", "/deployments/ok", 400, json=[1, 2]))["error"] == (
            "malformed request"
        )
        # Wrong types and unknown fields: 422 naming the field path.
        for body, where in (
            ([1, 2], ""),
            ("a string", ""),
            ({"config": {"command": "not a list"}}, "config.command"),
            ({"config": {"command": ["x"]}, "replicas": "2"}, "replicas"),
            ({"config": {"command": ["x"]}, "replicas": False}, "replicas"),
            ({"config": {"command": ["x"]}, "bogus": 1}, "bogus"),
            ({"config": {"command": ["x"]}, "name": "Not A DNS Label"}, "name"),
        ):
            detail = (await check("POST", "/deployments", 422, json=body))["detail"]
            assert isinstance(detail, list) and detail, detail
            paths = [d["path"] for d in detail]
            assert any(p == where or p.startswith(where) for p in paths), (body, detail)
        patched = await check("PATCH", "/deployments/ok", 422, json={"replicas": -1})
        assert patched["detail"][0]["path"] == "replicas"
        # A name in use: 409.
        assert (await check("POST", "/deployments", 409, json=GOOD))["error"] == "name conflict"
        # Unknown deployment, unknown path, wrong method.
        for method in ("GET", "PATCH", "DELETE"):
            await check(method, "/deployments/nope", 404, json={"replicas": 2})
        await check("GET", "/deployments/nope/logs", 404)
        await check("GET", "/deployments/nope/events", 404)
        await check("GET", "/no/such/path", 404)
        await check("PUT", "/deployments", 405)
        await check("POST", "/nodes", 405)


BAD_LOG_QUERIES = [
    ("tail=abc", "tail"),
    ("tail=-1", "tail"),
    ("tail=100001", "tail"),
    ("tail=1e3", "tail"),
    ("follow=maybe", "follow"),
    ("stream=stdin", "stream"),
    ("instance=" + "x" * 300, "instance"),
]


async def test_api_errors_bad_log_parameters_are_400(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        assert (await c.http.post("/deployments", json=sh("true", "p"))).status_code == 201
        for query, named in BAD_LOG_QUERIES:
            response = await c.http.get(f"/deployments/p/logs?{query}")
            assert response.status_code == 400, (query, response.text)
            assert response.json()["error"] == "bad parameter"
            assert named in response.json()["detail"]


async def test_api_errors_bad_event_parameters_are_400(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        assert (await c.http.post("/deployments", json=sh("true", "p"))).status_code == 201
        for query in (
            "after=x",
            "after=-1",
            "limit=0",
            "limit=1001",
            "limit=",
            "after=99999999999999999999",
        ):
            response = await c.http.get(f"/deployments/p/events?{query}")
            assert response.status_code == 400, (query, response.text)
            assert json.loads(response.text)["error"] == "bad parameter"
