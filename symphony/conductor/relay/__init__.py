"""The Conductor's relay: visits, port forwards and tunnels between nodes.

Nodes connect outbound only; a service behind NAT is reached over a relayed stream that
its node opens to the Conductor on request (:mod:`symphony.wire.relay`). :mod:`.hub`
opens and serves those streams, :mod:`.services` finds which node and port serve a
name, :mod:`.table` counts what ``GET /tunnels`` lists.
"""

from .hub import RelayHub
from .services import RelayError, Target, find_service
from .table import RelayTable

__all__ = ["RelayError", "RelayHub", "RelayTable", "Target", "find_service"]
