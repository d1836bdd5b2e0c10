"""Starting one run of an instance: what it starts with, and the spawn.

:class:`RunStarter` is the half of a
:class:`~symphony.node.process.supervisor.ProcessSupervisor` that starts a new run
(:meth:`RunStarter._start_run`): it checks what the run needs before anything is
spawned (the secret values the Conductor sent, the experiment's fixed ports free),
puts the job's code in place and enters its environment (``config.image``, ``git``,
``env_name``, through the node's ``SourcePreparer``), builds a container's command
(pulling its image), and asks the node monitor to spawn the run with its environment
(``_job_env``: the node's, the spec's, the secrets, the ``SYMPHONY_*``
variables, the devices it holds), its working directory (``work_dir``)
and the restart rule the monitor applies when it ends on its own.

A run that cannot start is not an error here: the restart policy decides on it as on a
failed run (``spawn error: ...``). A stop that comes while the code is fetched or an
image pulled ends the start with nothing spawned. Watching the run once spawned is
:mod:`.runwatch`.
"""

from __future__ import annotations

import os
from typing import Any

import trio

from ..container import CONTAINER_KINDS, ContainerError
from ..container.launch import container_command, unless_stopped
from ..ports import ports_taken
from .client import MonitorError, MonitorLost
from .mirror import restart_plan
from .proctree import RUN_ID_ENV
from .restart import Decision
from .supervised import SupervisedInstance, entered


class RunStarter(SupervisedInstance):
    """Starts the runs of one instance (see the module docstring)."""

    async def _with_sources(
        self, command: list[str], env: dict[str, str]
    ) -> tuple[list[str], dict[str, str]]:
        """Put the job's code in place (once per instance) and enter its environment;
        raises SourceError with the reason."""
        from ..sources.envs import in_env
        from ..sources.prepare import SourceError

        config, sources = self.spec.config, self.node.sources
        if sources is None:
            raise SourceError("this node was started without a source cache")

        def say(text: str) -> None:
            self._set("starting", reason=text)

        await sources.prepare(config, self.own_dir(), say)
        if config.env_name is not None:
            return in_env(await sources.env(config.env_name), command, env)
        return command, env

    async def _start_run(self) -> dict[str, Any] | Decision | None:
        """Start a new run: its record once the monitor spawned it, else the decision on
        why it could not start (None: a stop came first, nothing was started)."""
        self.current = None
        self.health = None
        self._set("starting")
        # 48 random bits, as uuid4().hex[:12] gave (uuid would stay resident in the agent)
        run_id = f"{self.request.instance_id}.{os.urandom(6).hex()}"
        cwd = self.work_dir()
        spec = self.spec
        missing = self._missing_secrets()
        if missing:
            # After an agent restart the values come again from the Conductor: until
            # then a run cannot start (the restart policy's backoff retries it).
            reason = f"spawn error: waiting for the secret value of {', '.join(missing)}"
            self.reason = reason
            return self.tracker.decide(
                failed=True, runtime=0.0, now=trio.current_time(), reason=reason, spawn_error=True
            )
        taken = ports_taken(spec.experiment, spec.config.env) if spec.experiment else None
        if taken is not None:
            self.reason = taken.reason
            if taken.allocated:  # the same port again at every restart: placed anew instead
                return Decision(restart=False, state="failed", reason=taken.reason)
            return self.tracker.decide(
                failed=True,
                runtime=0.0,
                now=trio.current_time(),
                reason=taken.reason,
                spawn_error=True,
            )
        command, env = list(spec.config.command), self._job_env(run_id)
        if spec.kind == "exec" and spec.config.needs_sources:  # a container's image is no source
            from ..sources.prepare import SourceError

            try:
                prepared = await unless_stopped(self._stop, self._with_sources, command, env)
            except SourceError as error:
                self.reason = f"source: {error}"
                return Decision(restart=False, state="failed", reason=self.reason)
            if prepared is None or self._stop.is_set():
                return None  # stopped while its code was being fetched: nothing ran
            # What entering its environment changed (a venv's PATH): its probes get it too.
            secret = spec.config.secret_env or {}
            self._entered = entered(env, prepared[1], secret=secret)
            command, env = prepared
        if not self.spec.config.cwd:
            os.makedirs(cwd, mode=0o700, exist_ok=True)
        try:
            if spec.kind in CONTAINER_KINDS:  # the runtime's client is the job's process
                argv = await unless_stopped(
                    self._stop,
                    container_command,
                    spec,
                    runtimes=self.node.container_runtimes,
                    instance_id=self.request.instance_id,
                    workdir=cwd,
                    env=env,
                    base_env=self.node.base_env,
                    private=(RUN_ID_ENV,),
                    progress=self._progress,
                    devices=self.request.devices,
                )
                if argv is None:  # a stop came during the pull: nothing was started
                    return None
                command = argv
            reply = await self.client.request(
                "spawn",
                run_id=run_id,
                instance_id=self.request.instance_id,
                command=command,
                env=env,
                cwd=cwd,
                log_max_bytes=spec.log_max_bytes,
                log_backups=spec.log_backups,
                grace=spec.stop_timeout_seconds,
                # The devices go in the run record too: the monitor keeps it while the
                # run lives, whatever becomes of the agent.
                meta={
                    "instance_id": self.request.instance_id,
                    "devices": list(self.request.devices),
                },
                mask=list(self._secret_values().values()),
                restart=restart_plan(
                    spec, self.tracker, jitter=self.node.restart_jitter, now=trio.current_time()
                ),
            )
        except MonitorLost:
            raise  # not this job's fault: let the process layer restart and re-adopt
        except (MonitorError, ContainerError) as error:
            reason = f"spawn error: {error}"
            self.reason = reason
            return self.tracker.decide(
                failed=True, runtime=0.0, now=trio.current_time(), reason=reason, spawn_error=True
            )
        run: dict[str, Any] = reply["run"]
        return run

    def _progress(self, text: str) -> None:
        """News while a run is prepared (an image pull): a ``starting`` update."""
        self._set("starting", reason=text)
