"""Deployments on the Conductor: the Scheduler, one DeploymentSupervisor per deployment,
and the Deployments manager that creates, changes and deletes them.

Vocabulary: an **instance** is one incarnation of one replica of a deployment; it is
``live`` until it ends for good (``finished_at`` set), and holds capacity on a node from
placement until then. A rescheduled replica gets a new instance (a new id), so a stale
copy on a returning node is recognised by its id.
"""

from .events import EventLog
from .manager import Deployments, Failed
from .messages import (
    CapacityUsage,
    CreateDeployment,
    CreateDeployments,
    DeleteDeployment,
    SchedulerStats,
    UpdateDeployment,
)
from .scheduler import Scheduler
from .supervisor import DeploymentSupervisor

__all__ = [
    "CapacityUsage",
    "CreateDeployment",
    "CreateDeployments",
    "DeleteDeployment",
    "DeploymentSupervisor",
    "Deployments",
    "EventLog",
    "Failed",
    "Scheduler",
    "SchedulerStats",
    "UpdateDeployment",
]
