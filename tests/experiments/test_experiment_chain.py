"""A move at the head of a chain of connects reaches its end (real Conductor and nodes).

``end`` connects to ``mid``, ``mid`` connects to ``srv``. Draining ``srv``'s node moves
it; ``mid`` is restarted to reconnect and lands back at its node and port, so ``end``
(never restarted) still has ``mid``'s right address. Before ports stuck to their names
``mid``'s restart took the next port of the range and ``end`` kept the old one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..deployments.helpers import eventually
from ..deployments.test_failures import ports
from .move_helpers import experiment, proc, started, two_nodes, until

__all__ = ["ports"]


async def test_a_move_restarts_the_next_link_of_a_chain_at_its_old_address(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    async with two_nodes(tmp_path, ports, "exp-chain") as (_nodes, api, out, marker):
        # srv (5 of 10) on one node; group g (mid 5, end nothing) on the other.
        end = proc("end", out, marker, reads="SYMPH_MID_ADDR", connects="mid", capacity_requests={})
        mid = proc("mid", out, marker, reads="SYMPH_SRV_ADDR", binds="mid", connects="srv")
        first = await started(
            api,
            {
                "name": "ch",
                "processes": [proc("srv", out, marker, reads="SYMPH_SRV_ADDR", binds="srv")],
                "process_groups": [{"name": "g", "processes": [mid, end]}],
            },
        )
        srv_node = first["srv"]["node_id"]
        assert first["mid"]["node_id"] != srv_node

        async def written() -> bool:
            return all((out / n).exists() for n in ("mid", "end"))

        await eventually(written, timeout=20)
        mid_port = first["mid"]["ports"]["mid"]
        assert (out / "end").read_text().endswith(f":{mid_port}")
        mid_wrote = (out / "mid").read_text()
        response = await api.http.post(f"/nodes/{srv_node}/drain")
        assert response.status_code == 200, response.text

        async def settled() -> dict[str, Any] | None:
            e = await experiment(api, "ch")
            p = {x["name"]: x for x in e["processes"]}
            moved = p["srv"]["node_id"] not in (None, srv_node) and e["state"] == "running"
            restarted = p["mid"]["pid"] not in (None, first["mid"]["pid"])
            rewritten = (out / "mid").read_text() != mid_wrote
            return p if moved and restarted and rewritten else None

        now = await until(api, "ch", settled)
        # mid is back at its node and port: end, not restarted, still reaches it.
        assert now["mid"]["node_id"] == first["mid"]["node_id"]
        assert now["mid"]["ports"]["mid"] == mid_port, now
        assert now["end"]["pid"] == first["end"]["pid"]
        assert (out / "mid").read_text().endswith(f":{now['srv']['ports']['srv']}")
