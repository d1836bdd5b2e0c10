"""Resolving a spec's ``config.git.ref`` to a commit, once per version of the spec.

A branch moves; replicas started an hour apart must still run the same code. So the
Conductor asks the repository (``git ls-remote``) what the ref points to when the spec
is submitted or changed, and records the commit in the spec (``config.git.commit``).
Nodes clone that commit, never the ref. A change of the spec that leaves ``repo`` and
``ref`` alone keeps the recorded commit (scaling does not move a deployment to a newer
commit); a spec whose ``ref`` is a full commit id needs no lookup.

A ref the repository does not have, or a repository the Conductor cannot reach, is a
:class:`GitRefError` (the API answers 422 with the reason). Give a full commit id as
``ref`` (or set ``commit``) when only the nodes can reach the repository.
"""

from __future__ import annotations

import os
from typing import Any

import trio

from symphony.errors import SymphonyError
from symphony.spec import DeploymentSpec, is_commit

#: How long one ``git ls-remote`` may take.
LS_REMOTE_TIMEOUT = 30.0
#: Protocols git may use for a spec's repository (the spec allows only these schemes;
#: this also stops git from following a redirect to another protocol).
GIT_PROTOCOLS = "http:https:file"


class GitRefError(SymphonyError, ValueError):
    """``config.git.ref`` could not be resolved to a commit; the message says why."""


def git_env() -> dict[str, str]:
    """The environment of every git command run for a spec: no prompts, no config of
    the user running the service, only the allowed protocols."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ALLOW_PROTOCOL=GIT_PROTOCOLS,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_ASKPASS="/bin/false",
    )
    return env


async def resolve_ref(repo: str, ref: str, *, timeout: float = LS_REMOTE_TIMEOUT) -> str:
    """The commit ``ref`` points to in ``repo`` (a branch, a tag, or ``HEAD``)."""
    if is_commit(ref):
        return ref.lower()
    try:
        with trio.fail_after(timeout):
            done = await trio.run_process(
                ["git", "ls-remote", "--", repo, ref],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                stdin=b"",
                env=git_env(),
            )
    except trio.TooSlowError:
        raise GitRefError(f"git ls-remote {repo} took longer than {timeout:g} s") from None
    except OSError as error:
        raise GitRefError(f"cannot run git: {error}") from None
    if done.returncode != 0:
        last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise GitRefError(f"cannot read {repo}: {last[0][:300]}")
    refs: dict[str, str] = {}
    for line in done.stdout.decode(errors="replace").splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    # A tag's peeled commit (^{}) wins over the tag object itself.
    for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
        if name in refs and is_commit(refs[name]):
            return refs[name]
    raise GitRefError(f"{repo} has no branch or tag {ref!r}")


def needs_resolution(spec: DeploymentSpec, previous: DeploymentSpec | None = None) -> bool:
    """Whether ``spec``'s git commit must be looked up again (see the module docstring)."""
    git = spec.config.git
    if git is None:
        return False
    if git.commit is None:
        return True
    old = previous.config.git if previous is not None else None
    if old is None:
        return False
    return (old.repo, old.ref) != (git.repo, git.ref) and git.commit == old.commit


async def commit_patch(
    spec: DeploymentSpec, previous: DeploymentSpec | None = None
) -> dict[str, Any] | None:
    """A merge patch recording the resolved commit, or None when nothing is to resolve."""
    if not needs_resolution(spec, previous):
        return None
    git = spec.config.git
    assert git is not None
    commit = await resolve_ref(git.repo, git.ref)
    return {"config": {"git": {"commit": commit}}}
