"""The Conductor's one-minute usage buckets: roll-over, the one-hour bound, removal.

The store takes the time as an argument (an injected clock), so an hour and a half of
heartbeats runs in microseconds, and every bucket boundary is exact.
"""

from __future__ import annotations

import tracemalloc

import pytest

from symphony.conductor.nodes.usage import BUCKETS, UsageHistory, bucket_start, window_start
from symphony.wire import InstanceUsage

T0 = 1_700_000_040.0  # a minute boundary


def node_usage(cpu: float, ram: int = 100) -> dict[str, object]:
    return {"cpu_percent": cpu, "ram_used": ram, "ram_total": 1000, "per_core": [cpu]}


def usage(instance_id: str, cpu: float = 1.0, rss: int = 10) -> InstanceUsage:
    return InstanceUsage(instance_id=instance_id, cpu_percent=cpu, rss_bytes=rss)


def test_usage_history_samples_of_one_minute_share_a_bucket_then_roll_over() -> None:
    history = UsageHistory()
    history.record_node("n1", node_usage(10.0, ram=100), now=T0)
    history.record_node("n1", node_usage(30.0, ram=300), now=T0 + 59.9)
    history.record_node("n1", node_usage(50.0), now=T0 + 60.0)  # the next minute

    first, second = history.node_buckets("n1", now=T0 + 61)
    assert first == {
        "start": T0,
        "samples": 2,
        "cpu_percent": 20.0,
        "cpu_percent_max": 30.0,
        "ram_used": 200.0,
        "ram_used_max": 300.0,
        "ram_total": 1000.0,
        "ram_total_max": 1000.0,
    }
    assert second["start"] == T0 + 60 and second["samples"] == 1
    assert second["cpu_percent"] == 50.0


def test_usage_history_keeps_at_most_sixty_buckets_of_the_last_hour() -> None:
    history = UsageHistory()
    for minute in range(90):  # an hour and a half of heartbeats, 4 a minute
        for quarter in range(4):
            now = T0 + minute * 60 + quarter * 15
            history.record_node("n1", node_usage(float(minute)), now=now)
            history.record_instances("n1", [usage("i1", cpu=float(minute))], now=now)

    now = T0 + 89 * 60 + 50
    buckets = history.node_buckets("n1", now=now)
    assert len(buckets) == BUCKETS
    assert [b["start"] for b in buckets] == [T0 + m * 60 for m in range(30, 90)]
    assert buckets[0]["start"] == window_start(now)
    assert buckets[-1]["start"] == bucket_start(now)
    assert all(b["samples"] == 4 for b in buckets)
    instance = history.instance("i1", now=now)
    assert instance is not None
    assert len(instance.buckets) == BUCKETS
    assert instance.buckets[-1]["cpu_percent"] == 89.0
    assert instance.current == {"cpu_percent": 89.0, "rss_bytes": 10.0}


def test_usage_history_shows_only_the_last_hour_after_a_quiet_spell() -> None:
    history = UsageHistory()
    history.record_node("n1", node_usage(1.0), now=T0)
    history.record_node("n1", node_usage(2.0), now=T0 + 30 * 60)
    assert len(history.node_buckets("n1", now=T0 + 30 * 60)) == 2
    # 59 minutes after the first sample it is still in the window, at 60 it is not.
    assert len(history.node_buckets("n1", now=T0 + 59 * 60 + 59)) == 2
    later = history.node_buckets("n1", now=T0 + 60 * 60)
    assert [b["cpu_percent"] for b in later] == [2.0]
    assert history.node_buckets("n1", now=T0 + 2 * 3600) == []


def test_usage_history_drops_an_instance_its_node_no_longer_lists() -> None:
    history = UsageHistory()
    history.record_instances("n1", [usage("a"), usage("b")], now=T0)
    history.record_instances("n2", [usage("c")], now=T0)
    assert history.sizes() == (0, 3)

    history.record_instances("n1", [usage("b", cpu=5.0)], now=T0 + 3)  # "a" ended
    assert history.instance("a", now=T0 + 3) is None
    b = history.instance("b", now=T0 + 3)
    assert b is not None and b.current["cpu_percent"] == 5.0
    assert b.buckets[0]["samples"] == 2
    assert history.instance("c", now=T0 + 3) is not None  # another node's: untouched

    history.record_instances("n1", [], now=T0 + 6)  # n1 runs nothing any more
    assert history.sizes() == (0, 1)
    assert set(history.current()) == {"c"}


