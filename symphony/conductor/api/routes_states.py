"""``GET /states``: every instance and deployment state, and what each one means.

The web UI reads its state lists from here instead of keeping copies (which drift): the
instance states that are live, placed on a node (holding capacity there) or final, as
:mod:`symphony.wire.states` defines them. The same enums are in ``/openapi.json``
(``InstanceState``, ``DeploymentState``).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from symphony.wire.states import state_lists

states = Blueprint("states", __name__)


@states.get("/states")
async def get_states() -> dict[str, Any]:
    return state_lists()
