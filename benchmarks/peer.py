"""The peer: ``symphony-orchestra`` 1.0.0b8 from PyPI, timed by the same scenario code.

The peer is an asyncio/gRPC orchestrator with a FastAPI HTTP API. The benchmark installs
it into its own virtual environment with pip (its dependencies pin versions that clash
with ours), writes its YAML configuration, starts its conductor and node(s), drives them
through ``POST /deployments`` with the peer's own body shape::

    {"name": ..., "desired_state": "RUNNING", "kind": "EXEC",
     "specification": {"spec": {"capacity_requests": {"A": 1},
                                "config": {"command": [...]},
                                "restart_policy": {"type": "always", "backoff_seconds": 0},
                                "max_restarts": 100000}}}

and stops them afterwards. Its HTTP server binds ``0.0.0.0:8000`` with no option to change
it, so, run as root, each peer measurement runs in a private network namespace that has
only a loopback interface (``unshare -n``): nothing outside can reach it and port 8000
cannot collide with anything. Without root it runs on the host only if port 8000 is free.
Both sides are driven by the same ``measure`` function of the scenario module and timed
against the same job start lines (``scenarios/_probe.py``).

Inside the namespace this module is the driver::

    python -m benchmarks.peer measure --scenario launch --params '{"n": 5}' \\
        --venv VENV --workdir DIR      # prints one JSON line: the raw samples
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import trio

from benchmarks.scenarios import load
from benchmarks.scenarios._api import expect
from benchmarks.scenarios._context import Harness, PeerRunner
from benchmarks.scenarios._probe import Probe

PACKAGE = "symphony-orchestra"
VERSION = "1.0.0b8"
HTTP = "http://127.0.0.1:8000"  # fixed by the peer
GRPC_PORT = 58051  # the peer's node endpoint (configurable); inside the namespace


# ---- installation -----------------------------------------------------------------------


def default_venv() -> Path:
    return Path.home() / ".cache" / "symphony-bench" / f"peer-{VERSION}"


def installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({PACKAGE!r}))"],
        capture_output=True,
        text=True,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_installed(venv: Path) -> Path:
    """The peer's Python, after ``python -m venv`` + ``pip install`` when needed."""
    python = venv / "bin" / "python"
    if installed_version(python) == VERSION:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{PACKAGE}=={VERSION}"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip install {PACKAGE}=={VERSION} failed: {result.stderr[-800:]}")
    return python


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def prepare(venv: Path | None, workdir: Path) -> tuple[PeerRunner | None, str, dict[str, Any]]:
    """Install the peer and choose how to isolate it: (runner, reason if none, facts)."""
    venv = venv or default_venv()
    info: dict[str, Any] = {"package": PACKAGE, "version": VERSION, "used": False}
    try:
        python = ensure_installed(venv)
    except Exception as error:
        return None, f"peer not installed: {error}", info
    isolate = os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip")
    if not isolate and not _port_free(8000):
        return None, "peer not run: it needs port 8000 and something already listens there", info
    info |= {"used": True, "isolation": "network namespace" if isolate else "host, port 8000"}
    wrapper = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "peer"]

    async def runner(name: str, params: dict[str, Any]) -> dict[str, Any]:
        root = workdir / f"peer-{name}"
        root.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "benchmarks.peer", "measure", "--scenario", name]
        cmd += ["--params", json.dumps(params), "--python", str(python), "--workdir", str(root)]
        print(f"   peer: {name} ...", flush=True)
        with (root / "driver.log").open("ab") as log:
            done = await trio.run_process(
                (wrapper if isolate else []) + cmd,
                capture_stdout=True,
                stderr=log,
                check=False,
                cwd=str(Path(__file__).resolve().parent.parent),
            )
        if done.returncode != 0:
            tail = (root / "driver.log").read_text(errors="replace")[-600:]
            raise RuntimeError(f"driver exited {done.returncode}: {tail}")
        return json.loads(done.stdout.decode().strip().splitlines()[-1])

    return runner, "", info


# ---- a running peer -----------------------------------------------------------------------


class PeerApi:
    """The peer's HTTP API behind the scenarios' ``Orchestrator`` interface."""

    label = "peer"
    url = HTTP
    created_status = 201

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=HTTP, timeout=120)
        self.ids: dict[str, str] = {}

    def create_body(self, name: str, command: list[str], *, backoff: float = 0.0) -> dict:
        return {
            "name": name,
            "desired_state": "RUNNING",
            "kind": "EXEC",
            "specification": {
                "spec": {
                    "capacity_requests": {"A": 1},
                    "config": {"command": command},
                    "restart_policy": {"type": "always", "backoff_seconds": backoff},
                    # its default budget is 10 restarts in 300 s: lift it for the restart test
                    "max_restarts": 100_000,
                }
            },
        }

    def created(self, name: str, answer: bytes) -> None:
        self.ids[name] = json.loads(answer)["id"]  # it deletes by id

    async def create(self, name: str, command: list[str], *, backoff: float = 0.0) -> None:
        body = self.create_body(name, command, backoff=backoff)
        response = await self.http.post("/deployments", json=body)
        expect(response, 201)
        self.created(name, response.content)

    async def delete(self, name: str) -> None:
        expect(await self.http.delete(f"/deployments/{self.ids.pop(name)}"), 204)

    async def settle(self, name: str) -> None:
        return None

    async def list_count(self) -> int:
        # The peer caps a page at 500: a client lists everything page by page.
        total, offset = 0, 0
        while True:
            response = await self.http.get("/deployments", params={"limit": 500, "offset": offset})
            expect(response, 200)
            page = len(response.json())
            total += page
            offset += page
            if page < 500:
                return total

    async def aclose(self) -> None:
        await self.http.aclose()


