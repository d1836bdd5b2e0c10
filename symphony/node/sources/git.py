"""Checking out one commit of a git repository, shallow, with the git command.

The Conductor resolved the spec's ref to a commit (every replica runs the same one);
the node fetches just that commit (``--depth 1``) into a fresh directory.
"""

from __future__ import annotations

import os

from symphony.gitcmd import GitError, run_git

__all__ = ["GIT_TIMEOUT", "GitError", "checkout"]

#: How long one git command may take.
GIT_TIMEOUT = 600.0


async def checkout(repo: str, commit: str, dest: str) -> None:
    """Check ``commit`` of ``repo`` out into ``dest`` (a new directory)."""
    os.makedirs(dest, mode=0o700)
    await run_git("init", "--quiet", cwd=dest, timeout=GIT_TIMEOUT)
    await run_git("fetch", "--quiet", "--depth", "1", "--", repo, commit, cwd=dest,
                  timeout=GIT_TIMEOUT)  # fmt: skip
    await run_git("-c", "advice.detachedHead=false", "checkout", "--quiet", "FETCH_HEAD",
                  cwd=dest, timeout=GIT_TIMEOUT)  # fmt: skip
