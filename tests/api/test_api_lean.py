"""``POST /deployments`` served by the lean path answers exactly as Quart's route does.

Each case is sent twice to one real Conductor, over a plain socket so that every byte
of the answer is seen: once as ``POST /deployments`` (the lean path takes it when it
may) and once as ``POST /deployments?via=quart`` (a query string always goes through
Quart, whose route ignores it). Status, headers (but the date) and body must match;
a 201's generated fields (ids, times) are compared by shape.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import trio

from symphony.conductor.api.body import MAX_BODY, MAX_DEPTH
from symphony.conductor.api.lean import LeanApi

from .helpers import cluster
from .test_api_errors import _complete  # a whole answer read off a raw socket

GENERATED = {"id", "created_at", "updated_at"}


def spec(name: str, **extra: Any) -> bytes:
    body: dict[str, Any] = {"name": name, "config": {"command": ["true"]}}
    body.update(extra)
    return json.dumps(body).encode()


async def send_raw(
    url: Any, head: dict[str, str], body: bytes, path: str
) -> tuple[int, list, bytes]:
    """One request on its own connection: (status, headers but the date, body)."""
    stream = await trio.open_tcp_stream(url.host, url.port)
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in head]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    # The server may answer (413) and close before it has read the whole body.
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(request)
    data = b""
    with trio.fail_after(30):
        while not _complete(data):
            data += await stream.receive_some(65536)
    await stream.aclose()
    header, _, payload = data.partition(b"\r\n\r\n")
    status_line, *fields = header.decode("latin-1").split("\r\n")
    headers = [tuple(f.split(": ", 1)) for f in fields if not f.lower().startswith("date:")]
    return int(status_line.split(" ")[1]), headers, payload


def shape(value: Any) -> Any:
    """A 201's body with the fields a create generates replaced by their type."""
    if isinstance(value, dict):
        return {k: type(v).__name__ if k in GENERATED else shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return value


def cases(token: str | None) -> list[tuple[str, Any, bytes, bool]]:
    """(what, headers, body, taken by the lean path)."""
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    json_type = {**auth, "Content-Type": "application/json"}
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    return [
        ("created", json_type, spec("NAME"), True),
        ("created, +json type", {**auth, "Content-Type": "application/merge-patch+json"},
         spec("NAME2"), True),
        ("name in use", json_type, spec("taken"), True),
        ("bad JSON", json_type, b"{bad", True),
        ("a key twice", json_type, spec("NAME4")[:-1] + b', "name": "u0"}', True),
        ("not UTF-8", json_type, b'{"name": "\xff\xfe"}', True),
        ("too deep", json_type, b'{"config": ' + deep + b"}", True),
        ("deeper than Python recurses", json_type, b"[" * 100_000 + b"]" * 100_000, True),
        ("unknown field", json_type, spec("u1", bogus=1), True),
        ("wrong type", json_type, spec("u2", replicas="2"), True),
        ("not an object", json_type, b"[1, 2]", True),
        ("only spaces", json_type, b"   ", True),
        ("experiment set", json_type, spec("u3", experiment="e"), True),
        ("unknown upload", json_type,
         json.dumps({"name": "u4", "config": {"command": ["x"], "image": "upload:" + "a" * 64}}
                    ).encode(), True),
        ("empty body", {**json_type, "Content-Length": "0"}, b"", False),
        ("text/plain", {**auth, "Content-Type": "text/plain"}, spec("u5"), False),
        ("no type", auth, spec("u6"), False),
        ("no token", {"Content-Type": "application/json"}, spec("u7"), not token),
        ("wrong token", {"Authorization": "Bearer nope", "Content-Type": "application/json"},
         spec("u8"), not token),
        ("cross-site", {**json_type, "Origin": "https://evil.example"}, spec("u9"), False),
        ("too large", json_type, b'{"x": "' + b"a" * MAX_BODY + b'"}', False),
        # A repeated header counts with its first value, as werkzeug reads it.
        ("two tokens, the first wrong", [("Authorization", "Bearer nope"), *auth.items(),
         ("Content-Type", "application/json")], spec("u10"), not token),
        ("two types, the first JSON", [*json_type.items(), ("Content-Type", "text/plain")],
         spec("NAME3"), True),
    ]  # fmt: skip


async def test_lean_post_answers_exactly_as_the_quart_route(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        url = c.http.base_url
        token = c.info.api_token
        assert token is not None  # the token check is part of what is compared
        auth = {"Authorization": f"Bearer {token}"}
        assert (await c.http.post("/deployments", content=spec("taken"), headers={
            **auth, "Content-Type": "application/json"})).status_code == 201  # fmt: skip
        for what, head, body, lean in cases(token):
            answers = []
            for path, name in (("/deployments", b"lean"), ("/deployments?via=quart", b"qrtx")):
                data = body.replace(b"NAME", name)  # two creates need two names
                fields = list(head.items() if isinstance(head, dict) else head)
                if "Content-Length" not in dict(fields):
                    fields.append(("Content-Length", str(len(data))))
                before = LeanApi.served
                status, headers, payload = await send_raw(url, fields, data, path)
                taken = LeanApi.served - before
                assert taken == (lean and path == "/deployments"), (what, path, taken)
                answers.append((status, headers, payload))
            (status, headers, payload), (q_status, q_headers, q_payload) = answers
            assert status == q_status, (what, status, payload, q_status, q_payload)
            if status == 201:
                mine, theirs = json.loads(payload), json.loads(q_payload)
                assert mine["name"].startswith("lean") and theirs["name"].startswith("qrtx")
                mine["name"] = mine["spec"]["name"] = theirs["name"]
                assert shape(mine) == shape(theirs), what
                assert payload.endswith(b"}\n") and q_payload.endswith(b"}\n")
                # Same headers; the length differs only with the times' digits.
                assert [h[0] for h in headers] == [h[0] for h in q_headers], what
                assert headers[0] == q_headers[0] == ("content-type", "application/json")
            else:
                assert (headers, payload) == (q_headers, q_payload), what
                assert set(json.loads(payload)) == {"error", "detail"}, what
        # Both creates of each 201 case exist: the lean one is an ordinary deployment.
        for name in ("lean", "qrtx", "lean2", "qrtx2", "lean3", "qrtx3"):
            assert (await c.http.get(f"/deployments/{name}")).status_code == 200, name


async def test_lean_post_is_taken_and_leaves_the_rest_to_quart(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        before = LeanApi.served
        response = await c.http.post(
            "/deployments", json={"name": "a", "config": {"command": ["x"]}}
        )
        assert response.status_code == 201
        assert LeanApi.served == before + 1
        # Not the lean path's: other routes, methods and paths.
        assert (await c.http.get("/deployments")).status_code == 200
        assert (await c.http.get("/deployments/a")).status_code == 200
        assert (await c.http.post("/deployments/", json={})).status_code in (404, 405, 308)
        assert (await c.http.post("/deployments:batch", json={"deployments": []})).status_code
        assert (await c.http.put("/deployments", json={})).status_code == 405
        assert LeanApi.served == before + 1
        # The API's own error on a route Quart serves is unchanged (405 keeps Allow).
        response = await c.http.put("/deployments", json={})
        assert "POST" in response.headers["allow"] and response.json()["error"]
