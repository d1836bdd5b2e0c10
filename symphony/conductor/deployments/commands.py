"""Sending commands to a node's session from a DeploymentSupervisor.

A session's handler only queues what it is told for its writer (see
:mod:`symphony.conductor.nodes.session`), so these sends never wait on the node itself.
A session that has ended is skipped: what the node still runs, or never received, is
reconciled from its next hello.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from symphony.actors import ActorRef, ActorStopped
from symphony.wire import Message

#: Commands per frame to one node (well under the frame size limit).
COMMAND_BATCH = 200


async def send_batched(session: ActorRef, commands: Sequence[Message]) -> None:
    """Commands to one node in frames of up to :data:`COMMAND_BATCH` (a burst of them,
    say after a hello, must not become a burst of frames)."""
    for i in range(0, len(commands), COMMAND_BATCH):
        chunk = list(commands[i : i + COMMAND_BATCH])  # a session takes a list, not a tuple
        await tell_session(session, chunk if len(chunk) > 1 else chunk[0])


async def tell_session(session: ActorRef, message: Message | list[Message]) -> None:
    """Tell a session ``message`` (a command or a list of them); ignore one that ended."""
    with contextlib.suppress(ActorStopped):
        await session.tell(message)
