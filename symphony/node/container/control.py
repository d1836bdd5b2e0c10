"""What the node runs beside a container job: image pull, ``ps``, ``stop``, ``rm``.

Each is one short-lived runtime command under a timeout. A pull reports its progress
through a callback (the supervisor turns it into ``starting`` updates with a reason,
which the Conductor records as events) and fails with the runtime's own words.
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

import trio

from symphony.errors import SymphonyError

from .argv import LABEL, container_name

log = logging.getLogger("symphony.node.container")

#: The longest a pull may take before it counts as failed.
PULL_TIMEOUT = 3600.0
#: Pull progress goes out at most this often (a pull prints many lines a second).
PROGRESS_EVERY = 2.0
#: The longest one of the short commands (ps, image exists, rm) may take.
COMMAND_TIMEOUT = 60.0


class ContainerError(SymphonyError):
    """A runtime command failed; the message says which and why (in its own words)."""


def _last_lines(text: bytes, n: int = 3) -> str:
    lines = [line.strip() for line in text.decode(errors="replace").splitlines() if line.strip()]
    return " / ".join(lines[-n:]) or "(no output)"


async def _run(
    argv: list[str], env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(timeout):
        return await trio.run_process(
            argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def image_present(runtime: str, kind: str, image: str, env: Mapping[str, str]) -> bool:
    """Whether ``image`` is in the node's local store (``podman image exists``;
    docker has no such command: ``docker image inspect``)."""
    verb = ["image", "exists"] if kind == "podman" else ["image", "inspect"]
    done = await _run([runtime, *verb, image], env, COMMAND_TIMEOUT)
    return done.returncode == 0


async def prepare_image(
    runtime: str,
    kind: str,
    image: str,
    env: Mapping[str, str],
    progress: Callable[[str], None],
) -> None:
    """Pull ``image`` unless it is here already; ContainerError if the pull fails."""
    try:
        if await image_present(runtime, kind, image, env):
            return
    except (OSError, trio.TooSlowError) as error:
        raise ContainerError(f"cannot ask {kind} for image {image}: {error}") from None
    progress(f"pulling image {image}")
    started = trio.current_time()
    output = bytearray()
    last_sent = started
    async with trio.open_nursery() as nursery:
        try:
            with trio.fail_after(PULL_TIMEOUT):
                process = await nursery.start(
                    functools.partial(
                        trio.run_process,
                        [runtime, "pull", image],
                        env=dict(env),
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        check=False,
                    )
                )
                assert process.stdout is not None
                async for chunk in process.stdout:
                    output += chunk
                    del output[: max(0, len(output) - 16384)]  # the tail is what we show
                    now = trio.current_time()
                    if now - last_sent >= PROGRESS_EVERY:
                        last_sent = now
                        progress(f"pulling image {image}: {_last_lines(bytes(output), 1)}")
                await process.wait()
        except OSError as error:
            raise ContainerError(f"image pull failed: {image}: {error}") from None
        except trio.TooSlowError:
            raise ContainerError(
                f"image pull failed: {image}: no end after {PULL_TIMEOUT:g} s"
            ) from None
    if process.returncode != 0:
        raise ContainerError(
            f"image pull failed: {image} (exit code {process.returncode}): "
            f"{_last_lines(bytes(output))}"
        )
    progress(f"pulled image {image} in {trio.current_time() - started:.1f} s")


def _containers(stdout: bytes) -> list[dict[str, Any]]:
    """``ps --format json``: podman prints one JSON array, docker one object a line."""
    text = stdout.decode(errors="replace").strip()
    if not text:
        return []
    if text.startswith("["):
        items = json.loads(text)
    else:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [item for item in items if isinstance(item, dict)]


def _names(item: dict[str, Any]) -> list[str]:
    names = item.get("Names")
    if isinstance(names, str):  # docker: "a,b"
        return [n.strip().lstrip("/") for n in names.split(",")]
    return [str(n).lstrip("/") for n in names] if isinstance(names, list) else []


def _labels(item: dict[str, Any]) -> dict[str, str]:
    labels = item.get("Labels")
    if isinstance(labels, str):  # docker: "k=v,k2=v2"
        pairs = [part.split("=", 1) for part in labels.split(",") if "=" in part]
        return {k: v for k, v in pairs}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


async def find_container(runtime: str, instance_id: str, env: Mapping[str, str]) -> str | None:
    """The state (``running``, ``exited``, ...) of the instance's container, found by its
    label and its name both, or None when there is none."""
    argv = [runtime, "ps", "-a", "--filter", f"label={LABEL}={instance_id}", "--format", "json"]
    try:
        done = await _run(argv, env, COMMAND_TIMEOUT)
    except (OSError, trio.TooSlowError) as error:
        raise ContainerError(f"cannot list containers: {error}") from None
    if done.returncode != 0:
        raise ContainerError(f"cannot list containers: {_last_lines(done.stderr)}")
    try:
        items = _containers(done.stdout)
    except ValueError as error:
        raise ContainerError(f"cannot read the container list: {error}") from None
    name = container_name(instance_id)
    for item in items:
        if name in _names(item) and _labels(item).get(LABEL) == instance_id:
            state = item.get("State")
            return str(state).lower() if state else "unknown"
    return None


async def remove_container(runtime: str, instance_id: str, env: Mapping[str, str]) -> None:
    """``rm -f`` the instance's container (a leftover that ended but was not removed)."""
    try:
        done = await _run([runtime, "rm", "-f", container_name(instance_id)], env, COMMAND_TIMEOUT)
    except (OSError, trio.TooSlowError) as error:
        raise ContainerError(f"cannot remove container: {error}") from None
    if done.returncode != 0:
        raise ContainerError(f"cannot remove container: {_last_lines(done.stderr)}")


async def stop_container(
    runtime: str, instance_id: str, timeout: float, env: Mapping[str, str]
) -> None:
    """``stop -t <timeout>``: the stop signal given at ``run``, then SIGKILL after the
    timeout, by the runtime. A failure is logged: the caller's SIGKILL sweep follows."""
    seconds = str(max(0, round(timeout)))
    argv = [runtime, "stop", "-t", seconds, container_name(instance_id)]
    try:
        done = await _run(argv, env, timeout + COMMAND_TIMEOUT)
    except (OSError, trio.TooSlowError) as error:
        log.warning("%s: %s", " ".join(argv), error)
        return
    if done.returncode != 0:
        log.warning("%s: %s", " ".join(argv), _last_lines(done.stderr))