def _write_yaml(path: Path, data: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data))
    return path


class PeerCluster:
    """The peer's conductor and nodes as processes under ``root``."""

    def __init__(self, python: Path, root: Path) -> None:
        self.python = python
        self.root = root
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, config: Path) -> None:
        cwd = self.root / name
        (cwd / "storage").mkdir(parents=True, exist_ok=True)  # its SQLite path is relative
        # The peer's package is also named ``symphony``: a PYTHONPATH that points at ours
        # (a checkout run without installing) would make the peer run our code instead.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        with (self.root / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                [str(self.python), "-m", "symphony", "--config", str(config)],
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    async def start(self, *, nodes: int, heartbeat: float = 1.0) -> None:
        certs = self.root / "certs"
        conductor = {
            "mode": "conductor",
            "logging": {"level": "WARNING"},
            "conductor": {"listen": f"127.0.0.1:{GRPC_PORT}", "tls": {"cert_path": str(certs)}},
        }
        self._spawn("conductor", _write_yaml(self.root / "conductor.yaml", conductor))
        async with httpx.AsyncClient(base_url=HTTP, timeout=5) as http:
            await self._until(http, lambda body: True)
            for i in range(nodes):
                node = {
                    "mode": "node",
                    "logging": {"level": "WARNING"},
                    "node": {
                        "node_id": f"peer-node-{i}",
                        "conductor_addr": f"localhost:{GRPC_PORT}",
                        "groups": ["bench"],
                        "capacities_total": {"A": 1000},
                        "heartbeat_sec": heartbeat,
                        "tls": {
                            "ca_file": str(certs / "ca.pem"),
                            "cert_file": str(certs / "node-client.pem"),
                            "key_file": str(certs / "node-client.key"),
                        },
                    },
                }
                self._spawn(f"node-{i}", _write_yaml(self.root / f"node-{i}.yaml", node))
            await self._until(http, lambda body: len(body.get("nodes", {})) >= nodes)

    async def _until(self, http: httpx.AsyncClient, ok: Any, timeout: float = 60.0) -> None:
        with trio.fail_after(timeout):
            while True:
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        log = (self.root / f"{name}.log").read_text(errors="replace")[-1500:]
                        raise RuntimeError(f"peer {name} exited {proc.returncode}: {log}")
                try:
                    response = await http.get("/nodes")
                    if response.status_code == 200 and ok(response.json()):
                        return
                except httpx.TransportError:
                    pass
                await trio.sleep(0.05)

    def rss(self) -> dict[str, int]:
        def tree(proc: subprocess.Popen[bytes]) -> int:
            try:
                p = psutil.Process(proc.pid)
                return p.memory_info().rss + sum(
                    c.memory_info().rss for c in p.children(recursive=True)
                )
            except psutil.NoSuchProcess:
                return 0

        return {
            "conductor": tree(self.procs["conductor"]),
            "node": sum(tree(p) for n, p in self.procs.items() if n != "conductor"),
        }

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(5)


@contextlib.asynccontextmanager
async def peer_harness(python: Path, root: Path, *, nodes: int) -> AsyncIterator[Harness]:
    cluster = PeerCluster(python, root)
    api = PeerApi()
    try:
        await cluster.start(nodes=nodes)
        async with Probe(root / "probe.fifo") as probe:
            try:
                yield Harness(api, probe, cluster.rss)
            finally:
                probe.kill_all()
    finally:
        await api.aclose()
        cluster.stop()


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    module = load(args.scenario)
    params = json.loads(args.params)
    async with peer_harness(args.python, args.workdir, nodes=params.get("nodes", 1)) as h:
        return await module.measure(h, params)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer")
    sub = parser.add_subparsers(dest="command", required=True)
    measure = sub.add_parser("measure", help="run one scenario's measure() against the peer")
    measure.add_argument("--scenario", required=True)
    measure.add_argument("--params", default="{}")
    measure.add_argument("--python", type=Path, required=True)
    measure.add_argument("--workdir", type=Path, required=True)
    sub.add_parser("install", help="install the peer into its default virtual environment")
    args = parser.parse_args(argv)
    if args.command == "install":
        print(ensure_installed(default_venv()))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(json.dumps(trio.run(drive, args)), flush=True)


if __name__ == "__main__":
    main()
