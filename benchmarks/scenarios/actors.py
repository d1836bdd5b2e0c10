"""The actor runtime beside raw Trio (``benchmarks/actors.py``), with its two targets:
tell >= 50% of a bare memory channel, ask p50 <= 3x a bare two-Event round trip."""

from __future__ import annotations

import logging

from benchmarks import actors

from ._context import Context
from ._figures import Figure

NAME = "actors"
NOTE = "the peer has no actor runtime to compare"


def _scaled(summary: dict[str, float], scale: float) -> dict[str, float]:
    return {k: (v * scale if k != "n" else v) for k, v in summary.items()}


async def run(ctx: Context) -> list[Figure]:
    logging.getLogger("symphony.actors").setLevel(logging.CRITICAL)
    r = await actors.main_async(ctx.quick)
    tell = r["tell_msgs_per_s"]["median"] / r["raw_channel_msgs_per_s"]["median"]
    ask = r["ask_rtt_s"]["median"] / r["raw_event_rtt_s"]["median"]
    us = 1e6
    return [
        Figure(
            NAME,
            "actor tell throughput (64-slot mailbox)",
            "msg/s",
            r["tell_msgs_per_s"],
            "higher",
            peer_note=NOTE,
            limit=r["raw_channel_msgs_per_s"],
            limit_label="bare memory channel",
            target=">= 0.50x of the channel",
            met=tell >= 0.5,
            extra={"ratio_to_limit": tell},
        ),
        Figure(
            NAME,
            "actor ask round trip",
            "µs",
            _scaled(r["ask_rtt_s"], us),
            peer_note=NOTE,
            limit=_scaled(r["raw_event_rtt_s"], us),
            limit_label="two-Event ping-pong",
            target="p50 <= 3x the ping-pong",
            met=ask <= 3,
            extra={"ratio_to_limit": ask},
        ),
        Figure(
            NAME,
            "actor crash -> restarted actor answers",
            "µs",
            _scaled(r["restart_s"], us),
            peer_note=NOTE,
            limit=_scaled(r["raw_task_start_s"], us),
            limit_label="nursery.start of a task",
        ),
    ]
