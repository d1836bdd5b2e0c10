"""Logs by time through the API: ``since`` and ``timestamps``, and older nodes refused."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

import trio

from symphony.client import AsyncClient
from symphony.wire import LogRequest

from .helpers import cluster, sh
from .old_node import run_old_node

STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (.*)$")


async def test_logs_since_and_timestamps_through_the_api(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        flag = tmp_path / "flag"
        script = f"echo early; while [ ! -e {flag} ]; do sleep 0.02; done; echo late; sleep 30"
        assert (await c.http.post("/deployments", json=sh(script, "clock"))).status_code == 201
        await c.wait_running("clock")

        async def logs(**params: object) -> str:
            response = await c.http.get("/deployments/clock/logs", params=params)
            assert response.status_code == 200, response.text
            return response.text

        with trio.fail_after(10):
            while await logs() != "early\n":
                await trio.sleep(0.02)
        stamped = (await logs(timestamps="true")).splitlines()
        match = STAMPED.match(stamped[0])
        assert match is not None and match.group(1) == "early", stamped
        since = stamped[0].split(" ", 1)[0]  # a printed time, passed back: that line on
        await trio.sleep(0.05)
        flag.touch()
        with trio.fail_after(10):
            while "late" not in await logs():
                await trio.sleep(0.02)
        assert await logs(since=since) == "early\nlate\n"
        assert await logs(since="1h") == "early\nlate\n"
        assert await logs(since="1h", tail=1) == "late\n"
        late = (await logs(timestamps="")).splitlines()[1].split(" ", 1)[0]
        assert await logs(since=late) == "late\n"
        assert await logs(since="2026-01-01T00:00:00+01:00") == "early\nlate\n"
        # The clients say the same.
        client = AsyncClient(c.info.http_url, token=c.info.api_token)
        try:
            assert await client.logs("clock", since=late) == "late\n"
            lines = []
            with trio.fail_after(10), trio.CancelScope() as reading:
                async for line in client.follow_logs("clock", since="1h", timestamps=True):
                    lines.append(line)
                    if len(lines) == 2:
                        reading.cancel()  # not break: see test_client
            assert [STAMPED.match(line).group(1) for line in lines] == ["early", "late"]
        finally:
            await client.aclose()
        for bad in ("10", "yesterday", "2026-02-30T00:00:00Z", "-1m"):
            response = await c.http.get("/deployments/clock/logs", params={"since": bad})
            assert response.status_code == 400, (bad, response.text)
            assert "duration" in response.text or "valid time" in response.text
        # A time too late for a message to a node (past 2262) is the request's fault, not
        # the Conductor's: it was a 409 "cannot encode a LogRequest message". A late one
        # that fits simply has no lines yet.
        for late in ("2600-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
            for follow in ("false", "true"):
                params = {"since": late, "follow": follow}
                response = await c.http.get("/deployments/clock/logs", params=params)
                assert response.status_code == 400, (late, response.text)
                assert "too far in the future" in response.json()["detail"]
        assert await logs(since="2200-01-01T00:00:00Z") == ""


async def test_logs_by_time_from_a_version_4_node_is_refused_saying_why(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        seen: list[Any] = []
        node = partial(run_old_node, version=4, capacities={"Analytic1": 10}, keep_all=True)
        await c.nursery.start(node, c.info, seen)
        spec = {
            "name": "older",
            "node_group": "gpu-1",
            "capacity_requests": {"Analytic1": 1},
            "config": {"command": ["true"]},
        }
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        await c.wait_running("older")
        for params in ({"since": "10m"}, {"timestamps": "true"}):
            response = await c.http.get("/deployments/older/logs", params=params)
            assert response.status_code == 409, response.text
            assert "protocol 4" in response.json()["detail"]
        # Nothing of it reached the node (it would have sent every line, unstamped).
        assert not [m for m in seen if isinstance(m, LogRequest)]
