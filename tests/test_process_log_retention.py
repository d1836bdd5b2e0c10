"""A node deletes the logs of instances it no longer holds (see ``process/loggc.py``).

By age (their newest file older than the retention), then past a total, oldest first.
Never the logs of an instance it holds: live, ended and kept, or with a record that an
adoption has yet to take over. Real manager and monitor on a temporary state dir.
"""

from __future__ import annotations

import logging
import os
import time

import pytest
import trio
import trio.testing

from symphony.config import ConfigError, NodeConfig
from symphony.node.process.loggc import sweep, sweep_forever
from tests.jobs.harness import open_node, spec, wait_real

DAY = 86400.0
ONCE = spec(["sh", "-c", "echo said $SYMPHONY_INSTANCE"], restart_policy={"type": "never"})
LOOP = spec(["sh", "-c", "echo up; while true; do sleep 0.05; done"])


def logs(state: str, instance_id: str = "") -> str:
    return os.path.join(state, "logs", instance_id)


def age(path: str, days: float) -> None:
    """Make a log directory and everything in it look ``days`` old."""
    when = time.time() - days * DAY
    for name in os.listdir(path):
        os.utime(os.path.join(path, name), (when, when))
    os.utime(path, (when, when))


def orphan(state: str, instance_id: str, days: float, size: int = 10) -> None:
    """Logs left by an instance the node no longer knows."""
    os.makedirs(logs(state, instance_id))
    with open(os.path.join(logs(state, instance_id), "stdout.log"), "wb") as f:
        f.write(b"x" * size)
    age(logs(state, instance_id), days)


def present(state: str) -> list[str]:
    return sorted(os.listdir(logs(state)))


