"""``symphony node stop``: after it, nothing of the node runs; each job got its stop signal.

Real processes: a Conductor, a node started from a configuration file, jobs deployed
through the Conductor's HTTP API. Ctrl-C (SIGINT) on the agent leaves the jobs running
(so a new agent can re-adopt them); ``symphony node stop`` then stops them, each with
its own stop signal and stop timeout, and the node monitor, and waits until all are
gone. With the agent still running it is stopped first.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from symphony.node.stop import monitor_alive

from ..deployments import procs
from ..deployments.helpers import Api, eventually, job, mark, pids_with, running, tear_down_node

POLITE = textwrap.dedent(
    """\
    import pathlib, sys, time
    try:
        while True:
            time.sleep(0.05)
    except KeyboardInterrupt:
        pathlib.Path(sys.argv[1]).write_text("SIGINT")
    """
)


def node_config(root: Path, node_port: int) -> Path:
    certs = root / "conductor" / "certs"
    path = root / "node.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            mode: node
            node:
              node_id: worker
              conductor_addr: localhost:{node_port}
              groups: [gpu-1]
              capacities_total: {{Analytic1: 10}}
              heartbeat_sec: 0.3
              state_dir: {root / "worker"}
              tls:
                ca_file: {certs / "ca.pem"}
                cert_file: {certs / "node-client.pem"}
                key_file: {certs / "node-client.key"}
            """
        )
    )
    return path


