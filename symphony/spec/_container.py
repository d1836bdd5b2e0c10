"""The container part of a spec: kinds ``docker`` and ``podman``, and image references.

A container deployment names an image and, optionally, what to run in it::

    {"kind": "podman",
     "config": {"image": "docker.io/library/python:3.12-slim",
                "command": ["python3", "-m", "http.server"],
                "env": {"PORT": "8000"}}}

``config.image`` is checked against the reference grammar of the container registries
(``[domain[:port]/]path[:tag][@digest]``, as ``docker pull`` reads it), in full: a
reference that does not match is refused here, never handed to the runtime's command
line where a leading ``-`` would read as an option. ``config.command`` replaces the
image's command, ``config.entrypoint`` its entrypoint; ``config.cwd`` does not apply
(the instance's own directory is the container's ``/workspace``).
"""

from __future__ import annotations

from typing import Any

from symphony.images import IMAGE_RE, MAX_IMAGE_LENGTH

#: The kinds that run an image through the container runtime of the same name.
CONTAINER_KINDS = frozenset({"docker", "podman"})


def image_problem(value: str) -> str | None:
    """Why ``value`` is not an image reference (None when it is one)."""
    if len(value) > MAX_IMAGE_LENGTH or not IMAGE_RE.fullmatch(value):
        shown = value if len(value) <= 80 else value[:77] + "..."
        return (
            f"{shown!r} is not an image reference; write it as docker pull reads it, "
            "e.g. 'busybox', 'docker.io/library/python:3.12-slim' or 'localhost/app:1'"
        )
    return None


def config_problems(kind: str, config: Any) -> list[tuple[str, str | None]]:
    """What in ``config`` does not fit ``kind``: ``(field, message)`` pairs, a message of
    None meaning the field is missing."""
    if kind in CONTAINER_KINDS:
        if config.image is None:
            return [("image", f"is required for kind {kind!r}: an image reference, e.g. 'busybox'")]
        problems: list[tuple[str, str | None]] = []
        why = image_problem(config.image)
        if why is not None:
            problems.append(("image", why))
        if config.cwd is not None:
            problems.append(
                (
                    "cwd",
                    f"not used for kind {kind!r}: the instance's own directory is the "
                    "container's working directory, /workspace",
                )
            )
        return problems
    problems = [] if config.command is not None else [("command", None)]
    if config.image is not None:
        problems.append(
            (
                "image",
                "not supported for kind 'exec' yet; an image runs with kind 'docker' or 'podman'",
            )
        )
    if config.entrypoint is not None:
        problems.append(("entrypoint", "only for kinds 'docker' and 'podman'"))
    return problems
