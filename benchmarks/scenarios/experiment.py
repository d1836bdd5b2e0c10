"""Experiment: one ``POST /experiments`` of 100 processes on 4 nodes -> every first line.

The experiment has one learner binding two names, 60 agents in 15 process groups of 4
(each group on one node) connecting to them, and 39 lone processes: 100 deployments,
placed as one gang, each started with its SYMPH_* environment. The sample is the time
from the POST until the last of the 100 processes wrote its start line to the probe.
Repeated, deleting the experiment in between. The limit beside it is the same 100
commands started directly with ``Popen``.

Target (issue "Experiments"): at most 1 s on this machine.
"""

from __future__ import annotations

import time
from typing import Any

from ._api import SymphonyApi, expect
from ._context import Context, Harness
from ._figures import Figure, stats
from ._probe import Probe
from ._symphony import symphony_harness
from .burst import raw_burst

NAME = "experiment"
TARGET_S = 1.0


def spec(name: str, probe: Probe, n: int) -> dict[str, Any]:
    """``n`` processes: a learner, groups of 4 agents (60 % of them), the rest alone."""
    groups = max(1, (n * 3) // 20)
    lone = n - 1 - 4 * groups

    def proc(proc_name: str, **extra: Any) -> dict[str, Any]:
        return {"name": proc_name, "command": probe.command(f"{name}-{proc_name}"), **extra}

    return {
        "name": name,
        "processes": [
            proc("learner", binds=["replay-server", "parameter-server"]),
            *(proc(f"worker-{i}", connects="replay-server") for i in range(lone)),
        ],
        "process_groups": [
            {
                "name": f"agents-{g}",
                "processes": [
                    proc(f"agent-{g}-{k}", connects=["parameter-server"]) for k in range(4)
                ],
            }
            for g in range(groups)
        ],
    }


def names_of(body: dict[str, Any]) -> list[str]:
    procs = [*body["processes"], *(p for g in body["process_groups"] for p in g["processes"])]
    return [p["command"][-1] for p in procs]


async def measure(h: Harness, http: Any, params: dict[str, Any]) -> dict[str, Any]:
    samples = []
    for round_ in range(params["repeats"]):
        body = spec(f"exp{round_}", h.probe, params["n"])
        names = names_of(body)
        start = time.perf_counter()
        expect(await http.post("/experiments", json=body), 201)
        last = await h.probe.wait_all(names, timeout=params.get("timeout", 120))
        samples.append(last - start)
        expect(await http.delete(f"/experiments/{body['name']}", timeout=120), 200)
    return {"experiment_s": samples}


async def run(ctx: Context) -> list[Figure]:
    # The CI size keeps to one node and 10 processes: the suite has a time budget.
    params = {"n": ctx.size(10, 100), "repeats": ctx.size(1, 3)}
    nodes = ctx.size(1, 4)
    async with symphony_harness(ctx, NAME, nodes=nodes) as (h, _):
        api = h.api
        assert isinstance(api, SymphonyApi)
        ours = await measure(h, api.http, params)
        raw = [await raw_burst(h.probe, params["n"]) for _ in range(params["repeats"])]
    median = stats(ours["experiment_s"])["median"]
    return [
        Figure(
            NAME,
            f"experiment: {params['n']} processes on {nodes} nodes, POST -> all first lines",
            "s",
            stats(ours["experiment_s"]),
            peer_note="peer: no experiments across nodes (its experiments run on one machine)",
            limit=stats(raw),
            limit_label=f"{params['n']} commands via Popen",
            target=f"<= {TARGET_S:g} s for 100 on 4 nodes" if not ctx.quick else "",
            met=(median <= TARGET_S) if not ctx.quick else None,
        )
    ]
