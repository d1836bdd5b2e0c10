"""Checking out one commit of a git repository, shallow, with the git command.

The Conductor resolved the spec's ref to a commit (every replica runs the same one);
the node fetches just that commit (``--depth 1``) into a fresh directory.
"""

from __future__ import annotations

import os

import trio

from symphony.errors import SymphonyError

#: How long one git command may take.
GIT_TIMEOUT = 600.0


class GitError(SymphonyError):
    """A git source could not be checked out; the message says why."""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ALLOW_PROTOCOL="http:https:file",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_ASKPASS="/bin/false",
    )
    return env


async def _git(*args: str, cwd: str) -> None:
    try:
        with trio.fail_after(GIT_TIMEOUT):
            done = await trio.run_process(
                ["git", *args], cwd=cwd, capture_stdout=True, capture_stderr=True,
                check=False, stdin=b"", env=_env(),
            )  # fmt: skip
    except trio.TooSlowError:
        raise GitError(f"git {args[0]} took longer than {GIT_TIMEOUT:g} s") from None
    except OSError as error:
        raise GitError(f"cannot run git: {error}") from None
    if done.returncode != 0:
        last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise GitError(f"git {args[0]}: {last[0][:300]}")


async def checkout(repo: str, commit: str, dest: str) -> None:
    """Check ``commit`` of ``repo`` out into ``dest`` (a new directory)."""
    os.makedirs(dest, mode=0o700)
    await _git("init", "--quiet", cwd=dest)
    await _git("fetch", "--quiet", "--depth", "1", "--", repo, commit, cwd=dest)
    await _git("-c", "advice.detachedHead=false", "checkout", "--quiet", "FETCH_HEAD", cwd=dest)
