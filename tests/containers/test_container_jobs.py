"""Container jobs on a node, end to end with real processes and the fake runtime.

The node's own code runs unchanged (ProcessManager, the monitor, the supervisor, the
container module); only the runtime command is the fake one (see ``fakebin/podman``),
first on the node's PATH.
"""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import trio

from symphony.conductor.deployments.instances import job_spec
from symphony.spec import parse_spec
from symphony.wire import JobSpec
from tests.jobs import harness
from tests.jobs.harness import Node, ended, wait_real

from .fake import IMAGE, FakeRuntime


def container(image: str = IMAGE, **fields: object) -> JobSpec:
    config: dict[str, object] = {"image": image}
    for key in ("command", "entrypoint", "env"):
        if key in fields:
            config[key] = fields.pop(key)
    kind = fields.pop("kind", "podman")
    return job_spec(parse_spec({"kind": kind, "config": config, **fields}))


def open_node(tmp: Path, fake: FakeRuntime | None) -> AbstractAsyncContextManager[Node]:
    """A node whose environment finds the fake runtime first on PATH (None: no runtime)."""
    env = fake.env if fake is not None else {**os.environ, "PATH": "/nonexistent"}
    return harness.open_node(str(tmp / "node"), node_id="n1", env=env)


def log_text(node: Node, instance_id: str, stream: str = "stdout") -> str:
    return "\n".join(node.manager.tail(instance_id, stream, 100))


async def test_container_runs_attached_with_env_workspace_output_and_exit_code(tmp_path) -> None:
    fake = FakeRuntime(tmp_path)
    fake.add_image()
    script = 'echo "hello $GREETING"; pwd; echo data > out.txt; echo "[$FAKE_RUNTIME_STATE]"'
    script += '; echo "$SHARED_VALUE"; exit 3'
    job = container(
        command=["sh", "-c", script],
        env={"GREETING": "world", "SHARED_VALUE": "same"},
        restart_policy={"type": "never"},
    )
    with trio.fail_after(30):
        async with open_node(tmp_path, fake) as node:
            assert "podman" in node.manager.container_runtimes
            await node.start("web-0-aa", job, deployment_id="d1")
            last = await node.wait_for("web-0-aa", "exited")
            assert last.exit_code == 3 and last.final
            workdir = os.path.join(node.state_dir, "work", "web-0-aa")
            assert log_text(node, "web-0-aa").splitlines() == [
                "hello world",
                workdir,  # the fake maps /workspace to the host dir it mounts
                "[]",  # the agent's own environment stays outside
                "same",  # what the spec sets goes in, even if the agent has it too
            ]
            assert Path(workdir, "out.txt").read_text() == "data\n"
    (run,) = fake.calls("run")
    assert run[:9] == [
        "run", "--rm", "--name", "symph-web-0-aa", "--label", "symphony.instance=web-0-aa",
        "--stop-signal", "SIGTERM", "--volume",
    ]  # fmt: skip
    assert run[9:12] == [f"{workdir}:/workspace", "--workdir", "/workspace"]
    assert "GREETING" in run and "SYMPHONY_INSTANCE" in run  # names only: values by env
    assert "world" not in run and "SYMPHONY_RUN_ID" not in run
    assert run[-4:] == [IMAGE, "sh", "-c", script]


async def test_container_entrypoint_and_image_default_command(tmp_path) -> None:
    fake = FakeRuntime(tmp_path)
    fake.add_image(cmd=["sh", "-c", "echo default-cmd"])
    with trio.fail_after(30):
        async with open_node(tmp_path, fake) as node:
            await node.start("a-0-aa", container(restart_policy={"type": "never"}))
            await node.start(
                "b-0-bb",
                container(
                    entrypoint=["sh", "-c"],
                    command=["echo entry-$0", "x"],
                    restart_policy={"type": "never"},
                ),
            )
            await node.wait_for("a-0-aa", "exited")
            await node.wait_for("b-0-bb", "exited")
            assert log_text(node, "a-0-aa") == "default-cmd"
            assert log_text(node, "b-0-bb") == "entry-x"
    runs = {c[3]: c for c in fake.calls("run")}
    # docker's --entrypoint takes one program: the rest of it goes before the command.
    assert runs["symph-b-0-bb"][-6:] == ["--entrypoint", "sh", IMAGE, "-c", "echo entry-$0", "x"]
    assert runs["symph-a-0-aa"][-1] == IMAGE  # no command: the image's own


async def test_container_stop_goes_through_runtime_stop_with_the_timeout(tmp_path) -> None:
    fake = FakeRuntime(tmp_path)
    fake.add_image()
    job = container(command=["sleep", "600"], stop_timeout_seconds=7)
    with trio.fail_after(30):
        async with open_node(tmp_path, fake) as node:
            await node.start("s-0-aa", job)
            await node.wait_for("s-0-aa", "running")
            await wait_real(lambda: any(c["State"] == "running" for c in fake.containers()))
            (box,) = fake.containers()
            report = await node.manager.stop_instance("s-0-aa")
            assert report.state == "stopped"
            assert report.exit_code == 143  # SIGTERM inside, reported by `run`
            await wait_real(lambda: ended(box["pid"]))
            assert fake.containers() == []  # --rm
    assert fake.calls("stop") == [["stop", "-t", "7", "symph-s-0-aa"]]


