"""The secrets routes: malformed input, names and dates only, 422 at submit for an
unknown secret, 409 while in use, and a new value reaching only new instances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from ..api.helpers import cluster

NAME = "api-key"


async def test_secrets_routes_refuse_malformed_input_with_json_errors(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        bad_bodies: list[tuple[Any, int]] = [
            ({}, 422),  # no name, no value
            ({"name": NAME}, 422),
            ({"value": "x" * 8}, 422),
            ({"name": NAME, "value": ""}, 422),
            ({"name": NAME, "value": 123}, 422),  # strict: no coercion
            ({"name": NAME, "value": "a\x00b"}, 422),
            ({"name": NAME, "value": "x" * (64 * 1024 + 1)}, 422),
            ({"name": "bad name", "value": "abcdefgh"}, 422),
            ({"name": "-x", "value": "abcdefgh"}, 422),
            ({"name": "x" * 64, "value": "abcdefgh"}, 422),
            ({"name": NAME, "value": "abcdefgh", "extra": 1}, 422),
            ([NAME, "abcdefgh"], 400),
            ("text", 400),
        ]
        for body, status in bad_bodies:
            answer = await c.http.post("/secrets", json=body)
            assert answer.status_code == status, (body, answer.text)
            assert answer.json()["error"]
        for raw in (b"{", b"\xff\xfe", b"null"):
            answer = await c.http.post(
                "/secrets", content=raw, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code in (400, 422), (raw, answer.text)
        surrogate = b'{"name": "api-key", "value": "\\ud800abcdef"}'
        answer = await c.http.post(
            "/secrets", content=surrogate, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422, answer.text
        plain = await c.http.post(
            "/secrets", content=b"x=1", headers={"Content-Type": "text/plain"}
        )
        assert plain.status_code in (400, 415)
        assert (await c.http.delete("/secrets/nope")).status_code == 404
        assert (await c.http.delete("/secrets/%00")).status_code == 404
        assert (await c.http.get("/secrets")).json() == {"secrets": []}


async def test_secrets_listing_shows_names_and_dates_never_values(tmp_path: Path) -> None:
    value = "v4lue-that-is-long"
    async with cluster(tmp_path, node=False) as c:
        first = await c.http.post("/secrets", json={"name": NAME, "value": value})
        assert first.status_code == 201 and first.json()["created"] is True
        assert first.headers["Cache-Control"] == "no-store"
        again = await c.http.post("/secrets", json={"name": NAME, "value": value + "2"})
        assert again.status_code == 200 and again.json()["created"] is False
        listed = (await c.http.get("/secrets")).json()["secrets"]
        assert [set(s) for s in listed] == [{"name", "created_at", "updated_at"}]
        assert listed[0]["updated_at"] >= listed[0]["created_at"]
        assert value not in first.text + again.text + str(listed)
        assert (await c.http.delete(f"/secrets/{NAME}")).json() == {"deleted": NAME}
        assert (await c.http.get("/secrets")).json() == {"secrets": []}


async def test_secrets_unknown_reference_is_a_422_naming_it_and_in_use_cannot_go(
    tmp_path: Path,
) -> None:
    spec = {
        "name": "uses",
        "desired_state": "stopped",
        "config": {"command": ["true"], "env": {"KEY": {"secret": NAME}}},
    }
    async with cluster(tmp_path, node=False) as c:
        refused = await c.http.post("/deployments", json=spec)
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        assert detail[0]["path"] == "config.env.KEY.secret" and NAME in detail[0]["message"]
        bad_ref = {**spec, "config": {"command": ["true"], "env": {"KEY": {"secret": 5}}}}
        assert (await c.http.post("/deployments", json=bad_ref)).status_code == 422
        await c.http.post("/secrets", json={"name": NAME, "value": "abcdefgh"})
        created = await c.http.post("/deployments", json=spec)
        assert created.status_code == 201, created.text
        patch = {"config": {"env": {"OTHER": {"secret": "missing-one"}}}}
        patched = await c.http.patch("/deployments/uses", json=patch)
        assert patched.status_code == 422 and "missing-one" in patched.text
        in_use = await c.http.delete(f"/secrets/{NAME}")
        assert in_use.status_code == 409 and "uses" in in_use.json()["detail"]
        assert (await c.http.delete("/deployments/uses")).status_code == 200
        assert (await c.http.delete(f"/secrets/{NAME}")).status_code == 200


async def _value_seen(c: Any, path: Path, expected: str) -> None:
    with trio.fail_after(15):
        while not path.exists() or path.read_text() != expected:
            await trio.sleep(0.05)


async def test_secrets_set_again_keeps_running_instances_and_restart_takes_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "seen.txt"
    script = 'printf "%s" "$KEY" > "$OUT"; exec sleep 600'
    spec = {
        "name": "reader",
        "config": {
            "command": ["sh", "-c", script],
            "env": {"KEY": {"secret": NAME}, "OUT": str(out)},
        },
    }
    async with cluster(tmp_path) as c:
        await c.http.post("/secrets", json={"name": NAME, "value": "first-value"})
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        running = await c.wait_running("reader")
        await _value_seen(c, out, "first-value")
        await c.http.post("/secrets", json={"name": NAME, "value": "second-value"})
        await trio.sleep(0.5)
        same = (await c.http.get("/deployments/reader")).json()
        assert [i["id"] for i in same["instances"]] == [i["id"] for i in running["instances"]]
        assert same["instances"][0]["state"] == "running"
        # What `symphony restart` does: stop every instance, then start again.
        await c.http.patch("/deployments/reader", json={"desired_state": "stopped"})
        await c.wait_for("reader", lambda d: all(i["finished_at"] for i in d["instances"]))
        await c.http.patch("/deployments/reader", json={"desired_state": "running"})
        await _value_seen(c, out, "second-value")


async def test_secrets_a_restart_on_the_node_reuses_the_value(tmp_path: Path) -> None:
    out = tmp_path / "runs.txt"
    spec = {
        "name": "crasher",
        "config": {
            "command": ["sh", "-c", 'printf "%s\\n" "$KEY" >> "$OUT"; sleep 0.2; exit 3'],
            "env": {"KEY": {"secret": NAME}, "OUT": str(out)},
        },
        "restart_policy": {"type": "on-failure", "backoff_seconds": 0.1, "max_restarts": 2},
    }
    async with cluster(tmp_path) as c:
        await c.http.post("/secrets", json={"name": NAME, "value": "kept-in-memory"})
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        with trio.fail_after(20):
            while not out.exists() or out.read_text().count("\n") < 3:
                await trio.sleep(0.05)
        assert out.read_text().splitlines()[:3] == ["kept-in-memory"] * 3
