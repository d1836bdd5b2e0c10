"""How a node monitor process comes up: detached from the agent that started it, and
the only monitor of its state directory.

The agent starts a monitor whenever none answers on the socket (:mod:`.client`), so
two may start at once, or one while another is on its way in or out. The lock
(``monitor.lock``, an exclusive ``flock``) decides: its holder is the monitor; any
other says ``busy`` and exits, after a moment's wait if the holder has no socket
(:func:`take_lock`). The lock
file stays when a monitor exits: deleting it would let a monitor that opened the old
file and one that creates a new one both hold "the" lock.

Standard library only, like the rest of the monitor (see :mod:`.monitor_server`).
"""

from __future__ import annotations

import fcntl
import os
import time

from .monitorfiles import SOCKET_NAME

__all__ = ["LOCK_WAIT", "daemonize", "take_lock"]

#: Seconds a starting monitor waits, at most, for a lock held by a monitor with no
#: socket (exiting, or not listening yet) before it gives up and says ``busy``. An
#: exiting monitor lets go of its lock microseconds after its socket is gone; this
#: covers that monitor being descheduled on a loaded machine.
LOCK_WAIT = 2.0


def daemonize(state_dir: str) -> int:
    """Fork into a new session; the parent exits once the child reports ready.

    Returns (in the child) the pipe on which to report readiness: ``ok`` or ``busy``.
    """
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        answer = os.read(read_end, 16)
        os._exit(0 if answer in (b"ok", b"busy") else 1)
    os.close(read_end)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    log_path = os.path.join(state_dir, "monitor.log")
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    return write_end


def take_lock(lock: int) -> bool:
    """Take the monitor's lock (True), or leave it to the monitor that holds it (False).

    A holder whose socket is there serves, and the agent connects to it; or it is a
    killed monitor's socket, its lock still held by a process forked from it, a lost
    monitor the agent tries again to replace. A holder with no socket is on its way out
    (an idle monitor removes its socket, then lets go of its lock: see
    ``MonitorServer._retire``) or on its way in (not listening yet). An agent that
    started us then would find no monitor at all, so we wait, :data:`LOCK_WAIT` at
    most, for the lock to be ours or the socket to be there. Runs in the state
    directory (the socket's name is relative to it).
    """
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if os.path.lexists(SOCKET_NAME) or time.monotonic() >= deadline:
                return False
        time.sleep(0.01)
