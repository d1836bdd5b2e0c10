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

from typing import Any

from symphony.errors import SymphonyError
from symphony.gitcmd import GitError, run_git
from symphony.spec import DeploymentSpec, is_commit

#: How long one ``git ls-remote`` may take.
LS_REMOTE_TIMEOUT = 30.0


class GitRefError(SymphonyError, ValueError):
    """``config.git.ref`` could not be resolved to a commit; the message says why."""


async def resolve_ref(repo: str, ref: str, *, timeout: float = LS_REMOTE_TIMEOUT) -> str:
    """The commit ``ref`` points to in ``repo`` (a branch, a tag, or ``HEAD``)."""
    if is_commit(ref):
        return ref.lower()
    try:
        listed = await run_git("ls-remote", "--", repo, ref, timeout=timeout)
    except GitError as error:
        raise GitRefError(f"cannot read {repo}: {error}") from None
    refs: dict[str, str] = {}
    for line in listed.decode(errors="replace").splitlines():
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