async def test_container_restarts_by_our_policy_each_a_new_run(tmp_path) -> None:
    fake = FakeRuntime(tmp_path)
    fake.add_image()
    job = container(
        command=["sh", "-c", "exit 1"],
        restart_policy={"type": "on-failure", "backoff_seconds": 0.01, "max_restarts": 2},
    )
    with trio.fail_after(30):
        async with open_node(tmp_path, fake) as node:
            await node.start("r-0-aa", job)
            failed = await node.wait_for("r-0-aa", "failed")
            assert failed.exit_code == 1
            assert node.states("r-0-aa").count("exited") == 3
    assert len(fake.calls("run")) == 3
    assert all("--restart" not in " ".join(c) for c in fake.calls("run"))  # ours, not its


async def test_container_pull_reports_progress_then_runs(tmp_path) -> None:
    fake = FakeRuntime(tmp_path)
    fake.publish("registry.example/team/app:2", cmd=["sh", "-c", "echo pulled-and-ran"])
    job = container("registry.example/team/app:2", restart_policy={"type": "never"})
    with trio.fail_after(30):
        async with open_node(tmp_path, fake) as node:
            await node.start("p-0-aa", job)
            await node.wait_for("p-0-aa", "exited")
            reasons = [u.reason for u in node.of("p-0-aa") if u.state == "starting" and u.reason]
            assert reasons[0] == "pulling image registry.example/team/app:2"
            assert reasons[-1].startswith("pulled image registry.example/team/app:2 in ")
            assert log_text(node, "p-0-aa") == "pulled-and-ran"
    assert fake.calls("pull") == [["pull", "registry.example/team/app:2"]]


async def test_container_pull_failure_is_a_spawn_error_with_the_runtime_words(tmp_path) -> None:
    fake = FakeRuntime(tmp_path)
    job = container("nowhere.example/missing:1", restart_policy={"type": "never"})
    with trio.fail_after(30):
        async with open_node(tmp_path, fake) as node:
            await node.start("f-0-aa", job)
            failed = await node.wait_for("f-0-aa", "failed")
    assert failed.reason is not None
    # Worded as a spawn error, not an "internal error: ExceptionGroup(...)" around it.
    assert failed.reason.startswith(
        "spawn error: image pull failed: nowhere.example/missing:1 (exit code 125)"
    ), failed.reason
    assert "manifest unknown" in failed.reason
    assert fake.calls("run") == []


async def test_container_job_on_a_node_without_the_runtime_fails_saying_so(tmp_path) -> None:
    with trio.fail_after(30):
        async with open_node(tmp_path, None) as node:
            assert node.manager.container_runtimes == ()
            await node.start("n-0-aa", container(restart_policy={"type": "never"}))
            failed = await node.wait_for("n-0-aa", "failed")
    assert failed.reason is not None
    assert "no podman container runtime on this node (found: none)" in failed.reason


async def test_container_stop_during_a_pull_ends_it_at_once(tmp_path) -> None:
    fake = FakeRuntime(tmp_path)
    fake.publish("registry.example/huge:1", pull_seconds=600)
    with trio.fail_after(30):
        async with open_node(tmp_path, fake) as node:
            await node.start("h-0-aa", container("registry.example/huge:1"))
            await wait_real(lambda: fake.calls("pull") != [])
            report = await node.manager.stop_instance("h-0-aa")
            assert report.state == "stopped" and report.reason == "stop requested"
    assert fake.calls("run") == []


async def test_container_kind_docker_runs_through_the_docker_command(tmp_path) -> None:
    fake = FakeRuntime(tmp_path, runtime="docker")
    fake.add_image()
    job = container(kind="docker", command=["sh", "-c", "exit 5"], restart_policy={"type": "never"})
    with trio.fail_after(30):
        async with open_node(tmp_path, fake) as node:
            assert "docker" in node.manager.container_runtimes  # (a real podman may be too)
            await node.start("d-0-aa", job)
            assert (await node.wait_for("d-0-aa", "exited")).exit_code == 5
    # docker has no `image exists`: the node asks with `image inspect`
    assert fake.calls("image") == [["image", "inspect", IMAGE]]
    assert len(fake.calls("run")) == 1


async def test_container_gets_exactly_its_gpus_as_device_flags_and_env(tmp_path) -> None:
    fake = FakeRuntime(tmp_path)
    fake.add_image()
    job = container(command=["sh", "-c", 'echo "[$NVIDIA_VISIBLE_DEVICES]"'])
    with trio.fail_after(30):
        async with harness.open_node(
            str(tmp_path / "node"), node_id="n1", env=fake.env, gpus=("0", "1", "2")
        ) as node:
            await node.start("gpu-0-aa", job, deployment_id="d1", gpus=2)
            await node.wait_for("gpu-0-aa", "exited")
            assert log_text(node, "gpu-0-aa") == "[0,1]", log_text(node, "gpu-0-aa", "stderr")
    (run,) = fake.calls("run")
    flags = [run[i + 1] for i, word in enumerate(run) if word == "--device"]
    assert flags == ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]
    assert "NVIDIA_VISIBLE_DEVICES" in run and "CUDA_VISIBLE_DEVICES" in run


def test_container_device_flags_by_runtime() -> None:
    from symphony.node.container.argv import device_flags

    assert device_flags("/usr/bin/docker", ["GPU-a", "GPU-b"]) == ["--gpus", '"device=GPU-a,GPU-b"']
    assert device_flags("/usr/bin/podman", ["3"]) == ["--device", "nvidia.com/gpu=3"]
    assert device_flags("/usr/bin/podman", []) == []
