"""The runtime command lines of a container job (pure: no processes here).

Environment values never appear on a command line (where ``ps`` would show them): the
runtime gets ``-e NAME`` and reads the value from its own environment, which the node
sets for the run.

>>> run_argv("/usr/bin/podman", instance_id="web-0-ab12", image="busybox",
...          command=("sleep", "5"), entrypoint=None, env_names=["A"],
...          workdir="/srv/w", stop_signal="SIGTERM")[1:7]
['run', '--rm', '--name', 'symph-web-0-ab12', '--label', 'symphony.instance=web-0-ab12']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

CONTAINER_KINDS = frozenset({"docker", "podman"})
#: Where the instance's work directory appears inside the container (its working dir).
WORKSPACE = "/workspace"
LABEL = "symphony.instance"


def container_name(instance_id: str) -> str:
    """The container's name: instance ids are unique and never reused, so is this."""
    return f"symph-{instance_id}"


def run_argv(
    runtime: str,
    *,
    instance_id: str,
    image: str,
    command: Sequence[str],
    entrypoint: Sequence[str] | None,
    env_names: Iterable[str],
    workdir: str,
    stop_signal: str,
    devices: Sequence[str] = (),
) -> list[str]:
    """``<runtime> run --rm --name symph-<id> --label symphony.instance=<id> ...``.

    Attached (no ``-d``): the runtime's client is the job's process, its output the
    container's, its exit code the container's. ``--entrypoint`` takes one program in
    docker's CLI, so its other items go before the command (an entrypoint given also
    clears the image's command, as in both runtimes). ``devices`` are the GPUs the node
    gave the instance (see :func:`device_flags`).
    """
    argv = [
        runtime,
        "run",
        "--rm",
        "--name",
        container_name(instance_id),
        "--label",
        f"{LABEL}={instance_id}",
        "--stop-signal",
        stop_signal,
        "--volume",
        f"{workdir}:{WORKSPACE}",
        "--workdir",
        WORKSPACE,
    ]
    for name in sorted(env_names):
        argv += ["--env", name]
    argv += device_flags(runtime, devices)
    args = list(command)
    if entrypoint:
        argv += ["--entrypoint", entrypoint[0]]
        args = [*entrypoint[1:], *args]
    # "--" nowhere: the image reference is checked (it never starts with "-"), and
    # what follows it is the container's own argv.
    return [*argv, image, *args]


def device_flags(runtime: str, devices: Sequence[str]) -> list[str]:
    """The flags that give a container exactly the instance's GPUs (and no others).

    podman names each device through CDI (``--device nvidia.com/gpu=<id>``, the NVIDIA
    container toolkit's names: an index or a UUID); docker takes one ``--gpus`` list
    (quoted, since docker reads it as CSV). The container also gets
    ``NVIDIA_VISIBLE_DEVICES`` and ``CUDA_VISIBLE_DEVICES``, set by the node as for any
    job.

    >>> device_flags("/usr/bin/podman", ["GPU-1a", "GPU-2b"])
    ['--device', 'nvidia.com/gpu=GPU-1a', '--device', 'nvidia.com/gpu=GPU-2b']
    >>> device_flags("/usr/bin/docker", ["0", "1"])
    ['--gpus', '"device=0,1"']
    >>> device_flags("/usr/bin/docker", [])
    []
    """
    if not devices:
        return []
    if runtime.rsplit("/", 1)[-1].startswith("docker"):
        return ["--gpus", '"device=' + ",".join(devices) + '"']
    return [flag for device in devices for flag in ("--device", f"nvidia.com/gpu={device}")]


def attach_argv(runtime: str, instance_id: str) -> list[str]:
    """Re-attach to a container that outlived its ``run`` client: its output and its
    exit code, as the client would have had them."""
    return [runtime, "attach", "--no-stdin", container_name(instance_id)]
