"""The server's limits and timeouts (one frozen dataclass)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerSettings:
    """Limits that keep one hostile or slow client from costing the server much.

    ``max_head_size`` bounds a request's line and headers (h11 refuses more with a 431
    or 400, as Hypercorn's default of 16 KiB does); ``keep_alive_timeout`` closes a
    connection that sends no new request; ``head_timeout`` one whose request head does not
    arrive in time once it began (slowloris). A body is read when the app asks; it must
    come within ``body_timeout`` of its head plus a second per ``body_min_rate`` bytes
    received (else a 408, and the connection closes): a body sent a byte now and then
    holds a connection no longer than that, whatever the app does, while a large upload
    at a fair pace is not cut off. ``write_timeout`` ends a connection whose client
    stops reading (64 KiB of a response not taken in that long: slow-read; not on an
    accepted WebSocket, whose reader may pause as long as it likes unless its app sets
    a bound of its own, the ``symphony.send_timeout`` extension). Such a connection ends
    with a reset (RST), not a FIN: what it had not taken is dropped, and a response cut
    short shows as a reset, not as a body ended early.
    ``graceful_timeout`` is how long requests in flight may take to finish once the
    server is asked to stop; idle connections close at once.
    """

    max_head_size: int = 16 * 1024
    keep_alive_timeout: float = 5.0
    head_timeout: float = 10.0
    body_timeout: float = 60.0
    body_min_rate: float = 16 * 1024
    graceful_timeout: float = 1.0
    write_timeout: float = 60.0
    #: A WebSocket message larger than this closes the socket with 1009 (too big).
    websocket_max_message: int = 16 * 1024 * 1024
    #: How much one read from a socket takes at most.
    read_size: int = 64 * 1024

    def __post_init__(self) -> None:
        if not self.body_min_rate > 0:
            raise ValueError(f"body_min_rate must be positive, not {self.body_min_rate!r}")
