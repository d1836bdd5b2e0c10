"""Failover of the leading Conductor, with real processes (see docs/ha.md).

    python -m benchmarks.failover                 # lease 10 s, as deployed by default
    python -m benchmarks.failover --lease 2       # what the test suite runs
    python -m benchmarks.failover --postgres postgresql://me@127.0.0.1/postgres

With ``--postgres`` the Conductors share a PostgreSQL database instead of a SQLite
file: a new one per scenario, made through the URL given (a maintenance database).

Two Conductors share one store (a SQLite file here: the second one's state directory
links to the first one's database; certificates, API token and secrets key are shared
as docs/ha.md says), two nodes list both Conductors, jobs run, and a client keeps
creating deployments through both URLs. Then:

- ``kill``: SIGKILL of the leader. Measured: the time until the standby holds the lease
  (``takeover_s``), until the next write is acknowledged (``write_gap_s``), until every
  node is linked to the new leader (``nodes_back_s``); checked: every acknowledged
  create is in the store once, every job kept its pid and restart count.
- ``pause``: SIGSTOP of the leader past its lease, a create through the new leader,
  creates sent to the old one, SIGCONT. Checked: none of them is applied by the old
  leader (each is refused, or forwarded to the new one once it stood down).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil

from symphony.client import ApiError, Client, ConductorUnreachable

RUN = "import sys; from symphony.cli import main; sys.exit(main(sys.argv[1:]))"
SLEEPER = {"node_group": "g", "capacity_requests": {"A": 1}, "kind": "exec"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy (exceptions count as no)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except Exception:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


class Pair:
    """Two Conductor processes on one store, and nodes listing both."""

    def __init__(self, root: Path, lease: float, store_url: str | None = None) -> None:
        self.root, self.lease, self.store_url = root, lease, store_url
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.node_ports = {"a": free_port(), "b": free_port()}
        self.http = {name: f"http://127.0.0.1:{free_port()}" for name in ("a", "b")}
        self.db = root / "a" / "symphony.db"

    @property
    def urls(self) -> str:
        return f"{self.http['a']},{self.http['b']}"

    @property
    def token(self) -> str:
        return (self.root / "a" / "api-token").read_text().strip()

    def _spawn(self, name: str, config: dict[str, Any]) -> None:
        path = self.root / f"{name}.json"  # JSON is YAML
        path.write_text(json.dumps(config))
        with (self.root / f"{name}.log").open("wb") as log:  # the child keeps its copy
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-c", RUN, "--config", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_conductor(self, name: str) -> None:
        state = self.root / name
        if name != "a":  # shares a's store, certificates, token and secrets key
            state.mkdir(mode=0o700)
            if self.store_url is None:
                (state / "symphony.db").symlink_to(self.db)
            shutil.copy(self.root / "a" / "api-token", state / "api-token")
        self._spawn(
            name,
            {
                "mode": "conductor",
                "conductor": {
                    "listen": f"127.0.0.1:{self.node_ports[name]}",
                    "state_dir": str(state),
                    "tls": {"cert_path": str(self.root / "a" / "certs")},
                    "secrets_key_file": str(self.root / "a" / "secrets.key"),
                    "http": {"listen": self.http[name].removeprefix("http://")},
                    # A free port: the HTTP port + 1 may be the other Conductor's.
                    "relay": {"port": 0},
                    "store": {"lease_seconds": self.lease}
                    | ({"url": self.store_url} if self.store_url else {}),
                },
            },
        )
        wait(f"conductor {name}", lambda: (state / "conductor-id").exists())

    def start_node(self, node_id: str) -> None:
        certs = self.root / "a" / "certs"
        self._spawn(
            node_id,
            {
                "mode": "node",
                "node": {
                    "node_id": node_id,
                    "conductor_addr": [f"127.0.0.1:{p}" for p in self.node_ports.values()],
                    "groups": ["g"],
                    "capacities_total": {"A": 100},
                    "heartbeat_sec": 0.5,
                    "state_dir": str(self.root / node_id),
                    "tls": {
                        "ca_file": str(certs / "ca.pem"),
                        "cert_file": str(certs / "node-client.pem"),
                        "key_file": str(certs / "node-client.key"),
                    },
                },
            },
        )

    def holder(self) -> tuple[str, int] | None:
        query = "SELECT holder, token, expires_at FROM leases"
        if self.store_url is not None:
            import psycopg

            try:
                with psycopg.connect(self.store_url, connect_timeout=5) as pg:
                    row = pg.execute(query).fetchone()
            except psycopg.errors.UndefinedTable:
                return None  # not migrated yet
        else:
            conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
            try:
                row = conn.execute(query).fetchone()
            finally:
                conn.close()
        return None if row is None or row[2] <= time.time() else (str(row[0]), int(row[1]))

    def name_of(self, conductor: str) -> str:
        return (self.root / conductor / "conductor-id").read_text().strip()

    def leads(self, conductor: str) -> bool:
        held = self.holder()
        return held is not None and held[0] == self.name_of(conductor)

    def client(self, urls: str | None = None, timeout: float = 5.0) -> Client:
        return Client(urls or self.urls, self.token, timeout=timeout)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGCONT)
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # The nodes' monitors run detached (so that jobs outlive an agent): find them
        # by their state directory under this run's root, and their jobs with them.
        marker = str(self.root) + os.sep
        for leftover in psutil.process_iter(["cmdline"]):
            if any(arg.startswith(marker) for arg in leftover.info["cmdline"] or []):
                with contextlib.suppress(psutil.NoSuchProcess):
                    for proc in [*leftover.children(recursive=True), leftover]:
                        with contextlib.suppress(psutil.NoSuchProcess):
                            proc.kill()


def fresh_database(server_url: str | None) -> str | None:
    """A new, empty PostgreSQL database on the server of ``server_url`` (None: SQLite)."""
    if server_url is None:
        return None
    import psycopg

    name = f"failover_{time.time_ns()}"
    with psycopg.connect(server_url, autocommit=True) as pg:
        pg.execute(f"CREATE DATABASE {name}".encode())
    base, _, query = server_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def start(root: Path, lease: float, nodes: int, postgres: str | None = None) -> Pair:
    pair = Pair(root, lease, fresh_database(postgres))
    pair.start_conductor("a")
    wait("a to lead", lambda: pair.leads("a"))
    wait("a's API", lambda: pair.client(pair.http["a"]).health())
    pair.start_conductor("b")
    wait("b's API", lambda: pair.client(pair.http["b"]).health())
    for i in range(nodes):
        pair.start_node(f"n{i}")
    wait("the nodes", lambda: len(_ready_nodes(pair.client())) == nodes)
    return pair


def _ready_nodes(client: Client) -> list[str]:
    return [n["node_id"] for n in client.nodes() if n["state"] == "ready"]


def _running_pids(client: Client, names: list[str]) -> dict[str, tuple[int, int]] | None:
    """``{name: (pid, restarts)}`` once every instance of ``names`` runs, else None."""
    found = {}
    for name in names:
        instance = client.get_deployment(name)["instances"][0]
        if instance["state"] != "running":
            return None
        found[name] = (instance["pid"], instance["restarts"])
    return found


class Writer(threading.Thread):
    """Creates deployments one after another through every URL; a create not
    acknowledged is repeated under the same name until it is (409: it was applied)."""

    def __init__(self, pair: Pair) -> None:
        super().__init__(daemon=True)
        self.pair = pair
        #: (name, when its acknowledged attempt was sent, when it was acknowledged)
        self.acked: list[tuple[str, float, float]] = []
        self.applied_unacked: list[str] = []
        self.attempted = 0
        self.halt = threading.Event()

    def run(self) -> None:
        client = self.pair.client(timeout=3.0)
        number = 0
        while not self.halt.is_set():
            name = f"w-{number}"
            number += 1
            spec = {**SLEEPER, "name": name, "desired_state": "stopped"}
            spec["config"] = {"command": ["sleep", "600"]}
            while not self.halt.is_set():
                self.attempted += 1
                sent = time.monotonic()
                try:
                    client.create_deployment(spec)
                    self.acked.append((name, sent, time.monotonic()))
                    break
                except ApiError as error:
                    if error.status == 409:
                        self.applied_unacked.append(name)
                        break
                    time.sleep(0.05)  # 503 (no leader yet), 502 (maybe applied)
                except ConductorUnreachable:
                    time.sleep(0.05)


def kill_scenario(
    root: Path, *, lease: float, nodes: int = 2, jobs: int = 4, postgres: str | None = None
) -> dict[str, Any]:
    """SIGKILL of the leader under load; returns the figures and the checks."""
    pair = start(root, lease, nodes, postgres)
    try:
        client = pair.client(timeout=10)
        names = [f"job-{i}" for i in range(jobs)]
        for name in names:
            client.create_deployment(
                {**SLEEPER, "name": name, "config": {"command": ["sleep", "600"]}}
            )
        before = wait("the jobs to run", lambda: _running_pids(client, names))
        writer = Writer(pair)
        writer.start()
        wait("some writes", lambda: len(writer.acked) >= 20)
        killed_at = time.monotonic()
        os.killpg(pair.procs["a"].pid, signal.SIGKILL)
        pair.procs["a"].wait()
        wait("b to lead", lambda: pair.leads("b"), every=0.01)
        takeover = time.monotonic() - killed_at
        b = pair.client(pair.http["b"], timeout=10)
        wait("the nodes on b", lambda: len(_ready_nodes(b)) == nodes, every=0.05)
        nodes_back = time.monotonic() - killed_at
        # The first create sent after the kill that was acknowledged.
        wait("writes after the kill", lambda: any(s > killed_at for _, s, _ in writer.acked))
        first_after = min(t for _, s, t in writer.acked if s > killed_at)
        time.sleep(1.0)  # and a little more load on the new leader
        writer.halt.set()
        writer.join()
        after = wait("the jobs on b", lambda: _running_pids(b, names))
        stored = [d["name"] for d in b.list_deployments()]
        counts = collections.Counter(stored)
        acked = [name for name, _, _ in writer.acked]
        result = {
            "lease_s": lease,
            "takeover_s": round(takeover, 3),
            "write_gap_s": round(first_after - killed_at, 3),
            "nodes_back_s": round(nodes_back, 3),
            "acked": len(acked),
            "lost": sorted(set(acked) - set(stored)),
            "duplicates": sorted(n for n, c in counts.items() if c > 1),
            "restarted": sorted(n for n in names if after[n] != before[n]),
            "jobs_alive": all(_alive(pid) for pid, _ in after.values()),
        }
        for name in names:
            b.delete_deployment(name)
        return result
    finally:
        pair.stop()


def pause_scenario(root: Path, *, lease: float, postgres: str | None = None) -> dict[str, Any]:
    """SIGSTOP of the leader past its lease, creates sent to it, SIGCONT."""
    pair = start(root, lease, nodes=1, postgres=postgres)
    try:
        a = pair.procs["a"]
        os.killpg(a.pid, signal.SIGSTOP)
        wait("b to lead", lambda: pair.leads("b"), every=0.01)
        b = pair.client(pair.http["b"], timeout=10)
        wait(
            "b's API",
            lambda: b.create_deployment(
                {
                    **SLEEPER,
                    "name": "during-pause",
                    "desired_state": "stopped",
                    "config": {"command": ["true"]},
                }
            ),
        )
        token_b = pair.holder()
        headers = {"Authorization": f"Bearer {pair.token}"}

        def post(i: int) -> tuple[int | None, str | None]:
            spec = {**SLEEPER, "name": f"to-old-{i}", "desired_state": "stopped"}
            spec["config"] = {"command": ["true"]}
            try:
                response = httpx.post(
                    f"{pair.http['a']}/deployments", json=spec, headers=headers, timeout=30
                )
            except httpx.TransportError:
                # Waiting in the backlog of listeners the old leader closes as it steps
                # down: reset unanswered (whether it was applied is checked below).
                return None, "reset"
            return response.status_code, response.headers.get("x-symphony-role")

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(post, i) for i in range(8)]
            time.sleep(0.5)  # the requests wait in the paused leader's socket backlog
            os.killpg(a.pid, signal.SIGCONT)
            answers = [f.result() for f in futures]
        stored = {d["name"] for d in b.list_deployments()}
        # A create landed only through the new leader: as a forwarded 201.
        applied_by_old = [
            i
            for i, (status, role) in enumerate(answers)
            if f"to-old-{i}" in stored and not (status == 201 and role == "standby")
        ]
        log = (pair.root / "a.log").read_text(errors="replace")
        return {
            "lease_s": lease,
            "answers": answers,
            "refused": sum(1 for status, _ in answers if status == 503),
            "forwarded": sum(1 for status, role in answers if status == 201 and role == "standby"),
            "reset": sum(1 for _, role in answers if role == "reset"),
            "applied_by_old_leader": applied_by_old,
            "stepped_down": "stepping down" in log or "lease taken over" in log,
            "lease_kept_by_new_leader": pair.holder() == token_b,
        }
    finally:
        pair.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.failover")
    parser.add_argument("--lease", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", help="share a PostgreSQL database (a server's URL)")
    args = parser.parse_args(argv)
    pg = args.postgres
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            figures = kill_scenario(Path(tmp), lease=args.lease, postgres=pg)
            print(json.dumps({"run": run, **figures}))
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(pause_scenario(Path(tmp), lease=args.lease, postgres=pg)))


if __name__ == "__main__":
    main()
