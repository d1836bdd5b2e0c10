"""Tunnels between nodes that cannot reach each other, only the Conductor.

Two nodes run in network namespaces of their own (see :mod:`.netns`). A process on node
``na`` connects to ``echo``, which a process on node ``nb`` binds: the direct address
is unreachable from ``na``, so its node points the process at a tunnel through the
Conductor. A process beside the server on ``nb`` reaches it directly. A web app on
``na`` is visited through the Conductor, which cannot reach ``na``'s ports either.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from ..api.helpers import cluster
from .helpers import ECHO, WSAPP, port_range, wait_served, wait_tunnels
from .netns import Namespace, isolated_namespaces, netns_skip_reason

HERE = Path(__file__).parent
SKIP = netns_skip_reason()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
PAYLOAD = 3_000_000


def node_fields(info: Any, node_id: str, ns: Namespace, state: Path) -> dict[str, Any]:
    certs = info.cert_dir
    return {
        "node_id": node_id,
        "conductor_host": ns.host_ip,
        "conductor_port": info.node_port,
        "groups": [node_id],
        "capacities_total": {"slots": 10},
        "heartbeat_sec": 0.5,
        "ca_file": str(certs / "ca.pem"),
        "cert_file": str(certs / "node-client.pem"),
        "key_file": str(certs / "node-client.key"),
        "state_dir": str(state),
        "ports": port_range(),
    }


def experiment(out: Path, network: str = "auto") -> dict[str, Any]:
    client = HERE / "tunnel_client.py"
    return {
        "name": "tun",
        "network": network,
        "processes": [
            {
                "name": "server",
                "node_group": "nb",
                "binds": ["echo"],
                "cmds": [f"exec {sys.executable} {ECHO} $SYMPH_ECHO_PORT"],
            },
            {
                "name": "far",
                "node_group": "na",
                "connects": ["echo"],
                "cmds": [f"exec {sys.executable} {client} {out / 'far'} {PAYLOAD}"],
            },
            {
                "name": "near",
                "node_group": "nb",
                "connects": ["echo"],
                "cmds": [f"exec {sys.executable} {client} {out / 'near'} 1000"],
            },
            {
                "name": "web",
                "node_group": "na",
                "exposes": ["ui"],
                "cmds": [f"exec {sys.executable} {WSAPP} $SYMPH_UI_PORT"],
            },
        ],
    }


async def wait_file(path: Path, timeout: float = 90.0) -> str:
    with trio.move_on_after(timeout):
        while not path.exists():
            await trio.sleep(0.1)
        return path.read_text().strip()
    raise AssertionError(f"{path.name} did not report in {timeout} s")


async def test_tunnels_join_nodes_that_cannot_reach_each_other(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with isolated_namespaces(2) as (ns_a, ns_b):
        overrides = {"listen_host": "0.0.0.0", "advertise": (ns_a.host_ip, ns_b.host_ip)}
        async with cluster(tmp_path, node=False, **overrides) as c:
            env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
            nodes = []
            with contextlib.ExitStack() as logs:
                for node_id, ns in (("na", ns_a), ("nb", ns_b)):
                    fields = node_fields(c.info, node_id, ns, tmp_path / node_id)
                    log = logs.enter_context((tmp_path / f"{node_id}.log").open("w"))
                    argv = ns.exec(sys.executable, str(HERE / "netns_node.py"), json.dumps(fields))
                    nodes.append(subprocess.Popen(argv, env=env, stdout=log, stderr=log))
                try:
                    await _check(c, out, ns_a, ns_b)
                finally:
                    for proc in nodes:
                        proc.terminate()
                        proc.wait(timeout=20)


async def _check(c: Any, out: Path, ns_a: Namespace, ns_b: Namespace) -> None:
    answer = await c.http.post("/experiments", json=experiment(out))
    assert answer.status_code == 201, answer.text
    # The far process was pointed at a tunnel on its own node, and its bytes went through.
    assert await wait_file(out / "far") == "ok 127.0.0.1 relay"
    # Its neighbour of the server's node connects directly, to nb's own address.
    assert await wait_file(out / "near") == f"ok {ns_b.inner_ip} direct"
    # And the direct address really is out of reach from na.
    probe = subprocess.run(
        ns_a.exec(
            sys.executable,
            "-c",
            f"import socket; socket.create_connection(('{ns_b.inner_ip}', 9), 2)",
        ),
        capture_output=True,
        text=True,
    )
    assert probe.returncode != 0 and "unreachable" in probe.stderr.lower(), probe.stderr
    rows = await wait_tunnels(c.http, lambda r: r["kind"] == "tunnel")
    (row,) = [r for r in rows if r["kind"] == "tunnel"]
    assert (row["from"], row["node_id"], row["service"]) == ("na", "nb", "echo")
    assert row["connections"] >= 1
    assert row["bytes_to_service"] >= PAYLOAD and row["bytes_from_service"] >= PAYLOAD
    # A service on na, which the Conductor cannot reach either, is visited through it.
    await wait_served(c.http, "/x/tun/ui/prefix", deployment="tun.web")
    assert (await c.http.get("/x/tun/ui/prefix")).text == "/x/tun/ui"


async def test_tunnels_network_relay_tunnels_even_a_reachable_name(tmp_path: Path) -> None:
    from .helpers import ports

    out = tmp_path / "out"
    out.mkdir()
    spec = experiment(out, network="relay")
    spec["processes"] = [
        {**p, "node_group": None} for p in spec["processes"] if p["name"] in ("server", "near")
    ]
    async with cluster(tmp_path, node_overrides=ports()) as c:
        answer = await c.http.post("/experiments", json=spec)
        assert answer.status_code == 201, answer.text
        assert await wait_file(out / "near") == "ok 127.0.0.1 relay"
        rows = await wait_tunnels(c.http, lambda r: r["kind"] == "tunnel")
        assert [(r["from"], r["node_id"]) for r in rows if r["kind"] == "tunnel"] == [("n1", "n1")]
