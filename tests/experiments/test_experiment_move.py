"""A lost node moves only its processes; the peers that connect to a moved name restart.

Real processes (a Conductor and two nodes as ``symphony`` commands), as in the
deployment failure tests: a node is frozen (SIGSTOP) until the Conductor declares it
lost, then thawed so its stale copies are stopped.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from ..deployments.helpers import eventually
from ..deployments.test_failures import ports
from .move_helpers import experiment, proc, started, two_nodes, until

__all__ = ["ports"]


async def test_lost_node_moves_only_its_processes_and_peers_reconnect(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    async with two_nodes(tmp_path, ports, "exp-move") as (nodes, api, out, marker):
        # srv (5 of 10) and group g (5) land on different nodes; quiet (no capacity)
        # shares cli's node, so it must stay put when srv's node is lost.
        spec = {
            "name": "mv",
            "processes": [proc("srv", out, marker, binds="srv")],
            "process_groups": [
                {
                    "name": "g",
                    "processes": [
                        proc("cli", out, marker, connects="srv"),
                        proc(
                            "quiet",
                            out,
                            marker,
                            connects="srv",
                            reconnect="none",
                            capacity_requests={},
                        ),
                    ],
                }
            ],
        }
        where = await started(api, spec)
        srv_node = where["srv"]["node_id"]
        assert where["cli"]["node_id"] != srv_node  # 5 + 5 of 10: one each (spread)
        assert where["quiet"]["node_id"] == where["cli"]["node_id"]  # a group: one node

        async def written() -> bool:
            return (out / "cli").exists()

        await eventually(written, timeout=20)
        old_addr = (out / "cli").read_text()
        written_at = (out / "cli").stat().st_mtime_ns
        assert old_addr.endswith(f":{where['srv']['ports']['srv']}")
        frozen = nodes[srv_node]
        frozen.signal(signal.SIGSTOP)  # lost by the node timeout

        async def moved() -> dict[str, Any] | None:
            e = await experiment(api, "mv")
            p = {x["name"]: x for x in e["processes"]}
            ok = p["srv"]["node_id"] not in (None, srv_node) and e["state"] == "running"
            # Both nodes are 127.0.0.1 with one range: the address may be the same;
            # the new instance of cli wrote it again.
            rewritten = (out / "cli").stat().st_mtime_ns != written_at
            return e if ok and rewritten and p["cli"]["pid"] != where["cli"]["pid"] else None

        after = await until(api, "mv", moved)
        now = {p["name"]: p for p in after["processes"]}
        # Only the lost node's process moved; cli restarted with the new address;
        # quiet (reconnect: none) and anything else on the surviving node stayed put.
        assert now["cli"]["node_id"] == where["cli"]["node_id"]
        new_addr = (out / "cli").read_text()
        assert new_addr.endswith(f":{now['srv']['ports']['srv']}"), (new_addr, now)
        assert now["quiet"]["pid"] == where["quiet"]["pid"]
        events = (await api.http.get("/experiments/mv/events")).json()["events"]
        assert any("reconnect" in e["message"] for e in events), events
        frozen.signal(signal.SIGCONT)


async def test_drained_node_moves_its_process_and_peers_reconnect(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    # A drained node stays in the cluster: its process is replaced on the other node,
    # and the peer that connects to it must learn the new address all the same.
    async with two_nodes(tmp_path, ports, "exp-drain") as (_nodes, api, out, marker):
        spec = {
            "name": "dr",
            "processes": [
                proc("srv", out, marker, binds="srv"),
                proc("cli", out, marker, connects="srv"),
            ],
        }
        where = await started(api, spec)
        srv_node = where["srv"]["node_id"]
        assert where["cli"]["node_id"] != srv_node  # 5 + 5 of 10: one each (spread)

        async def written() -> bool:
            return (out / "cli").exists()

        await eventually(written, timeout=20)
        old_addr = (out / "cli").read_text()
        assert old_addr.endswith(f":{where['srv']['ports']['srv']}")
        response = await api.http.post(f"/nodes/{srv_node}/drain")
        assert response.status_code == 200, response.text

        async def moved() -> dict[str, Any] | None:
            e = await experiment(api, "dr")
            p = {x["name"]: x for x in e["processes"]}
            ok = p["srv"]["node_id"] not in (None, srv_node) and e["state"] == "running"
            return e if ok and p["cli"]["pid"] not in (None, where["cli"]["pid"]) else None

        after = await until(api, "dr", moved)
        now = {p["name"]: p for p in after["processes"]}
        assert now["cli"]["node_id"] == where["cli"]["node_id"]  # cli was not drained

        async def rewritten() -> str | None:
            addr = (out / "cli").read_text()
            return addr if addr != old_addr else None

        new_addr = await eventually(rewritten, timeout=20)
        assert new_addr.endswith(f":{now['srv']['ports']['srv']}"), (new_addr, now)
        events = (await api.http.get("/experiments/dr/events")).json()["events"]
        assert any("reconnect" in e["message"] for e in events), events
