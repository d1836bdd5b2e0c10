"""One run of a container job: find what is left of an earlier one, pull, build argv.

Called by the instance's supervisor before each run (the restart policy is ours, so a
restart is a new ``run``):

1. the runtime of the job's kind must be on this node (else a spawn error);
2. a container of this instance may have outlived its ``run`` client (the client was
   killed, say, with the agent): found by label and name, a running one is re-attached
   (``attach``: nothing runs twice) and an ended one removed;
3. the image is pulled unless present, with progress as ``starting`` updates;
4. the command line of ``run``, with the container's environment passed by name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import trio

from symphony.actors import sole_exception
from symphony.wire import JobSpec

from .argv import attach_argv, run_argv
from .control import ContainerError, find_container, prepare_image, remove_container, stop_container

T = TypeVar("T")
#: After ``stop -t`` returns, how long the client may take to exit before SIGKILL sweeps.
CONTAINER_STOP_MARGIN = 5.0
_ALIVE = ("running", "paused", "created", "configured", "initialized", "stopping")


def runtime_path(runtimes: Mapping[str, str], kind: str) -> str:
    """The path of ``kind``'s runtime command here, or ContainerError saying it is absent."""
    path = runtimes.get(kind)
    if path is None:
        have = ", ".join(sorted(runtimes)) or "none"
        raise ContainerError(f"no {kind} container runtime on this node (found: {have})")
    return path


def container_env_names(
    env: Mapping[str, str],
    base_env: Mapping[str, str],
    spec_env: Collection[str],
    private: Collection[str] = (),
) -> list[str]:
    """The variables the container gets: the spec's ``env`` (also one whose value the
    agent happens to share) and every other one the node set or changed for the job
    (``SYMPHONY_*``, ...); never the agent's own environment nor the node's ``private``
    bookkeeping (the run id that finds a run's processes)."""
    return [
        k for k, v in env.items() if (k in spec_env or base_env.get(k) != v) and k not in private
    ]


async def container_command(
    spec: JobSpec,
    *,
    runtimes: Mapping[str, str],
    instance_id: str,
    workdir: str,
    env: Mapping[str, str],
    base_env: Mapping[str, str],
    private: Collection[str] = (),
    progress: Callable[[str], None],
    devices: Sequence[str] = (),
) -> list[str]:
    """The argv of the next run of a container job (see the module docstring);
    ``devices`` are the GPUs the instance holds."""
    runtime = runtime_path(runtimes, spec.kind)
    found = await find_container(runtime, instance_id, env)
    if found in _ALIVE:
        progress(f"re-attaching to container {found} from an earlier run")
        return attach_argv(runtime, instance_id)
    if found is not None:
        await remove_container(runtime, instance_id, env)
    image = spec.config.image
    if image is None:  # JobSpec guarantees it for these kinds
        raise ContainerError(f"a {spec.kind} job needs an image")
    await prepare_image(runtime, spec.kind, image, env, progress)
    return run_argv(
        runtime,
        instance_id=instance_id,
        image=image,
        command=spec.config.command,
        entrypoint=spec.config.entrypoint,
        # A secret variable too goes in even where the agent shares its value.
        env_names=container_env_names(
            env, base_env, [*spec.config.env, *(spec.config.secret_env or {})], private
        ),
        workdir=workdir,
        stop_signal=spec.stop_signal,
        devices=devices,
    )


async def unless_stopped(
    stop: trio.Event, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
) -> T | None:
    """``await fn(...)``, cancelled (None) as soon as ``stop`` is set: a stop must not
    wait for a pull that may take minutes. Whatever ``fn`` ran is killed by Trio."""
    result: list[T] = []
    try:
        async with trio.open_nursery() as nursery:

            async def cancel_on_stop() -> None:
                await stop.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(cancel_on_stop)
            result.append(await fn(*args, **kwargs))
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # fn's own error (a failed pull, a download refused) as itself: the caller's
        # `except ContainerError` / `except SourceError` must see it, or the instance
        # "crashes" with the group's repr for a reason and a traceback in the node's log.
        single = sole_exception(group)
        if single is None:
            raise
        raise single from None
    return result[0] if result else None


async def stop_instance_container(
    spec: JobSpec, *, runtimes: Mapping[str, str], instance_id: str, env: Mapping[str, str]
) -> None:
    """``<runtime> stop -t <stop_timeout_seconds>`` the instance's container."""
    runtime = runtimes.get(spec.kind)
    if runtime is not None:
        await stop_container(runtime, instance_id, spec.stop_timeout_seconds, env)
