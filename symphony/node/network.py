"""What a node tells the Conductor about its network, for experiments' processes.

The Conductor allocates the ports an experiment's processes bind from the range the
node declares (``node.ports``), so every process can be told every other one's address
before any of them starts; and it tells processes to reach this node's processes at
``node.advertise_addr`` (by default the address the Conductor sees the node's link
come from). Both travel in the hello's ``resources`` as ``network``::

    {"ports": [20000, 29999], "advertise_addr": "10.0.0.7"}
"""

from __future__ import annotations

from typing import Any


def network_facts(ports: str, advertise_addr: str | None) -> dict[str, Any]:
    """The hello's ``resources["network"]`` for a node with these settings.

    >>> network_facts("20000-20009", None)
    {'ports': [20000, 20009], 'advertise_addr': None}
    """
    low, _, high = ports.partition("-")
    return {"ports": [int(low), int(high)], "advertise_addr": advertise_addr}