async def test_the_sweep_deletes_old_orphaned_logs_and_never_held_ones(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    state = str(tmp_path / "node")
    caplog.set_level(logging.INFO, logger="symphony.node.process.loggc")
    with trio.fail_after(60):
        async with open_node(state) as node:
            await node.start("live-0", LOOP)
            await node.start("ended-0", ONCE)  # ended for good, kept until confirmed
            await node.start("gone-0", ONCE)
            await wait_real(lambda: any(u.final for u in node.of("ended-0")))
            await wait_real(lambda: any(u.final for u in node.of("gone-0")))
            await wait_real(lambda: node.manager.tail("live-0") == ["up"])
            await node.manager.stop_instance("gone-0")  # forgotten: its logs are orphans
            for held_or_gone in ("live-0", "ended-0", "gone-0"):
                age(logs(state, held_or_gone), 30)
            orphan(state, "old-0", 8)
            orphan(state, "new-0", 6)
            os.makedirs(logs(state, "not an instance"))
            age(logs(state, "not an instance"), 30)

            gone = sum(e.stat().st_size for e in os.scandir(logs(state, "gone-0")))
            count, size = await sweep(node.manager, retention=7 * DAY, max_bytes=0)

            assert present(state) == ["ended-0", "live-0", "new-0", "not an instance"]
            assert (count, size) == (2, 10 + gone)
            assert "deleted the logs of 2 instance(s)" in caplog.text
            # Nothing more is due: the next sweep deletes nothing and says nothing.
            caplog.clear()
            assert await sweep(node.manager, retention=7 * DAY, max_bytes=0) == (0, 0)
            assert "deleted" not in caplog.text
            # A start of a forgotten id makes its directory again.
            await node.start("gone-0", ONCE)
            await wait_real(lambda: node.manager.tail("gone-0") == ["said gone-0"])


async def test_past_the_total_the_oldest_orphans_go_first(tmp_path) -> None:
    state = str(tmp_path / "node")
    with trio.fail_after(60):
        async with open_node(state) as node:
            await node.start("live-0", LOOP)
            await wait_real(lambda: node.manager.tail("live-0") == ["up"])
            age(logs(state, "live-0"), 90)  # the oldest, but held: neither counted nor gone
            for days, name in ((3, "a-0"), (2, "b-0"), (1, "c-0")):
                orphan(state, name, days, size=100)
            orphan(str(tmp_path / "elsewhere"), "big-0", 30, size=1000)
            os.symlink(logs(str(tmp_path / "elsewhere"), "big-0"), logs(state, "link-0"))
            assert await sweep(node.manager, retention=0, max_bytes=250) == (1, 100)
            assert present(state) == ["b-0", "c-0", "link-0", "live-0"]
            assert await sweep(node.manager, retention=0, max_bytes=250) == (0, 0)
            assert await sweep(node.manager, retention=0, max_bytes=100) == (1, 100)
            assert present(state) == ["c-0", "link-0", "live-0"]
            # 0 and 0: logs are kept forever.
            assert await sweep(node.manager, retention=0, max_bytes=0) == (0, 0)
            assert present(state) == ["c-0", "link-0", "live-0"]
            # A symlink there is neither followed nor deleted, nor what it points to.
            assert os.listdir(logs(state, "link-0")) == ["stdout.log"]


async def test_a_start_while_the_sweep_measures_keeps_its_logs(tmp_path) -> None:
    """Held is checked again after the measuring (in a thread): an id whose start came
    meanwhile keeps its old lines (appended to, not deleted and made anew)."""
    state = str(tmp_path / "node")
    with trio.fail_after(60):
        async with open_node(state) as node, trio.open_nursery() as nursery:
            for i in range(3000):  # ~0.1 s of measuring
                orphan(state, f"old-{i}", 8)
            swept: list[tuple[int, int]] = []

            async def sweeping() -> None:
                # By the total alone: its start makes old-0 new, no longer due by age.
                swept.append(await sweep(node.manager, retention=0, max_bytes=1))

            nursery.start_soon(sweeping)
            await trio.testing.wait_all_tasks_blocked(cushion=0.02)  # in its thread
            assert not swept
            await node.start("old-0", ONCE)
            await wait_real(lambda: bool(swept))
            assert swept == [(2999, 2999 * 10)]
            assert present(state) == ["old-0"]
            await wait_real(lambda: node.manager.tail("old-0") == ["x" * 10, "said old-0"])


async def test_logs_of_recorded_instances_stay_until_the_adoption(tmp_path) -> None:
    """An agent that comes after another: an instance with a record is the node's even
    before the adoption has taken it over (its job may run)."""
    state = str(tmp_path / "node")
    with trio.fail_after(60):
        async with open_node(state, keep_monitor=True) as node:
            await node.start("live-0", LOOP)
            await wait_real(lambda: node.manager.tail("live-0") == ["up"])
        age(logs(state, "live-0"), 30)
        async with open_node(state) as node:
            assert await sweep(node.manager, retention=DAY, max_bytes=1) == (0, 0)
            assert present(state) == ["live-0"]
            await node.manager.adopt()
            assert await sweep(node.manager, retention=DAY, max_bytes=1) == (0, 0)
            assert present(state) == ["live-0"]


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.1)


async def test_the_sweep_runs_at_start_then_every_interval(tmp_path, clock) -> None:
    state = str(tmp_path / "node")
    async with open_node(state) as node, trio.open_nursery() as nursery:
        orphan(state, "old-0", 8)
        nursery.start_soon(lambda: sweep_forever(node.manager, interval=300.0))
        await wait_real(lambda: present(state) == [])
        orphan(state, "old-1", 8)
        await trio.sleep(290.0)
        assert present(state) == ["old-1"]
        await trio.sleep(20.0)
        await wait_real(lambda: present(state) == [])
        nursery.cancel_scope.cancel()


def test_the_node_settings() -> None:
    config = NodeConfig(node_id="n1")
    assert config.log_retention_sec == 7 * DAY and config.orphan_logs_max_bytes == 2**30
    kept = NodeConfig(node_id="n1", log_retention_sec=0, orphan_logs_max_bytes=0)
    assert kept.log_retention_sec == 0.0 and kept.orphan_logs_max_bytes == 0
    with pytest.raises(ConfigError, match="log_retention_sec"):
        NodeConfig(node_id="n1", log_retention_sec=-1)
    with pytest.raises(ConfigError, match="orphan_logs_max_bytes"):
        NodeConfig(node_id="n1", orphan_logs_max_bytes=-1)
