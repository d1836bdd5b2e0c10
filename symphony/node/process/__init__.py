"""The node's process layer: ``exec`` jobs as plain processes that outlive the agent.

Vocabulary (see ``docs/jobs.md`` for the user's view):

- **instance**: one replica of a deployment placed on this node; supervised by one
  :class:`ProcessSupervisor` actor.
- **run**: one execution of an instance's command (a restart is a new run).
- **monitor**: one small process per node (``monitor_server``) that spawns, owns and
  reaps every job (their output copied by logger processes, each serving up to 32
  runs: ``joblogger``, ``logpool``) and records their exits durably; the agent talks to
  it over a unix socket and can die and come back without disturbing a job.
- **members** of a run: every live process of its tree, wherever it moved (other
  process groups, sessions, orphans re-parented to the monitor): ``membership``.

The node's link uses :class:`ProcessManager`. Public names are loaded lazily so that the
monitor process, which imports a module of this package, does not pay for Trio.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported: the monitor imports this package
if TYPE_CHECKING:
    from typing import Any


if TYPE_CHECKING:
    from .client import MonitorError, MonitorLost, monitor_alive, monitor_gone, stop_monitor
    from .manager import InstanceExists, ProcessManager, UnknownInstance
    from .nodecontext import NodeContext
    from .records import InstanceReport, StartRequest, StatusUpdate
    from .supervisor import GetReport, ProcessSupervisor, StopInstance

_EXPORTS = {
    "MonitorError": "client",
    "MonitorLost": "client",
    "monitor_alive": "client",
    "monitor_gone": "client",
    "stop_monitor": "client",
    "InstanceExists": "manager",
    "ProcessManager": "manager",
    "UnknownInstance": "manager",
    "InstanceReport": "records",
    "StartRequest": "records",
    "StatusUpdate": "records",
    "GetReport": "supervisor",
    "NodeContext": "nodecontext",
    "ProcessSupervisor": "supervisor",
    "StopInstance": "supervisor",
}
__all__ = [
    "GetReport",
    "InstanceExists",
    "InstanceReport",
    "MonitorError",
    "MonitorLost",
    "NodeContext",
    "ProcessManager",
    "ProcessSupervisor",
    "StartRequest",
    "StatusUpdate",
    "StopInstance",
    "UnknownInstance",
    "monitor_alive",
    "monitor_gone",
    "stop_monitor",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module_name}", __name__), name)
