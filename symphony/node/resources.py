"""ResourceMonitor: what this machine has (static) and how busy it is (usage).

CPU, RAM and disks come from psutil; GPUs from NVML (``nvidia-ml-py``). A machine with no
GPU, or no NVML library, reports ``gpus: []``: that is a normal machine, not an error.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from symphony.actors import Actor

from .gpus import LIBRARY_NOT_FOUND, load_nvml

log = logging.getLogger("symphony.node.resources")


class Gpus:
    """NVML access that degrades to "no GPUs" when NVML is absent or fails."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[Any] = []
        try:
            pynvml = load_nvml()
            if pynvml is None:
                log.debug("no GPUs: NVML unavailable (%s)", LIBRARY_NOT_FOUND)
                return
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._nvml = pynvml
            log.info("NVML found %d GPU(s)", count)
        except ImportError:
            # Said once, at info, by the node's device discovery (symphony.node.gpus).
            log.debug("nvidia-ml-py not installed: reporting no GPUs")
        except Exception as error:  # pynvml.NVMLError and friends: no driver, no GPU
            log.debug("no GPUs: NVML unavailable (%s)", type(error).__name__)

    def static(self) -> list[dict[str, Any]]:
        """Name, UUID and memory of each GPU."""
        out = []
        for index, handle in enumerate(self._handles):
            try:
                memory = self._nvml.nvmlDeviceGetMemoryInfo(handle)
                out.append(
                    {
                        "index": index,
                        "name": _text(self._nvml.nvmlDeviceGetName(handle)),
                        "uuid": _text(self._nvml.nvmlDeviceGetUUID(handle)),
                        "memory_total": int(memory.total),
                    }
                )
            except Exception as error:  # one GPU failing must not hide the others
                log.warning("GPU %d: %s", index, error)
        return out

    def usage(self) -> list[dict[str, Any]]:
        """Utilization, memory, temperature and power of each GPU."""
        nvml, out = self._nvml, []
        for index, handle in enumerate(self._handles):
            entry: dict[str, Any] = {"index": index}
            for key, read in (
                ("utilization_percent", lambda h: nvml.nvmlDeviceGetUtilizationRates(h).gpu),
                ("memory_used", lambda h: int(nvml.nvmlDeviceGetMemoryInfo(h).used)),
                ("memory_total", lambda h: int(nvml.nvmlDeviceGetMemoryInfo(h).total)),
                ("temperature_c", lambda h: nvml.nvmlDeviceGetTemperature(h, 0)),
                ("power_watts", lambda h: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0),
            ):
                try:
                    entry[key] = read(handle)
                except Exception:  # not every GPU supports every reading
                    entry[key] = None
            out.append(entry)
        return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class GetStatic:
    """Ask: the node's static facts (:meth:`ResourceMonitor.static`), for the hello."""


@dataclass(frozen=True, slots=True)
class GetUsage:
    """Ask: the node's current load (:meth:`ResourceMonitor.usage`), for a heartbeat."""


class ResourceMonitor(Actor):
    """Answers ``"static"`` and ``"usage"`` asks with plain dicts (wire-ready).

    Args:
        disk_paths: the paths whose file systems are reported (the state dir, ``/``).
        devices: the GPU devices the node hands out (``symphony.node.gpus``), listed in
            the static facts as ``gpu_devices``.
    """

    def __init__(
        self, *, disk_paths: tuple[Path, ...] = (Path("/"),), devices: tuple[Any, ...] = ()
    ) -> None:
        super().__init__()
        self.disk_paths = disk_paths
        self.devices = devices
        self.gpus: Gpus | None = None

    async def on_start(self) -> None:
        self.gpus = Gpus()
        # cpu_percent() measures since the previous call: prime it so the first
        # heartbeat carries a real figure instead of 0.0.
        psutil.cpu_percent(interval=None)
        psutil.cpu_percent(interval=None, percpu=True)

    async def receive(self, message: Any) -> Any:
        if isinstance(message, GetStatic):
            return self.static()
        if isinstance(message, GetUsage):
            return self.usage()
        raise TypeError(f"ResourceMonitor does not handle {message!r}")

    def static(self) -> dict[str, Any]:
        """Facts that do not change while the node runs."""
        assert self.gpus is not None
        return {
            "cpu_count": os.cpu_count() or 1,
            "ram_total": psutil.virtual_memory().total,
            "disks": [{"path": str(p), "total": _disk(p)["total"]} for p in self.disk_paths],
            "gpus": self.gpus.static(),
            "gpu_devices": [device.to_json() for device in self.devices],
            "hostname": os.uname().nodename,
        }

    def usage(self) -> dict[str, Any]:
        """Current load: CPU total and per core, RAM, disks, GPUs."""
        assert self.gpus is not None
        memory = psutil.virtual_memory()
        return {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "per_core": psutil.cpu_percent(interval=None, percpu=True),
            "ram_used": memory.total - memory.available,
            "ram_total": memory.total,
            "disks": [{"path": str(p), **_disk(p)} for p in self.disk_paths],
            "gpus": self.gpus.usage(),
        }


def _disk(path: Path) -> dict[str, int]:
    try:
        usage = psutil.disk_usage(str(path))
    except OSError:
        return {"total": 0, "used": 0}
    return {"total": usage.total, "used": usage.used}
