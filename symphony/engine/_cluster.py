"""Clusters: where experiments are launched, listed and deleted.

    from symphony.engine import Cluster

    cluster = Cluster.new("symphony")          # the Conductor the CLI would find
    cluster = Cluster.new("symphony", url="https://conductor:8000", token="...")
    cluster = Cluster.new("local")             # `symphony up` here, else one in-process

    exp = cluster.new_experiment("rl")
    exp.new_process("learner", cmds=["python learner.py"]).binds("parameter-server")
    cluster.launch(exp)
    cluster.list_experiments()                 # ['rl']
    cluster.delete("rl")

A script written for the seed's ``tmux`` or ``kube`` backends ports by changing the name
given to :meth:`Cluster.new`. Every call is one HTTP request to the Conductor through
:class:`symphony.client.Client`, whose errors it raises (``ApiError``,
``ConductorUnreachable``).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._builder import ExperimentSpec
from ._config import SymphonyConfig
from ._current import get_current, set_current
from ._errors import EngineError, ExperimentExists

if TYPE_CHECKING:
    from symphony.client import Client

    from ._embedded import Embedded

#: The backends :meth:`Cluster.new` knows, and what the seed's others become.
KINDS = ("symphony", "local")


class Cluster:
    """A Conductor to launch experiments on; make one with :meth:`Cluster.new`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.client.url!r})"

    @staticmethod
    def new(kind: str, **kwargs: Any) -> Cluster:
        """``'symphony'``: the Conductor found as the CLI finds it (``url=``, ``token=``,
        ``state_dir=``); ``'local'``: ``symphony up`` running in this directory, else an
        embedded Conductor and node (``state_dir=``, ``capacities=``, ``ports=`` its
        node's range for experiments' ports, as ``symphony up --ports``)."""
        if kind == "symphony":
            return SymphonyCluster(**kwargs)
        if kind == "local":
            return LocalCluster(**kwargs)
        raise EngineError(
            f"no cluster kind {kind!r}: Symphony runs experiments with 'symphony' (a "
            "Conductor and its nodes) or 'local' (this machine); the seed's 'tmux' and "
            "'kube' backends port by using one of these names"
        )

    # ---- experiments ---------------------------------------------------------------------
    def new_experiment(self, name: str, **fields: Any) -> ExperimentSpec:
        """A new experiment to declare; ``name`` gets the configured user name's prefix."""
        return ExperimentSpec(SymphonyConfig().experiment_name(name), **fields)

    def launch(
        self, experiment: ExperimentSpec, *, force: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        """Check ``experiment`` with the Conductor's rules (a connect to a name nothing
        binds raises :class:`~symphony.spec.SpecError` here, before anything runs), then
        submit it whole; returns the experiment as the Conductor answers it.

        An experiment of that name on the Conductor, or saved in the experiment folder,
        raises :class:`ExperimentExists` unless ``force``, which deletes the old one
        first. ``dry_run``: only check, and return the spec that would be submitted.
        It becomes the current experiment of ``symphony p`` and ``symphony logs``.
        """
        spec = experiment.dump_dict()
        experiment.validate()
        if dry_run:
            return spec
        config = SymphonyConfig()
        saved = config.saved_spec(experiment.name)
        if saved is not None and saved.exists() and not force:
            config.save(experiment.name, spec, force=False)  # raises, naming the file
        if self.exists(experiment.name):
            if not force:
                raise ExperimentExists(
                    f"experiment {experiment.name!r} exists on the Conductor at "
                    f"{self.client.url}; delete it, or launch with force=True to replace it"
                )
            self.delete(experiment.name)
        created = self.client.create_experiment(spec)
        config.save(experiment.name, spec, force=True)
        self.switch_experiment(experiment.name)
        return created

    def exists(self, name: str) -> bool:
        from symphony.client import ApiError

        try:
            self.client.get_experiment(name)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def list_experiments(self) -> list[str]:
        """The names of every experiment on the Conductor."""
        return [str(e.get("name")) for e in self.client.list_experiments()]

    def get_experiment(self, name: str) -> dict[str, Any]:
        """One experiment: its state and its processes (group, node, ports, restarts)."""
        return self.client.get_experiment(name)

    def delete(self, name: str) -> dict[str, Any]:
        """Stop every process of experiment ``name``, then delete them and it."""
        return self.client.delete_experiment(name)

    def current_experiment(self) -> str | None:
        """The experiment ``symphony p`` and ``symphony logs`` show when none is named:
        the last one launched or switched to (``symphony se``) on this Conductor."""
        return get_current(self.client.url, self.client.located.state_dir)

    def switch_experiment(self, name: str | None) -> None:
        """Make ``name`` the current experiment (``None``: none is)."""
        set_current(self.client.url, name, self.client.located.state_dir)

    def wait_running(self, name: str, timeout: float = 60.0) -> dict[str, Any]:
        """Block until experiment ``name`` runs whole, by ``symphony deploy --wait``'s
        rule: every process's run seen at two looks at least a second apart (the same
        run, healthy if it has a health check), looking every ``POLL`` (0.5 s). What it
        judges starts at its first look that shows the experiment running: a run that
        failed after that look fails the wait, one that failed before it is history.
        Returns the experiment; raises ``TimeoutError`` with the reason otherwise, at
        once when it cannot run whole: a process ``failed``, one ended that its restart
        policy starts no more, or one's run failed and is being restarted (a crash loop)."""
        from symphony.client.settle import POLL, Steady, progress, runs

        deadline = time.monotonic() + timeout
        steady = Steady()
        # What the wait judges is what happens after its first look at the processes:
        # runs that failed before (a process rescheduled last week) are history, and
        # restarts count past those that look saw (a crash loop goes on restarting).
        since: float | None = None
        restarts: dict[str, int] = {}
        while True:
            found = self.client.get_experiment(name)
            failure = None
            if found.get("state") == "running":
                looks = self._process_deployments(name, found)
                seen = [i for d in looks for i in d.get("instances") or []]
                for inst in seen:
                    restarts.setdefault(str(inst.get("id")), int(inst.get("restarts") or 0))
                if since is None:
                    stamps = [found.get("updated_at"), *(i.get("updated_at") for i in seen)]
                    # Just after the newest (the Conductor's clock): "since" counts ends at it.
                    since = max((float(s) for s in stamps if s is not None), default=0.0) + 1e-6
                outcomes = [progress(d, since, restarts) for d in looks]
                failure = next((text for text, *_, how in outcomes if how == "failed"), None)
                ran = {run for d in looks for run in runs(d)}
                whole = len(looks) == len(found.get("processes") or [])
                if whole and failure is None and all(how in ("up", "done") for *_, how in outcomes):
                    if steady.lasted(ran, time.monotonic()):
                        return found
                else:
                    steady.reset()
            else:
                steady.reset()
            ended = any(p.get("state") == "exited" for p in found.get("processes") or [])
            if failure or found.get("state") == "failed" or ended or time.monotonic() > deadline:
                why = failure or f"{found.get('state')}: {found.get('reason')}"
                raise TimeoutError(f"experiment {name!r} is {why}")
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))

    def _process_deployments(self, name: str, found: dict[str, Any]) -> list[dict[str, Any]]:
        """The deployments of experiment ``name``'s processes (named ``<name>.<process>``):
        one listing by name prefix where the listing's filter takes the name (letters,
        digits, '-'), else one request each."""
        ids = [str(p.get("deployment_id")) for p in found.get("processes") or []]
        if re.fullmatch(r"[a-z0-9-]{1,63}", name):
            listed = self.client.list_deployments(name=name)
            return [d for d in listed if d.get("id") in set(ids)]
        return [self.client.get_deployment(each) for each in ids]

    # ---- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """Let go of the cluster (an embedded Conductor stops, with its jobs)."""

    def wait(self) -> None:
        """Keep this process (and an embedded Conductor) alive until Ctrl-C or SIGTERM;
        at once when there is no embedded Conductor (nothing here to keep alive)."""

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SymphonyCluster(Cluster):
    """A Conductor found as the CLI finds it: ``url`` > ``$SYMPHONY_URL`` > the state
    directory's ``conductor.json`` (``./.symphony`` or a parent's) > 127.0.0.1:8000."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        state_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        from symphony.client import Client

        super().__init__(Client(url, token, state_dir=state_dir))


class LocalCluster(Cluster):
    """This machine: the ``symphony up`` running in this directory (or a parent), else a
    Conductor and node embedded in this process (see :mod:`._embedded` for how it stops).
    """

    def __init__(
        self,
        *,
        state_dir: str | os.PathLike[str] | None = None,
        capacities: dict[str, int] | None = None,
        ports: str | None = None,
    ) -> None:
        from symphony.client import Client

        self.embedded: Embedded | None = None
        running = _running_up(state_dir)
        if running is not None:
            super().__init__(running)
            return
        from ._embedded import Embedded

        directory = Path(state_dir) if state_dir is not None else Path(".symphony")
        self.embedded = Embedded(directory.absolute(), capacities=capacities, ports=ports)
        info = self.embedded.start()
        super().__init__(Client(info.http_url, info.token))

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()

    def wait(self) -> None:
        if self.embedded is None:
            return
        try:
            while self.embedded.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()


def _running_up(state_dir: str | os.PathLike[str] | None) -> Client | None:
    """A client of the Conductor whose state is ``state_dir`` (else the nearest state
    directory found, as the CLI finds it), if one answers there."""
    from symphony.client import Client, ClientError, locate

    located = locate(state_dir=state_dir)
    if located.state_dir is None or located.url_from == "default":
        return None
    try:
        Client(located.url, located.token, timeout=2).health()
    except ClientError:
        return None
    return Client(located.url, located.token, state_dir=located.state_dir)
