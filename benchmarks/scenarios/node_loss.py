"""Node loss: a node's machine vanishes (agent, monitor and jobs SIGKILLed together);
time until every job it ran has written its first line again on the other node.

The figure includes the node timeout by design: a silent node is declared lost only when
``--node-timeout`` has passed since its last heartbeat (here 0.5 s heartbeats, 1.5 s
timeout), so the timeout is shown as the limit beside it. Rounds alternate the node that
dies; the dead one is started again (fresh) before the next round.

The peer is not measured: its node time-to-live is fixed at 60 s, checked every 5 s,
with no option to shorten either, so it would measure its constants.
"""

from __future__ import annotations

import time

from ._context import Context
from ._figures import Figure, one, stats
from ._symphony import symphony_harness

NAME = "node_loss"
HEARTBEAT, TIMEOUT = 0.5, 1.5


async def run(ctx: Context) -> list[Figure]:
    jobs, rounds = ctx.size(4, 10), ctx.size(1, 3)
    samples = []
    async with symphony_harness(ctx, NAME, nodes=2, heartbeat=HEARTBEAT, node_timeout=TIMEOUT) as (
        h,
        cluster,
    ):
        names = [f"loss-{i}" for i in range(jobs)]
        for name in names:
            await h.api.create(name, h.probe.command(name))
        await h.probe.wait_all(names)
        for round_ in range(rounds):
            victim = f"node-{round_ % 2}"
            on_victim = []
            for name in names:
                live = [
                    i
                    for i in (await h.api.deployment(name))["instances"]
                    if i["state"] == "running"
                ]
                if any(i["node_id"] == victim for i in live):
                    on_victim.append(name)
            seen = {name: len(h.probe.lines[name]) for name in on_victim}
            start = time.perf_counter()
            cluster.kill_node(victim)
            last = start
            for name in on_victim:
                line = await h.probe.wait_for(name, count=seen[name] + 1, timeout=60)
                last = max(last, line.at)
            samples.append(last - start)
            cluster.start_node(victim)
            await cluster.wait_nodes_ready(2)
    return [
        Figure(
            NAME,
            f"node lost -> its jobs running elsewhere ({jobs} jobs, spread)",
            "s",
            stats(samples),
            peer_note="peer: node TTL fixed at 60 s (checked every 5 s), not configurable",
            limit=one(TIMEOUT),
            limit_label="node timeout (set)",
            target="replacements running",
            met=len(samples) == rounds,
        )
    ]
