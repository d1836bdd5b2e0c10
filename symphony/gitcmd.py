"""Running the ``git`` command for a spec's ``config.git``: on the Conductor
(``ls-remote``, to resolve a ref) and on nodes (a shallow fetch of one commit).

A spec's repository is chosen by whoever may submit specs, so git runs with no
prompts, without the system's git configuration, and only over the protocols a spec may
name (``GIT_ALLOW_PROTOCOL``: git also refuses a redirect to another one).
"""

from __future__ import annotations

import os

import trio

from .errors import SymphonyError

#: Protocols git may use for a spec's repository (the spec allows only these schemes).
GIT_PROTOCOLS = "http:https:file"


class GitError(SymphonyError):
    """A git command for a spec's source failed; the message says why."""


def git_env() -> dict[str, str]:
    """The environment of every git command run for a spec."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ALLOW_PROTOCOL=GIT_PROTOCOLS,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_ASKPASS="/bin/false",
    )
    return env


async def run_git(*args: str, cwd: str | None = None, timeout: float) -> bytes:
    """Run ``git ARGS``; its standard output, or :class:`GitError` naming the cause."""
    try:
        with trio.fail_after(timeout):
            done = await trio.run_process(
                ["git", *args], cwd=cwd, capture_stdout=True, capture_stderr=True,
                check=False, stdin=b"", env=git_env(),
            )  # fmt: skip
    except trio.TooSlowError:
        raise GitError(f"git {args[0]} took longer than {timeout:g} s") from None
    except OSError as error:
        raise GitError(f"cannot run git: {error}") from None
    if done.returncode != 0:
        last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise GitError(f"git {args[0]}: {last[0][:300]}")
    return bytes(done.stdout)
