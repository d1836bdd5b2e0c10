"""The headers that mark a standby's answers and the requests it forwards.

Apart from :mod:`.forward` (the standby's forwarding app, built on httpx) because a
leader sets them too, on the 503 it answers once it has lost the lease, and a leader
never forwards: importing httpx there would keep about 4.5 MiB resident for nothing.
"""

from __future__ import annotations

__all__ = ["FORWARDED_HEADER", "ROLE_HEADER"]

#: Set on every answer of a standby, and on every request it forwards.
ROLE_HEADER = "x-symphony-role"
FORWARDED_HEADER = "x-symphony-forwarded"