def node_stop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "symphony.cli", "node", "stop", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def alive(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.mark.parametrize("agent_running", [False, True])
async def test_node_stop_stops_every_job_with_its_stop_signal_then_the_monitor(
    tmp_path: Path, agent_running: bool
) -> None:
    node_port, http_port = procs.free_port(), procs.free_port()
    conductor = procs.conductor(
        tmp_path, node_port=node_port, http_port=http_port, node_timeout=30
    ).start()
    api = Api(f"http://127.0.0.1:{http_port}")
    config = node_config(tmp_path, node_port)
    agent = procs.Service(["--config", str(config)], tmp_path / "agent.log")
    marker = tmp_path / "polite-got"
    try:

        async def healthy() -> bool:
            try:
                return (await api.http.get("/healthz")).status_code == 200
            except Exception:
                return False

        await eventually(healthy, timeout=30)
        agent.start()
        calm = job("calm-job", replicas=2)
        # Ignores SIGTERM, and so do its children (an ignored signal is inherited): only
        # SIGKILL after the 1 s stop timeout ends this tree.
        stubborn = job("stubborn-job", stop_timeout_seconds=1)
        stubborn["config"]["command"] = [
            "sh", "-c", "trap '' TERM; sleep 300 & sleep 300 & wait", mark("stubborn-job"),
        ]  # fmt: skip
        polite = job("polite-job", stop_signal="SIGINT", stop_timeout_seconds=30)
        polite["config"]["command"] = [
            sys.executable, "-c", POLITE, str(marker), mark("polite-job"),
        ]  # fmt: skip
        for spec in (calm, stubborn, polite):
            response = await api.post(spec)
            assert response.status_code == 201, response.text

        async def all_running() -> bool:
            counts = [len(running(await api.get(n))) for n in ("calm-job", "stubborn-job")]
            return counts == [2, 1] and len(running(await api.get("polite-job"))) == 1

        await eventually(all_running, timeout=60)
        names = ("calm-job", "stubborn-job", "polite-job")
        jobs = [pid for name in names for pid in pids_with(mark(name))]
        jobs += [c.pid for p in alive(jobs) for c in psutil.Process(p).children(recursive=True)]
        assert len(jobs) >= 6  # 2 calm, 1 polite, the stubborn shell and its 2 sleeps

        if not agent_running:
            agent.signal(procs.signal.SIGINT)  # Ctrl-C: the agent goes, its jobs stay
            assert agent.proc is not None and agent.proc.wait(30) == 0
            assert sorted(alive(jobs)) == sorted(jobs)
            # ... and it says so, with what stops them (a newcomer sees a process stay).
            worker = tmp_path / "worker"
            assert (
                f"node stopped by SIGINT; its jobs go on under the node monitor, and the "
                f"next node started on {worker} adopts them (`symphony node stop "
                f"--state-dir {worker}` stops them)"
            ) in agent.output()
        assert monitor_alive(tmp_path / "worker" / "jobs")

        result = node_stop("--config", str(config))
        assert result.returncode == 0, (result.stdout, result.stderr, agent.output()[-3000:])
        lines = result.stdout.splitlines()
        if agent_running:
            assert agent.proc is not None and agent.proc.wait(5) == 0  # stopped first
            assert lines[:2] == [
                f"stopping the node agent (pid {agent.pid})",
                f"stopped the node agent (pid {agent.pid})",
            ]
            lines = lines[2:]
        assert lines[0] == "stopping 4 instances"
        assert lines[-1] == f"node stopped: nothing runs in {tmp_path / 'worker'} any more"
        assert lines[-2].startswith("stopped the node monitor (pid ")
        stops = sorted(lines[1:-2])
        assert len(stops) == 4, lines
        assert [line.split(": ", 1)[1] for line in stops] == [
            "SIGTERM within the stop timeout",
            "SIGTERM within the stop timeout",
            "exited with code 0 within the stop timeout",  # polite, on its SIGINT
            "SIGKILL after the 1 s stop timeout",  # stubborn
        ], lines
        assert marker.read_text() == "SIGINT"

        # Waited until all are gone: nothing of the node is left, not even a leftover.
        assert alive(jobs) == []
        assert [pid for name in names for pid in pids_with(mark(name))] == []
        assert not monitor_alive(tmp_path / "worker" / "jobs")
        assert pids_with(str(tmp_path / "worker" / "jobs"), substring=True) == []

        # Stopped for good: a second stop finds nothing, and says so.
        again = node_stop("--state-dir", str(tmp_path / "worker"))
        assert again.returncode == 1
        assert again.stderr == (
            "symphony: error: nothing to stop: no node agent, node monitor or job runs in "
            f"{tmp_path / 'worker'}\n"
        )
    finally:
        await tear_down_node(agent, conductor, api, tmp_path / "worker" / "jobs")


def test_node_stop_with_nothing_there_says_so(tmp_path: Path) -> None:
    missing = node_stop("--state-dir", str(tmp_path / "nowhere"))
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == (
        f"symphony: error: nothing to stop: {tmp_path / 'nowhere'} does not exist\n"
    )
    (tmp_path / "empty").mkdir()
    empty = node_stop("--state-dir", str(tmp_path / "empty"))
    assert (empty.returncode, empty.stdout) == (1, "")
    assert empty.stderr == (
        f"symphony: error: nothing to stop: {tmp_path / 'empty'} holds no node state\n"
    )
    assert list((tmp_path / "empty").iterdir()) == []  # and left nothing behind


def test_node_stop_refuses_to_signal_an_agent_that_shares_a_conductors_process(
    tmp_path: Path,
) -> None:
    """``symphony up`` holds the Conductor's directory and the node's: SIGTERM to it
    would take the Conductor down too, so the command stops nothing and says why."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from symphony.statedir import hold_state_dir as hold\n"
            "with hold(Path(sys.argv[1]), 'conductor'), hold(Path(sys.argv[1]) / 'node', 'node'):\n"
            "    print('held', flush=True); time.sleep(120)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        result = node_stop("--state-dir", str(tmp_path / "node"))
        assert result.returncode == 1
        assert result.stderr == (
            f"symphony: error: the node in {tmp_path / 'node'} runs in the same process as "
            f"a Conductor (pid {holder.pid}, as `symphony up` does): stop that process "
            "(Ctrl-C or SIGTERM), which stops its jobs too\n"
        )
        assert holder.poll() is None  # not signalled
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


def test_node_stop_refuses_while_another_stop_runs(tmp_path: Path) -> None:
    """A second stop must not take the first (which holds the node's lock) for an agent."""
    (tmp_path / "node").mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from symphony.statedir import hold_state_dir as hold\n"
            "with hold(Path(sys.argv[1]), 'node-stop'), hold(Path(sys.argv[1]), 'node'):\n"
            "    print('held', flush=True); time.sleep(120)",
            str(tmp_path / "node"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        result = node_stop("--state-dir", str(tmp_path / "node"))
        assert result.returncode == 1
        assert result.stderr == (
            f"symphony: error: another `symphony node stop` (pid {holder.pid}) is stopping "
            f"the node in {tmp_path / 'node'}\n"
        )
        assert holder.poll() is None  # not signalled
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
