"""What a job needs of a node beyond capacity: a protocol that knows its sources, and
its named environment.

Both are *tags*: extra members of a node's groups that no real group can spell (a
group starts with a letter or digit and has no ``:``), so the index buckets and filters
them like groups, at no cost for jobs that need nothing. A job's ``needs`` must all be
among a node's tags.

    >>> sorted(node_tags(4, ("conda-env1",)))
    [':sources', 'env:conda-env1']
    >>> sorted(job_needs(image=True, env_name="conda-env1"))
    [':sources', 'env:conda-env1']
"""

from __future__ import annotations

from collections.abc import Iterable

#: The node runs jobs with ``config.image``, ``git`` or ``env_name`` (protocol >= 4).
SOURCES = ":sources"
#: The protocol version that added the sources.
SOURCES_PROTOCOL = 4
_ENV = "env:"


def node_tags(protocol_version: int, envs: Iterable[str]) -> frozenset[str]:
    """The tags of a node that speaks ``protocol_version`` and has ``envs``."""
    if protocol_version < SOURCES_PROTOCOL:
        return frozenset()
    return frozenset({SOURCES, *(_ENV + name for name in envs)})


def job_needs(
    *, image: bool, env_name: str | None, git: bool = False, kind: str = "exec"
) -> frozenset[str]:
    """The tags a job needs: ``image`` and ``git`` say whether its config has them. An
    image is a source (an archive) only for an ``exec`` job: a container's image is
    pulled by its runtime, which the node's runtimes decide."""
    if env_name is not None:
        return frozenset({SOURCES, _ENV + env_name})
    return frozenset({SOURCES}) if (image and kind == "exec") or git else frozenset()


def describe_need(tag: str) -> str:
    """A missing tag in words that say what to do."""
    if tag.startswith(_ENV):
        name = tag.removeprefix(_ENV)
        return (
            f"environment {name} (a conda environment, or a virtual environment under "
            "node.envs_dir)"
        )
    return (
        f"protocol version {SOURCES_PROTOCOL} (needed for config.image, git and env_name: "
        "upgrade the node)"
    )