def test_usage_history_drops_a_lost_node_with_its_instances() -> None:
    history = UsageHistory()
    for node, instance in (("n1", "a"), ("n2", "b")):
        history.record_node(node, node_usage(1.0), now=T0)
        history.record_instances(node, [usage(instance)], now=T0)
    history.drop_node("n1")
    assert history.node_buckets("n1", now=T0) == []
    assert history.instance("a", now=T0) is None
    assert history.sizes() == (1, 1)
    history.drop_node("never-seen")  # harmless


def test_usage_history_a_node_cannot_report_another_nodes_instance() -> None:
    history = UsageHistory()
    history.record_instances("n1", [usage("a", cpu=1.0)], now=T0)
    history.record_instances("n2", [usage("a", cpu=99.0)], now=T0 + 1)
    a = history.instance("a", now=T0 + 1)
    assert a is not None and a.node_id == "n1" and a.current["cpu_percent"] == 1.0
    history.record_instances("n2", [], now=T0 + 2)  # n2's list cannot drop it either
    assert history.instance("a", now=T0 + 2) is not None


@pytest.mark.parametrize(
    "odd",
    [
        {},
        {"cpu_percent": "high"},
        {"cpu_percent": True},
        {"cpu_percent": -1.0},
        {"cpu_percent": float("nan")},
        {"cpu_percent": float("inf")},
        {"cpu_percent": [1]},
    ],
)
def test_usage_history_ignores_what_is_not_a_usable_number(odd: dict[str, object]) -> None:
    history = UsageHistory()
    history.record_node("n1", odd, now=T0)
    assert history.node_buckets("n1", now=T0) == []
    history.record_node("n1", {**odd, "ram_used": 5}, now=T0)
    (bucket,) = history.node_buckets("n1", now=T0)
    assert "cpu_percent" not in bucket and bucket["ram_used"] == 5.0


def test_usage_history_a_clock_step_back_does_not_reorder_buckets() -> None:
    history = UsageHistory()
    history.record_node("n1", node_usage(1.0), now=T0 + 120)
    history.record_node("n1", node_usage(9.0), now=T0)  # the wall clock stepped back
    history.record_node("n1", node_usage(3.0), now=T0 + 125)
    (bucket,) = history.node_buckets("n1", now=T0 + 130)
    assert bucket["start"] == T0 + 120 and bucket["cpu_percent"] == 2.0


def test_usage_history_a_metric_missing_from_some_samples_averages_its_own() -> None:
    history = UsageHistory()
    history.record_node("n1", {"cpu_percent": 10.0, "ram_used": 100}, now=T0)
    history.record_node("n1", {"cpu_percent": 30.0}, now=T0 + 5)  # no RAM figure this time
    (bucket,) = history.node_buckets("n1", now=T0 + 6)
    assert bucket["samples"] == 2
    assert bucket["cpu_percent"] == 20.0
    assert bucket["ram_used"] == 100.0  # the mean of the one RAM sample, not 50
    assert "ram_total" not in bucket


def test_usage_history_an_hour_of_a_node_is_compact() -> None:
    """A Conductor keeps an hour of buckets for every node: thousands of them. An hour
    of one node's must stay a few KiB (one array), not one object per minute (sixty
    bucket objects with an array each were about 13 KiB)."""
    history = UsageHistory()
    nodes = [f"n{k}" for k in range(50)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for minute in range(70):
            for node in nodes:
                history.record_node(node, node_usage(float(minute)), now=T0 + minute * 60)
        per_node = (tracemalloc.get_traced_memory()[0] - before) / len(nodes)
    finally:
        tracemalloc.stop()
    assert len(history.node_buckets("n1", now=T0 + 69 * 60)) == BUCKETS
    assert per_node < 6 * 1024, f"{per_node:.0f} bytes per node"
