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

For kind ``exec``, ``config.image`` is instead an archive URL (see ``_sources``): the
kind decides which of the two the same field holds.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo

from symphony.images import IMAGE_RE, MAX_IMAGE_LENGTH

from ._sources import check_url

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


def config_problems(kind: str, config: Any, info: ValidationInfo) -> list[tuple[str, str | None]]:
    """What in ``config`` does not fit ``kind``: ``(field, message)`` pairs, a message of
    None meaning the field is missing. ``info`` is the validation's (a stored spec's
    archive URL is not checked again, see ``_sources``)."""
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
        for name in ("sha256", "git", "env_name"):  # an exec job's sources
            if getattr(config, name) is not None:
                problems.append((name, "only for kind 'exec' (a container's code is its image)"))
        return problems
    problems = [] if config.command is not None else [("command", None)]
    if config.image is not None:  # for exec, an archive to unpack into the work directory
        try:
            check_url(config.image, info)
        except ValueError as error:
            problems.append(("image", str(error)))
    if config.entrypoint is not None:
        problems.append(("entrypoint", "only for kinds 'docker' and 'podman'"))
    return problems
