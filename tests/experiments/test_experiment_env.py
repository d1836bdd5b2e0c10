"""Every process of an experiment starts with the SYMPH_* values of every bound name."""

from __future__ import annotations

import socket
from pathlib import Path

import trio

from ..api.helpers import cluster
from ..ports import port_range
from .test_experiment_api import wait_experiment


def env_dump(name: str, out: Path, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "cmds": [
            f"env | grep ^SYMPH_ | sort > {out / name}.tmp",
            f"mv {out / name}.tmp {out / name}",
            "sleep 60",
        ],
        **extra,
    }


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


async def test_experiment_processes_get_symph_values_and_ports(tmp_path: Path) -> None:
    out = tmp_path / "env"
    out.mkdir()
    spec = {
        "name": "rl",
        "processes": [
            env_dump("learner", out, binds=["replay-server", "parameter-server"]),
            env_dump("board", out, exposes={"tensorboard": 26006}),
        ],
        "process_groups": [
            {"name": "agents-0", "processes": [env_dump("agent-0", out, connects="replay-server")]}
        ],
    }
    low, high = map(int, (ports := port_range()).split("-"))
    async with cluster(tmp_path, node_overrides={"ports": ports}) as c:
        assert (await c.http.post("/experiments", json=spec)).status_code == 201
        running = await wait_experiment(c, "rl", "running")
        with trio.fail_after(15):
            while not all((out / n).exists() for n in ("learner", "board", "agent-0")):
                await trio.sleep(0.05)
        agent = read_env(out / "agent-0")
        learner = read_env(out / "learner")
        assert agent["SYMPH_EXPERIMENT"] == "rl"
        assert agent["SYMPH_PROCESS"] == "agent-0"
        assert agent["SYMPH_PROCESS_GROUP"] == "agents-0"
        assert learner["SYMPH_PROCESS_GROUP"] == ""
        for env in (agent, learner):
            assert env["SYMPH_TENSORBOARD_PORT"] == "26006"
            assert env["SYMPH_REPLAY_SERVER_HOST"] == "127.0.0.1"
            port = int(env["SYMPH_REPLAY_SERVER_PORT"])
            assert low <= port <= high  # the node's range
            assert env["SYMPH_REPLAY_SERVER_ADDR"] == f"127.0.0.1:{port}"
        ports = {p["name"]: p["ports"] for p in running["processes"]}
        assert ports["board"] == {"tensorboard": 26006}
        learner_ports = ports["learner"]
        assert learner_ports["replay-server"] != learner_ports["parameter-server"]
        assert str(learner_ports["replay-server"]) == agent["SYMPH_REPLAY_SERVER_PORT"]

        # A second experiment asking for the same fixed port on the same (only) node
        # is refused with a reason naming the port, and holds nothing.
        clash = {"name": "two", "processes": [env_dump("tb", out, exposes={"tensorboard": 26006})]}
        assert (await c.http.post("/experiments", json=clash)).status_code == 201
        with trio.fail_after(15):
            while "26006" not in str((await c.http.get("/experiments/two")).json()["reason"]):
                await trio.sleep(0.05)
        two = (await c.http.get("/experiments/two")).json()
        assert two["state"] == "pending" and "taken" in two["reason"]


