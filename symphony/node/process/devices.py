"""Which instance holds which GPU device on this node: the :class:`DeviceLedger`.

The Conductor counts a node's ``gpu`` capacity (one per device) and never places more
than that; the node picks the concrete devices. An instance asking ``gpu: k`` takes k
free devices when it starts, keeps them across its restarts, and gives them back when
it ends for good (a final exit or failure) or is stopped. A device is never held by two
instances: :meth:`DeviceLedger.take` refuses rather than share.

The devices an instance holds are in its start record (and in the run records of its
runs), so an agent that restarts hands the same devices back to the instances it
re-adopts (:meth:`DeviceLedger.hold`) before it starts anything new.

    >>> ledger = DeviceLedger(("0", "1", "2"))
    >>> ledger.take("web-0", 2), ledger.take("web-1", 1)
    (('0', '1'), ('2',))
    >>> ledger.release("web-0"); ledger.take("web-2", 1)
    ('0',)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from symphony.errors import SymphonyError

log = logging.getLogger(__name__)


def run_devices(run: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The devices a run record says its job was started with (``None``: it does not say)."""
    meta = run.get("meta")
    devices = meta.get("devices") if isinstance(meta, dict) else None
    if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
        return None
    return tuple(devices)


#: The environment variables that name a job's devices (CUDA, and the NVIDIA container
#: runtime for a job that starts containers).
DEVICE_ENV = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")


class NotEnoughDevices(SymphonyError, ValueError):
    """Fewer free devices than an instance asks for (the message says who holds them)."""


class DeviceLedger:
    """The node's devices (ids, in order) and who holds each; see the module docstring."""

    def __init__(self, devices: Iterable[str] = ()) -> None:
        self.devices: tuple[str, ...] = tuple(devices)
        self._holder: dict[str, str] = {}  # device id -> instance id
        self._held: dict[str, tuple[str, ...]] = {}  # instance id -> its devices

    def take(self, instance_id: str, count: int) -> tuple[str, ...]:
        """``count`` free devices for ``instance_id`` (the lowest first), or
        :class:`NotEnoughDevices`. An instance that holds devices already keeps them."""
        if instance_id in self._held:
            return self._held[instance_id]
        if count <= 0:
            return ()
        free = [d for d in self.devices if d not in self._holder]
        if len(free) < count:
            raise NotEnoughDevices(
                f"asks for {count} GPU(s), {len(free)} of {len(self.devices)} free on this "
                f"node ({self._describe_holders()})"
            )
        chosen = tuple(free[:count])
        self._assign(instance_id, chosen)
        return chosen

    def hold(self, instance_id: str, devices: Iterable[str]) -> tuple[str, ...]:
        """Give a re-adopted instance back the devices it recorded; returns those it got.

        A device this node no longer lists (the configuration changed) is still marked
        held, so nothing new is put on it while the old job may use it. A device held by
        another instance stays with it (logged): two records claiming one device can
        only come from a damaged state directory.
        """
        if instance_id in self._held:
            return self._held[instance_id]
        mine = []
        for device in devices:
            owner = self._holder.get(device)
            if owner is not None and owner != instance_id:
                log.warning(
                    "GPU %s is recorded for both %s and %s; it stays with %s",
                    device,
                    owner,
                    instance_id,
                    owner,
                )
                continue
            if device not in self.devices:
                log.warning("%s holds GPU %s, which this node no longer lists", instance_id, device)
            mine.append(device)
        self._assign(instance_id, tuple(mine))
        return tuple(mine)

    def release(self, instance_id: str) -> None:
        """The instance ended or was stopped: its devices are free again."""
        for device in self._held.pop(instance_id, ()):
            self._holder.pop(device, None)

    def held_by(self, instance_id: str) -> tuple[str, ...]:
        """The devices ``instance_id`` holds (``()``: none)."""
        return self._held.get(instance_id, ())

    def holders(self) -> Mapping[str, str]:
        """Device id -> the instance holding it (free devices are absent)."""
        return dict(self._holder)

    def _assign(self, instance_id: str, devices: tuple[str, ...]) -> None:
        if devices:
            self._held[instance_id] = devices
            for device in devices:
                self._holder[device] = instance_id

    def _describe_holders(self) -> str:
        if not self._holder:
            return "none held"
        return "held: " + ", ".join(f"{d} by {i}" for d, i in self._holder.items())


def device_env(devices: tuple[str, ...], *, node_has_devices: bool) -> dict[str, str]:
    """The variables that show a job its devices, and only them.

    A job on a node with GPUs that asked for none gets ``CUDA_VISIBLE_DEVICES=""`` (CUDA
    then sees no device) and ``NVIDIA_VISIBLE_DEVICES=none``: it must not use a GPU
    another instance holds. On a node without GPUs nothing is set.
    """
    if devices:
        joined = ",".join(devices)
        return dict.fromkeys(DEVICE_ENV, joined)
    if node_has_devices:
        return {"CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "none"}
    return {}
