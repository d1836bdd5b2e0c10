"""Never two copies: a second agent claiming a node id does not run its jobs again.

Real processes: a Conductor, agent A for node ``worker`` (state directory ``a``) running
two replicas, then A is SIGKILLed (its jobs live on, in A's node monitor) and agent B
claims ``worker`` from state directory ``b``: another incarnation. B is refused until
the previous incarnation's node timeout has passed; only then are A's instances lost
and rescheduled, onto B.

(A's jobs are still running at that point only if A's machine is: that is the same
case as a node partitioned past its timeout, and the same rule applies. The test takes
A's machine away for good before the deadline, as when a container is replaced.)
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import trio

from . import procs
from .helpers import Api, eventually, job, live, mark, pids_with, running
from .test_failures import _stop_all

# Long enough that agent B starts and is refused before A's incarnation times out, even
# on a busy machine (6 s was not, under load: the replicas moved first). What is checked
# after that refusal no longer depends on the fence still holding (see below).
NODE_TIMEOUT = 15.0
# After a restart, the node is held for max(node timeout, restart grace) from the start:
# a grace below the node timeout leaves the node timeout to decide, as without a restart
# (the default, 40 s, would make the test wait that long for nothing it checks).
RESTART_GRACE = 1.0


def agent(root: Path, state: str, node_port: int) -> procs.Service:
    """An agent for node ``worker`` with its own state directory ``root/state``."""
    certs = root / "conductor" / "certs"
    return procs.Service(
        [
            "node",
            "--node-id", "worker",
            "--conductor", f"localhost:{node_port}",
            "--group", "gpu-1",
            "--capacity", "Analytic1=10",
            "--heartbeat", "0.3",
            "--ca-file", str(certs / "ca.pem"),
            "--cert-file", str(certs / "node-client.pem"),
            "--key-file", str(certs / "node-client.key"),
            "--state-dir", str(root / state),
            "--log-level", "DEBUG",
        ],
        root / f"agent-{state}.log",
    )  # fmt: skip


@pytest.mark.parametrize("conductor_restarts", [False, True])
async def test_fencing_second_agent_for_a_node_id_never_runs_a_replica_twice(
    tmp_path: Path, conductor_restarts: bool
) -> None:
    node_port, http_port = procs.free_port(), procs.free_port()
    conductor = procs.conductor(
        tmp_path,
        node_port=node_port,
        http_port=http_port,
        node_timeout=NODE_TIMEOUT,
        restart_grace=RESTART_GRACE,
    ).start()
    api = Api(f"http://127.0.0.1:{http_port}")
    agents = {"a": agent(tmp_path, "a", node_port)}
    try:

        async def healthy() -> bool:
            try:
                return (await api.http.get("/healthz")).status_code == 200
            except Exception:
                return False

        await eventually(healthy, timeout=20)
        agents["a"].start()
        assert (await api.post(job("twice", replicas=2))).status_code == 201

        async def two_running() -> list[int] | None:
            pids = sorted(i["pid"] for i in running(await api.get("twice")) if i["pid"])
            return pids if len(pids) == 2 else None

        old_pids = await eventually(two_running, timeout=30)
        agents["a"].kill()  # SIGKILL the agent: its jobs run on, in its monitor
        if conductor_restarts:
            # The Conductor forgets every live link; the incarnation it accepted for
            # "worker" is in its store.
            conductor.kill()
            conductor.start()
            await eventually(healthy, timeout=20)

        async def disconnected() -> bool:
            # After a restart too: the store says it runs instances, so the Conductor
            # holds it as disconnected from its start.
            nodes = await api.nodes()
            return bool(nodes) and nodes[0]["state"] == "disconnected"

        await eventually(disconnected, timeout=10)
        agents["b"] = agent(tmp_path, "b", node_port).start()

        def b_said(text: str) -> bool:
            return text in agents["b"].output()

        async def b_tried() -> bool:
            return b_said("refused this node") or b_said("connected to conductor")

        await eventually(b_tried, timeout=20)
        # B reached the Conductor inside the fence (NODE_TIMEOUT leaves it the time).
        assert b_said("another incarnation"), agents["b"].output()[-2000:]
        await trio.sleep(1.0)  # let any (wrong) start show itself
        # Fenced: B is refused and has started nothing; A's copies are the only ones.
        # This picture holds only while the id is held: the node read after it still
        # "disconnected" means it did (on a starved machine the fence may be over by
        # now, and B rightly running the replicas; the order check below holds anyway).
        pids = sorted(pids_with(mark("twice")))
        listed = sorted(i["pid"] for i in live(await api.get("twice")))
        if (await api.nodes())[0]["state"] == "disconnected":
            assert pids == old_pids
            assert listed == old_pids

        # A's machine goes away for good before the deadline (its monitor, its jobs).
        for pid in pids_with(str(tmp_path / "a" / "jobs"), substring=True) + old_pids:
            os.kill(pid, signal.SIGKILL)

        async def rescheduled_onto_b() -> list[dict] | None:
            d = await api.get("twice")
            now = running(d)
            fresh = [i for i in now if i["pid"] and i["pid"] not in old_pids]
            return now if len(now) == 2 and len(fresh) == 2 else None

        # After a restart the id is held for the node timeout from the start.
        now = await eventually(rescheduled_onto_b, timeout=60)
        await trio.sleep(1.0)
        assert sorted(pids_with(mark("twice"))) == sorted(i["pid"] for i in now)
        deployment = await api.get("twice")
        assert len(live(deployment)) == 2
        lost = [i for i in deployment["instances"] if i["state"] == "lost"]
        assert len(lost) == 2
        assert (await api.nodes())[0]["state"] == "ready"
        # Never two copies, whatever the machine's pace: B started its copies only after
        # A's were declared lost (the fence's deadline), both on this machine's clock.
        assert min(i["started_at"] for i in live(deployment)) > max(i["finished_at"] for i in lost)
    finally:
        _stop_all(conductor, agents)
        await api.aclose()
