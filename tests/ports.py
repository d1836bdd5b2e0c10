"""Ports of the node's range for tests: a range of each test's own."""

from __future__ import annotations

import random


def port_range() -> str:
    """A random range of 200 ports for a test node's experiments: tests that run at the
    same time, their leftovers and other programs on the machine (someone else's
    ``symphony up`` allocates from 20000 up) then do not fight over the default
    20000-29999.

    Below the kernel's ephemeral ports: a port handed to a service must not be taken
    meanwhile by some client's outgoing connection, which would leave the service
    unable to bind it (seen as a port-forward test waiting 30 s for its echo).

    Any base, not a multiple of 200: a node allocates from the bottom of its range and a
    test uses a few ports, so two runs at the same moment share one only when their
    bases are a few ports apart (about 1 in 2,000), not whenever they are equal (1 in
    112 on a grid of 200; seen as an echo's port taken)."""
    base = random.randrange(10000, _ephemeral_low() - 200)
    return f"{base}-{base + 199}"


def _ephemeral_low() -> int:
    """The lowest port the kernel picks for outgoing connections (32768 by default)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(low, 10400)  # room for at least two ranges
