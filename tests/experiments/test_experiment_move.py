"""A lost node moves only its processes; the peers that connect to a moved name restart.

Real processes (a Conductor and two nodes as ``symphony`` commands), as in the
deployment failure tests: a node is frozen (SIGSTOP) until the Conductor declares it
lost, then thawed so its stale copies are stopped.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from ..deployments import procs
from ..deployments.helpers import Api, eventually, pids_with
from ..deployments.test_failures import _stop_all, ports, start_cluster

__all__ = ["ports"]

DUMP = (
    "import os, sys, time; out = sys.argv[1]; "
    "open(out + '.tmp', 'w').write(os.environ.get('SYMPH_SRV_ADDR', '')); "
    "os.replace(out + '.tmp', out); time.sleep(300)"
)


def proc(name: str, out: Path, marker: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "command": [sys.executable, "-c", DUMP, str(out / name), marker],
        "capacity_requests": {"Analytic1": 5},
        **extra,
    }


async def experiment(api: Api, name: str) -> dict[str, Any]:
    response = await api.http.get(f"/experiments/{name}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_lost_node_moves_only_its_processes_and_peers_reconnect(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    marker = f"exp-move-{tmp_path.name}"
    out = tmp_path / "out"
    out.mkdir()
    conductor, nodes, api = await start_cluster(tmp_path, ports, ["a-node", "b-node"])
    try:
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
        response = await api.http.post("/experiments", json=spec)
        assert response.status_code == 201, response.text

        async def running() -> dict[str, Any] | None:
            e = await experiment(api, "mv")
            return e if e["state"] == "running" else None

        first = await eventually(running, timeout=30)
        where = {p["name"]: p for p in first["processes"]}
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

        try:
            after = await eventually(moved, timeout=40)
        except AssertionError:
            events = (await api.http.get("/experiments/mv/events")).json()["events"]
            state = await experiment(api, "mv")
            raise AssertionError(f"{state}\n{[e['message'] for e in events]}") from None
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
    finally:
        with contextlib.suppress(ProcessLookupError):
            for pid in pids_with(marker):
                procs.os.kill(pid, signal.SIGKILL)
        _stop_all(conductor, nodes)
        await api.aclose()


async def test_drained_node_moves_its_process_and_peers_reconnect(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    # A drained node stays in the cluster: its process is replaced on the other node,
    # and the peer that connects to it must learn the new address all the same.
    marker = f"exp-drain-{tmp_path.name}"
    out = tmp_path / "out"
    out.mkdir()
    conductor, nodes, api = await start_cluster(tmp_path, ports, ["a-node", "b-node"])
    try:
        spec = {
            "name": "dr",
            "processes": [
                proc("srv", out, marker, binds="srv"),
                proc("cli", out, marker, connects="srv"),
            ],
        }
        response = await api.http.post("/experiments", json=spec)
        assert response.status_code == 201, response.text

        async def running() -> dict[str, Any] | None:
            e = await experiment(api, "dr")
            return e if e["state"] == "running" else None

        first = await eventually(running, timeout=30)
        where = {p["name"]: p for p in first["processes"]}
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

        try:
            after = await eventually(moved, timeout=40)
        except AssertionError:
            events = (await api.http.get("/experiments/dr/events")).json()["events"]
            state = await experiment(api, "dr")
            raise AssertionError(f"{state}\n{[e['message'] for e in events]}") from None
        now = {p["name"]: p for p in after["processes"]}
        assert now["cli"]["node_id"] == where["cli"]["node_id"]  # cli was not drained

        async def rewritten() -> str | None:
            addr = (out / "cli").read_text()
            return addr if addr != old_addr else None

        new_addr = await eventually(rewritten, timeout=20)
        assert new_addr.endswith(f":{now['srv']['ports']['srv']}"), (new_addr, now)
        events = (await api.http.get("/experiments/dr/events")).json()["events"]
        assert any("reconnect" in e["message"] for e in events), events
    finally:
        with contextlib.suppress(ProcessLookupError):
            for pid in pids_with(marker):
                procs.os.kill(pid, signal.SIGKILL)
        _stop_all(conductor, nodes)
        await api.aclose()
