"""``symphony events NAME``: a deployment's whole kept history, not its first page, and
``--tail N`` for the newest N (what happened just now is what one looks for)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trio

from symphony.conductor.store import NewEvent, Store

from ..api.helpers import cluster


async def events_cli(c: object, *args: str) -> list[str]:
    info = c.info  # type: ignore[attr-defined]
    env = {**os.environ, "SYMPHONY_URL": info.http_url, "SYMPHONY_TOKEN": info.api_token or ""}
    done = await trio.run_process(
        [sys.executable, "-m", "symphony.cli", "events", *args],
        env=env,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().splitlines()


async def test_events_shows_every_kept_event_and_tail_the_newest(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        spec = {"name": "busy", "config": {"command": ["true"]}}
        created = (await c.http.post("/deployments", json=spec)).json()
        # A crash loop's worth of history: far past the API's default page of 100.
        with Store.open(tmp_path / "conductor" / "symphony.db") as store:
            before = len(store.list_events(deployment_id=created["id"], limit=1000))
            store.append_events(
                [NewEvent("note", f"event {n}", created["id"], None, {}) for n in range(250)]
            )
        lines = await events_cli(c, "busy")
        assert lines[0].split()[:3] == ["TIME", "KIND", "INSTANCE"]
        assert len(lines) == 1 + before + 250
        assert lines[-1].endswith("event 249")
        tail = await events_cli(c, "busy", "--tail", "3")
        assert [line.rsplit(" ", 1)[-1] for line in tail[1:]] == ["247", "248", "249"]
        first = await events_cli(c, "busy", "--limit", "2")
        assert len(first) == 3 and "deployment busy created" in first[1]
        # None asked for: nothing said, not "no events yet" of a deployment that has some.
        assert await events_cli(c, "busy", "--tail", "0") == []
        assert await events_cli(c, "busy", "--limit", "0") == []