async def test_fixed_port_held_by_another_program_is_a_clear_error(tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    spec = {
        "name": "tb",
        "processes": [
            {
                "name": "board",
                "cmds": ["sleep 60"],
                "exposes": {"tensorboard": port},
                "reschedule": {"attempts": 0},
            }
        ],
    }
    try:
        async with cluster(tmp_path) as c:
            assert (await c.http.post("/experiments", json=spec)).status_code == 201
            with trio.fail_after(20):
                while True:
                    events = (await c.http.get("/experiments/tb/events")).json()["events"]
                    said = [e["message"] for e in events if f"port {port} taken" in e["message"]]
                    if said:
                        break
                    await trio.sleep(0.05)
            # The node keeps trying (its restart policy), saying why each time.
            with trio.fail_after(20):
                while True:
                    board = (await c.http.get("/experiments/tb")).json()["processes"][0]
                    if f"fixed port {port} taken on this node" in (board["reason"] or ""):
                        break
                    await trio.sleep(0.05)
            assert board["state"] != "running"
    finally:
        holder.close()


async def test_a_port_of_the_range_held_by_another_program_is_a_clear_error(
    tmp_path: Path,
) -> None:
    """On a machine shared with others, a port of ``node.ports`` may be held by some
    other program: the process is not started to fail binding it (while the relay
    forwarded its name's traffic to that program), but refused with the port named."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    spec = {
        "name": "vis",
        "processes": [
            {
                "name": "app",
                "cmds": ["sleep 60"],
                "exposes": ["ui"],  # a port from the node's range: the only one is held
                "reschedule": {"attempts": 0},
            }
        ],
    }
    try:
        async with cluster(tmp_path, node_overrides={"ports": f"{port}-{port}"}) as c:
            assert (await c.http.post("/experiments", json=spec)).status_code == 201
            with trio.fail_after(20):
                while True:
                    app = (await c.http.get("/experiments/vis")).json()["processes"][0]
                    if f"port {port} (ui) taken on this node" in (app["reason"] or ""):
                        break
                    await trio.sleep(0.05)
            assert app["state"] != "running"
            assert app["ports"] == {"ui": port}
    finally:
        holder.close()


def held_port_with_a_free_next() -> tuple[socket.socket, int]:
    """A listening socket on some port P whose next port P + 1 is free (now)."""
    while True:
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port + 1))
            except OSError:
                holder.close()
                continue
        holder.listen()
        return holder, port


async def test_a_refused_port_of_the_range_is_given_up_for_the_next_one(tmp_path: Path) -> None:
    """Restarting on the node would ask for the same port again, for ever: the instance
    fails instead, and the Conductor places it again with the next port of the range."""
    holder, port = held_port_with_a_free_next()
    spec = {
        "name": "vis",
        "processes": [
            {
                "name": "app",
                "cmds": ["sleep 60"],
                "exposes": ["ui"],
                "reschedule": {"attempts": 1, "delay_seconds": 0.1},
            }
        ],
    }
    try:
        node = {"ports": f"{port}-{port + 1}"}  # the first is held
        async with cluster(tmp_path, node_overrides=node) as c:
            assert (await c.http.post("/experiments", json=spec)).status_code == 201
            running = await wait_experiment(c, "vis", "running", timeout=20)
            assert running["processes"][0]["ports"] == {"ui": port + 1}
            events = (await c.http.get("/deployments/vis.app/events")).text
            assert f"port {port} (ui) taken on this node by another program" in events
    finally:
        holder.close()


async def test_peers_of_a_name_past_a_refused_port_restart_with_the_new_one(
    tmp_path: Path,
) -> None:
    """The peer started with the refused port: the name moved (another port), so the
    peer (``reconnect: restart``) is restarted with the port the process got."""
    holder, port = held_port_with_a_free_next()
    out = tmp_path / "out"
    out.mkdir()
    spec = {
        "name": "vis",
        "processes": [
            {
                "name": "app",
                "cmds": ["sleep 60"],
                "exposes": ["ui"],
                "reschedule": {"attempts": 1, "delay_seconds": 0.1},
            },
            env_dump("cli", out, connects=["ui"]),
        ],
    }
    try:
        node = {"ports": f"{port}-{port + 1}"}  # the first is held
        async with cluster(tmp_path, node_overrides=node) as c:
            assert (await c.http.post("/experiments", json=spec)).status_code == 201
            running = await wait_experiment(c, "vis", "running", timeout=20)
            assert {p["name"]: p["ports"] for p in running["processes"]}["app"] == {"ui": port + 1}
            with trio.fail_after(20):
                while read_env_or_none(out / "cli").get("SYMPH_UI_PORT") != str(port + 1):
                    await trio.sleep(0.05)
            events = (await c.http.get("/experiments/vis/events")).text
            assert "reconnect" in events, events
    finally:
        holder.close()


def read_env_or_none(path: Path) -> dict[str, str]:
    return read_env(path) if path.exists() else {}
