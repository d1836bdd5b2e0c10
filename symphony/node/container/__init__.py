"""Container jobs (``kind: docker`` and ``kind: podman``) through the runtime's command.

The node never talks to a daemon or an API: it runs the runtime's own command line,
the way a person would, so rootless podman works where there is no daemon at all.

- :mod:`.runtime`: which runtimes this node has (reported in the hello);
- :mod:`.argv`: the command lines (``run``, ``attach``), pure;
- :mod:`.control`: what runs beside a job (pull, ``image exists``, ``ps``, ``stop``);
- :mod:`.failure`: why a run failed when the runtime itself did (exit codes 125-127).

A container job is one run of ``<runtime> run --rm --name symph-<instance id> --label
symphony.instance=<id> ...`` under the node monitor, attached: its output goes to the
instance's log files and its exit code is the container's. Everything else (restart
policy, stop with ``<runtime> stop -t``, re-adoption) is the node's own, as for
``exec`` jobs (see ``docs/jobs.md``).
"""

from .argv import CONTAINER_KINDS, attach_argv, container_name, run_argv
from .control import ContainerError, find_container, prepare_image, remove_container, stop_container
from .runtime import detect_runtimes

__all__ = [
    "CONTAINER_KINDS",
    "ContainerError",
    "attach_argv",
    "container_name",
    "detect_runtimes",
    "find_container",
    "prepare_image",
    "remove_container",
    "run_argv",
    "stop_container",
]
