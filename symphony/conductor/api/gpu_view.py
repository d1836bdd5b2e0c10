"""Per-device GPU usage of a node, for ``GET /nodes`` and the web UI's live feed.

A node of protocol 4 lists its devices in its hello (``resources.gpu_devices``) and
reports which devices each instance got (``InstanceStatus.devices``, kept in the
instance's record). Joined here, every device shows the instance holding it::

    "gpu_devices": [
      {"id": "GPU-8f1c...", "index": 0, "uuid": "GPU-8f1c...", "name": "NVIDIA A100",
       "instance_id": "train-0-3fa9c1", "deployment_id": "d_5f0c2a9e1b7d4c38"},
      {"id": "GPU-2b7e...", "index": 1, ..., "instance_id": null, "deployment_id": null}]

An older node lists no devices: its list is empty. The holders come from a shared read
of the store at most :data:`HOLDERS_MAX_AGE` old, and only when some node lists devices:
a cluster without GPUs pays nothing, and many clients polling ``GET /nodes`` share one read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from symphony.wire.states import holds_capacity

from ..nodes.model import NodeView
from ..store import InstanceRecord
from .snapshots import Snapshot

if TYPE_CHECKING:
    from .context import ApiContext

#: (node id, device id) -> the placed instance holding that device.
Holders = Mapping[tuple[str, str], InstanceRecord]
#: How old the read of the store behind a node's device holders may be (seconds).
HOLDERS_MAX_AGE = 1.0


async def holders_of(ctx: ApiContext, views: Iterable[NodeView]) -> Holders:
    """The device holders for a listing of ``views`` (``{}`` if none lists a device)."""
    if not any(view.resources.get("gpu_devices") for view in views):
        return {}
    return device_holders(await ctx.shared_reads().recent(max_age=HOLDERS_MAX_AGE))


def device_holders(snapshot: Snapshot) -> dict[tuple[str, str], InstanceRecord]:
    """Who holds which device: the instances of a shared read of the store (so that
    many clients cost one read) that are placed on a node and have not ended."""
    return {
        (inst.node_id, device): inst
        for record in snapshot.records
        for inst in snapshot.instances(record.id)
        if inst.devices and inst.node_id is not None and holds_capacity(inst.state)
        for device in inst.devices
    }


def gpu_devices(view: NodeView, holders: Holders) -> list[dict[str, Any]]:
    """Each device the node listed, with the instance holding it (``None``: free)."""
    out = []
    listed = view.resources.get("gpu_devices")
    for entry in listed if isinstance(listed, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue  # the wire checked it is JSON; its shape is the node's word only
        holder = holders.get((view.node_id, entry["id"]))
        out.append(
            {
                "id": entry["id"],
                "index": entry.get("index") if isinstance(entry.get("index"), int) else None,
                "uuid": entry.get("uuid") if isinstance(entry.get("uuid"), str) else None,
                "name": entry.get("name") if isinstance(entry.get("name"), str) else None,
                "instance_id": holder.id if holder else None,
                "deployment_id": holder.deployment_id if holder else None,
            }
        )
    return out
