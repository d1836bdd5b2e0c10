"""The node's incarnation token: which agent, with which state, speaks for a node id.

A node id names a machine's role (``gpu-1-a``); an *incarnation* is one agent with one
state directory playing it. The agent keeps its token in ``<state_dir>/incarnation``
(made once, mode 0600) and sends it in every hello, so:

- the same agent restarted on the same state directory is the same incarnation: the
  Conductor re-adopts what it runs;
- another agent claiming the same node id (a copy of the machine, a second agent
  started by mistake, a container that came back with fresh state) is a *new*
  incarnation. It knows nothing of the jobs the previous one started, which may still
  be running; the Conductor therefore refuses it until the previous incarnation is
  declared lost and its instances have been rescheduled, so no replica runs twice.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_NAME = "incarnation"


def ensure_incarnation(state_dir: Path) -> str:
    """This state directory's incarnation token, created on first use.

    The file is created exclusively with mode 0600 from the first byte; a token that
    is unreadable or malformed is an error to fix by hand, never silently replaced
    (a new token would fence this node from its own running jobs).
    """
    path = Path(state_dir) / FILE_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        token = path.read_text().strip()
        if not (32 <= len(token) <= 128 and token.isalnum()):
            raise ValueError(
                f"{path} does not hold a valid incarnation token; restore it, or delete "
                "it to make this agent a new incarnation of its node id"
            ) from None
        return token
    token = secrets.token_hex(16)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
        file.flush()
        os.fsync(file.fileno())
    return token
