"""One instance as its supervisor knows it, and how that is reported.

:class:`SupervisedInstance` is the state a
:class:`~symphony.node.process.supervisor.ProcessSupervisor` keeps of its instance: the
state (``starting``, ``running``, ...), the run being watched, how the last run ended,
its health, its restarts so far (the :class:`~.restart.RestartTracker`), and whether a
stop was asked. Everything that changes it says so through one door, :meth:`_set`,
which emits a :class:`~symphony.node.process.records.StatusUpdate`; :meth:`report`
gives the whole as an :class:`~symphony.node.process.records.InstanceReport`, and
:meth:`outcome` what the agent's own record keeps of it (see ``localstate``), which
:meth:`_restore` reads back when an instance is adopted. It also knows where the
instance lives on disk (:meth:`own_dir`, :meth:`work_dir`).

It is the base of the supervisor's two halves, starting a run (:mod:`.runstart`) and
watching one to its end (:mod:`.runwatch`); the actor itself (messages, the lifecycle
that strings runs together) is :mod:`.supervisor`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import trio

from symphony.wire import JobSpec

from .client import MonitorClient
from .devices import device_env
from .nodecontext import NodeContext
from .proctree import RUN_ID_ENV, Snapshot
from .records import (
    FINAL_STATES,
    Health,
    InstanceReport,
    ProcessState,
    StartRequest,
    StatusUpdate,
)
from .restart import RestartTracker
from .sampler import TreeSampler

#: The variables entering a job's named environment sets (see ``sources.envs``), all
#: an exec probe needs of it beside the job's own (never one holding a secret).
ENTERED_VARIABLES = ("PATH", "VIRTUAL_ENV")


def entered(
    before: Mapping[str, str], after: object, *, secret: Collection[str] = ()
) -> dict[str, str]:
    """What of :data:`ENTERED_VARIABLES` ``after`` (an environment, or a record read
    back: anything) sets differently from ``before``; never a name in ``secret`` (a
    spec may map ``PATH`` to a secret: its value must not reach the record on disk).

    >>> entered({"PATH": "/bin"}, {"PATH": "/env/bin:/bin", "HOME": "/root"})
    {'PATH': '/env/bin:/bin'}
    >>> entered({}, {"PATH": "s3cr3t"}, secret={"PATH": "path-secret"})
    {}
    """
    if not isinstance(after, Mapping):
        return {}
    return {
        k: v
        for k in ENTERED_VARIABLES
        if k not in secret and isinstance(v := after.get(k), str) and before.get(k) != v
    }


class SupervisedInstance:
    """The state of one supervised instance and its reports (see the module docstring).

    Cooperative: its ``__init__`` calls the next class's (the actor's) with no argument.
    """

    def __init__(
        self,
        *,
        request: StartRequest,
        spec: JobSpec,
        client: MonitorClient,
        node: NodeContext,
        emit: Callable[[StatusUpdate], None],
    ) -> None:
        super().__init__()
        self.request = request
        self.spec = spec
        self.client = client
        self.node = node
        self._emit = emit
        self.tracker = RestartTracker(spec.restart_policy, jitter=node.restart_jitter)
        self.state: ProcessState = "starting"
        self.current: dict[str, Any] | None = None
        self.exit_code: int | None = None
        self.signal: str | None = None
        self.reason: str | None = None
        self.health: Health | None = None
        self.finished_at: float | None = None  # wall clock end of the last run
        self.restart_at: float | None = None  # wall clock start of the next run (restarting)
        self._sampler: TreeSampler | None = None
        self._stop = trio.Event()
        # Set by a stop request too, while a run is watched without tasks (runwatch).
        self._wake = trio.Event()
        self._stopped_run: dict[str, Any] | None = None  # how the run a stop ended, ended
        self._sigkill_sent = False  # the current run's stop needed SIGKILL
        self._final_sent = False  # the last exit was reported as the final word
        # What the monitor started itself after the last run (see ``mirror``): the new
        # run's record, or why it could not be spawned.
        self._successor: dict[str, Any] | str | None = None
        # What entering the job's named environment changed of its variables (a venv's
        # PATH), for its health probes: an adopted run's is derived (_entered_again).
        self._entered: dict[str, str] = {}

    def _job_env(self, run_id: str) -> dict[str, str]:
        """The environment of the job's run ``run_id``: the node's, the spec's, the
        secrets, the ``SYMPHONY_*`` variables, the devices it holds."""
        request = self.request
        env = dict(self.node.base_env)
        env.update(self.spec.config.env)
        env.update(self._secret_values())
        env.update(
            SYMPHONY_DEPLOYMENT=request.deployment_id or "",
            SYMPHONY_INSTANCE=request.instance_id,
            SYMPHONY_NODE_ID=self.node.node_id,
            SYMPHONY_REPLICA="" if request.replica is None else str(request.replica),
        )
        # After the spec's env: a job cannot name devices it does not hold.
        env.update(device_env(request.devices, node_has_devices=bool(self.node.gpus)))
        env[RUN_ID_ENV] = run_id
        return env

    def _secret_values(self) -> dict[str, str]:
        """The values of the spec's secret variables that this node holds."""
        held = self.node.secrets.get(self.request.instance_id, {})
        return {name: held[name] for name in self.spec.config.secret_env or {} if name in held}

    def _missing_secrets(self) -> list[str]:
        """The spec's secret variables whose values this node does not hold (yet)."""
        held = self._secret_values()
        return sorted(name for name in self.spec.config.secret_env or {} if name not in held)

    def report(self, snapshot: Snapshot | None = None) -> InstanceReport:
        """The instance as it is now."""
        cpu, rss = 0.0, 0
        if snapshot is not None and self._sampler is not None and self.state == "running":
            cpu, rss = self._sampler.sample(snapshot)
        running = self.current is not None and self.state in ("running", "stopping")
        return InstanceReport(
            instance_id=self.request.instance_id,
            deployment_id=self.request.deployment_id,
            replica=self.request.replica,
            state=self.state,
            pid=self.current["pid"] if running and self.current else None,
            started_at=self.current.get("started_at") if running and self.current else None,
            run_id=self.current["run_id"] if self.current else None,
            restarts=self.tracker.restarts,
            exit_code=self.exit_code,
            signal=self.signal,
            reason=self.reason,
            health=self.health,
            cpu_percent=cpu,
            rss_bytes=rss,
            finished_at=self.finished_at if self.state in FINAL_STATES else None,
            restart_at=self.restart_at,
            devices=self.request.devices,
        )

    def outcome(self) -> dict[str, Any]:
        """How the last run ended, for the agent's own record (see ``localstate``)."""
        return {
            "exit_code": self.exit_code,
            "signal": self.signal,
            "reason": self.reason,
            "finished_at": self.finished_at,
            "restarts": self.tracker.restarts,
        }

    def own_dir(self) -> str:
        """The instance's own directory in the state dir (its code goes there)."""
        return os.path.join(self.node.state_dir, "work", self.request.instance_id)

    def work_dir(self) -> str:
        """The job's working directory: ``config.cwd``, or its own dir in the state dir.
        With code (``image``, ``git``), a relative ``cwd`` is inside its own dir."""
        config = self.spec.config
        if config.cwd:  # "" only in a spec stored before it was refused
            has_code = config.image is not None or config.git is not None
            # An absolute cwd stays absolute.
            base = self.own_dir() if has_code else self.node.state_dir
            return os.path.join(base, config.cwd)
        return self.own_dir()

    def _restore(self, outcome: dict[str, Any] | None) -> None:
        if not outcome:
            return
        code, name = outcome.get("exit_code"), outcome.get("signal")
        self.exit_code = code if isinstance(code, int) else None
        self.signal = name if isinstance(name, str) else None
        reason, finished = outcome.get("reason"), outcome.get("finished_at")
        self.reason = reason if isinstance(reason, str) else None
        self.finished_at = float(finished) if isinstance(finished, int | float) else None
        restarts = outcome.get("restarts")
        if isinstance(restarts, int) and restarts >= 0:
            self.tracker.restarts = restarts
        # Kept by the agents of an earlier release; this one derives it (_entered_again).
        secret = self.spec.config.secret_env or {}
        self._entered = entered({}, outcome.get("entered"), secret=secret)

    def _entered_again(self, run_id: str) -> dict[str, str]:
        """What entering its named environment changed of adopted run ``run_id``'s
        variables, made again from ``config.env_name`` (a venv under the node's envs
        directory: its ``bin`` first on PATH, ``VIRTUAL_ENV``; a conda env changes
        none). Derived at adoption, not kept: keeping it wrote a file at every first
        start of a venv job. A venv of that name made since the start is taken for it."""
        name, sources = self.spec.config.env_name, self.node.sources
        envs_dir = sources.envs_dir if sources is not None else None
        if name is None or not envs_dir:
            return {}
        path = os.path.abspath(os.path.join(envs_dir, name))
        if not os.path.isfile(os.path.join(path, "pyvenv.cfg")):
            return {}  # conda (run through ``conda run``, its checks are not), or gone
        from ..sources.envs import NamedEnv, in_env

        job = self._job_env(run_id)
        inside = in_env(NamedEnv(name, "venv", path), [], job)[1]
        return entered(job, inside, secret=self.spec.config.secret_env or {})

    def _set(self, state: ProcessState, **fields: Any) -> None:
        self.state = state
        self.restart_at = fields.get("restart_at") if state == "restarting" else None
        if "reason" in fields:
            self.reason = fields["reason"]
        run = self.current
        self._emit(
            StatusUpdate(
                instance_id=self.request.instance_id,
                deployment_id=self.request.deployment_id,
                state=state,
                at=time.time(),
                run_id=run["run_id"] if run else None,
                pid=run["pid"] if run and state in ("running", "stopping") else None,
                started_at=run.get("started_at")
                if run and state in ("running", "stopping")
                else None,
                restarts=self.tracker.restarts,
                health=self.health,
                devices=self.request.devices,
                **fields,
            )
        )
