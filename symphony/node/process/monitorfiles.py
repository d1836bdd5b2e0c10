"""The names the node monitor and its agent agree on, inside the jobs directory.

Apart from :mod:`.monitor_server` so that the agent, which only connects to the
monitor, does not import the monitor's own code (spawning, log forwarding, the run
store): modules a process keeps resident for good.
"""

from __future__ import annotations

__all__ = ["LOCK_NAME", "SOCKET_NAME"]

#: The monitor's unix socket (newline-delimited JSON requests).
SOCKET_NAME = "monitor.sock"
#: The lock the one live monitor of a jobs directory holds.
LOCK_NAME = "monitor.lock"
