"""Heartbeat deltas (protocol 5): only what changed goes on the wire; old nodes still work.

Real mTLS links on 127.0.0.1 into a registry in the test's loop. No timer is under test
here, so the clock is the real one and every wait is for a condition, with a deadline.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from symphony.wire import Heartbeat
from symphony.wire.usagedelta import FULL_EVERY, MAX_USAGE_KEYS, UsageSender

from .fleet import Endpoint, endpoint


async def _usage_becomes(ep: Endpoint, node_id: str, expected: dict[str, object]) -> None:
    with trio.fail_after(30):
        while (await ep.views())[node_id].usage != expected:
            await trio.sleep(0.02)


async def _refusals(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    """Wait until ``count`` heartbeat usages were refused; return their log records."""
    with trio.fail_after(30):
        while True:
            found = [r for r in caplog.records if "heartbeat usage refused" in r.getMessage()]
            if len(found) >= count:
                return found
            await trio.sleep(0.02)


async def test_deltas_are_merged_into_the_links_usage(tmp_path: Path) -> None:
    async with endpoint(tmp_path) as ep, ep.node("new") as (conn, accepted):
        assert accepted.protocol_version == 5
        await conn.send(Heartbeat(seq=0, usage={"cpu_percent": 1.0, "ram_used": 5, "disks": []}))
        await conn.send(Heartbeat(seq=1, usage={"cpu_percent": 2.0}, delta=True))
        await _usage_becomes(ep, "new", {"cpu_percent": 2.0, "ram_used": 5, "disks": []})
        await conn.send(Heartbeat(seq=2, usage={}, delta=True))  # nothing changed
        await conn.send(Heartbeat(seq=3, usage={"ram_used": 6}, delta=True))
        await _usage_becomes(ep, "new", {"cpu_percent": 2.0, "ram_used": 6, "disks": []})


async def test_deltas_a_version_4_node_sends_full_heartbeats_and_is_accepted(
    tmp_path: Path,
) -> None:
    async with endpoint(tmp_path) as ep, ep.node("old", version=4) as (conn, accepted):
        assert accepted.protocol_version == 4
        for seq, cpu in enumerate((1.0, 3.0)):
            await conn.send(Heartbeat(seq=seq, usage={"cpu_percent": cpu, "ram_used": 5}))
        await _usage_becomes(ep, "old", {"cpu_percent": 3.0, "ram_used": 5})
        assert (await ep.views())["old"].protocol_version == 4


async def test_deltas_malformed_ones_are_refused_and_the_link_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with endpoint(tmp_path) as ep, ep.node("n1") as (conn, _):
        session = (await ep.views())["n1"].connected_at
        # A delta before any full heartbeat: nothing to apply it to.
        await conn.send(Heartbeat(seq=0, usage={"cpu_percent": 9.0}, delta=True))
        await _refusals(caplog, 1)
        assert (await ep.views())["n1"].usage == {}
        await conn.send(Heartbeat(seq=1, usage={"cpu_percent": 1.0}))
        await _usage_becomes(ep, "n1", {"cpu_percent": 1.0})
        # A delta that would grow the usage past its bound.
        many = {f"k{i}": i for i in range(MAX_USAGE_KEYS)}
        await conn.send(Heartbeat(seq=2, usage=many, delta=True))
        refused = await _refusals(caplog, 2)
        assert all(r.levelno == logging.WARNING for r in refused)
        assert (await ep.views())["n1"].usage == {"cpu_percent": 1.0}
        # The same link, still up, and its heartbeats still apply.
        await conn.send(Heartbeat(seq=3, usage={"cpu_percent": 4.0}, delta=True))
        await _usage_becomes(ep, "n1", {"cpu_percent": 4.0})
        view = (await ep.views())["n1"]
        assert view.state == "ready" and view.connected_at == session


def test_deltas_sender_sends_changes_and_a_full_one_now_and_then() -> None:
    sender = UsageSender(deltas=True)
    sent = [sender.next({"cpu": float(i % 2), "ram": 5}) for i in range(2 * FULL_EVERY)]
    assert sent[0] == ({"cpu": 0.0, "ram": 5}, None)
    assert sent[1] == ({"cpu": 1.0}, True)
    fulls = [i for i, (_, delta) in enumerate(sent) if delta is None]
    assert fulls == [0, FULL_EVERY]
    assert sender.next({"cpu": 1.0}) == ({"cpu": 1.0}, None)  # a key went: full again
    old = UsageSender(deltas=False)  # a Conductor older than 5
    assert [old.next({"cpu": 1.0})[1] for _ in range(3)] == [None, None, None]
