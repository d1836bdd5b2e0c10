"""The node's GPU devices: declared in ``node.gpus``, or found by NVML.

A device is what one instance may hold to itself. Its ``id`` is the word a job's
``CUDA_VISIBLE_DEVICES`` gets: the GPU's UUID when NVML found it (NVML numbers GPUs in
PCI order, CUDA by speed unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``: an index could name
another GPU), the declared id otherwise::

    >>> [d.id for d in declared_devices(("0", "1"))]
    ['0', '1']

Discovery never fails: no ``nvidia-ml-py``, no driver, or NVML failing halfway all mean
"this node has no GPUs", said once in the log.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("symphony.node.gpus")

__all__ = ["GpuDevice", "declared_devices", "discover_devices", "load_nvml", "node_devices"]

#: What ``pynvml.nvmlInit`` loads on Linux.
NVML_LIBRARY = "libnvidia-ml.so.1"
#: The name of pynvml's error for a missing library, as the logs say it.
LIBRARY_NOT_FOUND = "NVMLError_LibraryNotFound"


@dataclass(frozen=True, slots=True)
class GpuDevice:
    """One GPU of this node: ``id`` (what jobs see), its ``index`` here, and what NVML
    says of it (``uuid`` and ``name``; ``None`` for a declared device)."""

    id: str
    index: int
    uuid: str | None = None
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain data for the hello's ``resources.gpu_devices``."""
        return {"id": self.id, "index": self.index, "uuid": self.uuid, "name": self.name}


def declared_devices(ids: Iterable[str]) -> tuple[GpuDevice, ...]:
    """Devices from ``node.gpus`` (already validated: distinct, no commas)."""
    return tuple(GpuDevice(id=str(gpu_id), index=i) for i, gpu_id in enumerate(ids))


def discover_devices(nvml: Any = None) -> tuple[GpuDevice, ...]:
    """The GPUs NVML reports, by UUID; ``()`` when NVML is absent or fails.

    ``nvml`` is the ``pynvml`` module (imported here when ``None``): tests pass a
    stand-in for the library, the one part of this that needs a real GPU.
    """
    if nvml is None:
        try:
            nvml = load_nvml()
        except ImportError:
            log.info("no GPUs: nvidia-ml-py is not installed")
            return ()
        if nvml is None:
            log.info("no GPUs: NVML unavailable (%s)", LIBRARY_NOT_FOUND)
            return ()
    try:
        nvml.nvmlInit()
    except Exception as error:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        log.info("no GPUs: NVML unavailable (%s)", type(error).__name__)
        return ()
    try:
        devices = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            name = None
            with contextlib.suppress(Exception):  # a name is nice to have, not needed
                name = _text(nvml.nvmlDeviceGetName(handle))
            devices.append(GpuDevice(id=uuid, index=index, uuid=uuid, name=name))
    except Exception as error:
        # Half a list would hand out devices whose neighbours nobody tracks: none at all.
        log.warning("no GPUs: NVML failed while listing them (%s: %s)", type(error).__name__, error)
        return ()
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    log.info("NVML found %d GPU(s): %s", len(devices), ", ".join(d.id for d in devices) or "-")
    return tuple(devices)


def load_nvml() -> Any:
    """The ``pynvml`` module, or ``None`` where its library cannot be loaded (where
    ``nvmlInit`` would fail with ``NVMLError_LibraryNotFound``); ``ImportError`` when
    nvidia-ml-py is not installed.

    The library is tried first, the way ``nvmlInit`` loads it: ``pynvml`` is a large
    module (about 1.7 MiB resident) that a machine without NVIDIA's driver would keep
    for nothing.
    """
    if importlib.util.find_spec("pynvml") is None:
        raise ImportError("nvidia-ml-py is not installed")
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(NVML_LIBRARY)
        except OSError:
            return None
    import pynvml

    return pynvml


def node_devices(declared: Iterable[str] | None, nvml: Any = None) -> tuple[GpuDevice, ...]:
    """The node's devices: the declared list if there is one (``[]``: none), else NVML's."""
    if declared is not None:
        return declared_devices(declared)
    return discover_devices(nvml)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
