"""The chaos harness: a real cluster, the model, the operations and the verdicts.

Every operation and fault is a method that returns once its effect is known (the API
answered, the signal was sent, the restarted process is back). Nothing waits a fixed time
to synchronise: waits poll a condition against a deadline (``_poll``). The only real sleeps
are fault *durations* (how long a node stays frozen), which are part of the fault.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cluster import ChaosCluster, signal_pid
from .config import ChaosConfig
from .faults import COME_BACK_TIMEOUT, FaultsMixin
from .model import VERSION_ENV, Deployment, Model
from .observe import Api, ApiError, job_processes
from .sampler import Sampler
from .settle import Difference, differences

MAX_DETAIL = 300  # characters of a violation's detail (a pid list can be long)


@dataclass(frozen=True)
class Violation:
    """One broken invariant: which, what exactly, at which step, and when."""

    kind: str
    detail: str
    step: int
    at: float  # seconds since the harness started

    def __str__(self) -> str:
        return f"[{self.kind}] step {self.step} (+{self.at:.1f} s): {self.detail}"


class Chaos(FaultsMixin):
    """A chaos run against a real cluster in ``root`` (see the package docstring)."""

    def __init__(self, root: Path, config: ChaosConfig) -> None:
        self.config = config
        self.tag = secrets.token_hex(6)
        self.cluster = ChaosCluster(
            root,
            heartbeat=config.heartbeat,
            node_timeout=config.node_timeout,
            capacity=config.capacity,
            tag=self.tag,
        )
        self.node_ids = [f"node-{i}" for i in range(config.nodes)]
        self.model = Model(self.tag)
        self.lock = threading.RLock()  # guards the model and the fields the sampler reads
        self.started_at = time.monotonic()
        self.step = 0
        self.counts: Counter[str] = Counter()  # operations and faults performed
        self.checks: Counter[str] = Counter()  # invariant checks made
        self.violations: list[Violation] = []
        self._seen: set[tuple[str, str]] = set()
        self.expected_down: set[str] = set()  # processes the harness killed on purpose
        self.disrupted = 0  # faults in progress (a node or the Conductor is away)
        self.disrupted_until = 0.0  # when the last disruption ended (monotonic)
        self.restart_until = 0.0  # API calls may fail or be slow until then
        self.disrupted_conductor = False  # the Conductor is down or coming back
        self.last_action = time.monotonic()
        self.settled = False
        self._uncertain: set[str] = set()  # names whose last write got no answer
        self.api = Api(self.cluster.http_url, self._on_call)
        self.sampler = Sampler(self)

    # -- life cycle ---------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def started(cls, root: Path, config: ChaosConfig) -> Iterator[Chaos]:
        """A started harness; everything it started is killed on exit, even on failure."""
        chaos = cls(root, config)
        try:
            chaos.start()
            yield chaos
        finally:
            chaos.stop()

    def start(self) -> None:
        self.cluster.start_conductor()
        self._poll("the Conductor answers /healthz", self.api.healthy, timeout=60)
        for node_id in self.node_ids:
            self.cluster.start_node(node_id)
        self._wait_nodes_ready(timeout=60)
        self.sampler.start()

    def stop(self) -> None:
        try:
            self.sampler.stop()
            self.api.close()
        finally:
            self.cluster.stop()

    def begin_example(self) -> None:
        """Forget the previous example's deployments and violations (the cluster stays)."""
        with self.lock:
            self.model.deployments.clear()
            self._seen.clear()
            self._uncertain.clear()
            self.settled = False
            self.last_action = time.monotonic()

    def heal(self) -> None:
        """Back to a clean, idle cluster: resume frozen nodes, restart whatever died,
        delete every deployment and wait until no job process of this run is left."""
        self.cluster.thaw_all()
        with self.lock:
            self.settled = False
        conductor = self.cluster.conductor
        if conductor is None or conductor.poll() is not None:
            self.cluster.start_conductor()
            self.restart_until = time.monotonic() + COME_BACK_TIMEOUT
        self._poll("the Conductor answers /healthz", self.api.healthy, timeout=COME_BACK_TIMEOUT)
        for node_id in self.node_ids:
            if self.cluster.agent_pid(node_id) is None:
                self.cluster.start_node(node_id)
        self._wait_nodes_ready(timeout=COME_BACK_TIMEOUT)
        self.restart_until = time.monotonic() + 2.0
        try:
            names = list(self.api.deployments())
        except ApiError:  # a stuck Conductor: restart it rather than give up on cleaning
            self._restart_stuck_conductor()
            names = list(self.api.deployments())
        for name in names:
            with contextlib.suppress(ApiError):
                self.api.call("DELETE", f"/deployments/{name}", expect=(200, 404))
            with self.lock:
                d = self.model.deployments.get(name)
                if d is not None and d.deleted_at is None:
                    d.deleted_at = time.monotonic()
        if not self._poll("no job left", lambda: not job_processes(self.tag), timeout=30):
            left = job_processes(self.tag)
            self.report(
                "deleted_gone", f"after deleting everything, pids {[p.pid for p in left]} still run"
            )
            for proc in left:
                signal_pid(proc.pid, signal.SIGKILL)
        self.last_action = time.monotonic()

    def _restart_stuck_conductor(self) -> None:
        with self.lock:
            self.expected_down.add("conductor")
        try:
            self.cluster.kill_conductor()
            self.cluster.start_conductor()
            self.restart_until = time.monotonic() + COME_BACK_TIMEOUT
            self._poll("healthz", self.api.healthy, timeout=COME_BACK_TIMEOUT)
            self._wait_nodes_ready(timeout=COME_BACK_TIMEOUT)
        finally:
            with self.lock:
                self.expected_down.discard("conductor")
        self.restart_until = time.monotonic() + 2.0

    # -- verdicts -----------------------------------------------------------------------

    def report(self, kind: str, detail: str, key: str | None = None) -> None:
        """Record a violation of ``kind`` (once per ``key``), if that invariant is on."""
        if kind not in self.config.invariants:
            return
        with self.lock:
            if (kind, key or detail) in self._seen:
                return
            self._seen.add((kind, key or detail))
            at = time.monotonic() - self.started_at
            if len(detail) > MAX_DETAIL:
                detail = detail[: MAX_DETAIL - 3] + "..."
            self.violations.append(Violation(kind, detail, self.step, at))

    def in_restart_window(self) -> bool:
        return self.disrupted_conductor or time.monotonic() < self.restart_until

    def _on_call(self, method: str, path: str, seconds: float, ok: bool) -> None:
        if self.in_restart_window():
            return
        self.checks["api_latency"] += 1
        if not ok:
            self.report("api_latency", f"{method} {path} got no answer ({seconds:.2f} s)")
        elif seconds > self._limit(method):
            self.report("api_latency", f"{method} {path} took {seconds:.2f} s")

    def _limit(self, method: str) -> float:
        # A DELETE answers once every instance has stopped (the API's promise: no process
        # outlives an acknowledged DELETE), and a stop may take the stop timeout.
        if method == "DELETE":
            return self.config.api_limit + self.config.stop_timeout
        return self.config.api_limit

    # -- operations (the API, as a user would use it) -------------------------------------

    def _begin(self, kind: str, *, count: bool = True) -> None:
        with self.lock:
            self.step += 1
            self.settled = False
        if count:
            self.counts[kind] += 1

    def _end(self) -> None:
        self.last_action = time.monotonic()

    def _write(
        self,
        kind: str,
        method: str,
        path: str,
        name: str,
        *,
        json: Any = None,
        expect: tuple[int, ...] = (200,),
        apply: Callable[[], None],
    ) -> bool:
        """One acknowledged write: the model changes only if the API said yes."""
        self._begin(kind)
        try:
            self.api.call(method, path, json=json, expect=expect)
        except ApiError as exc:
            if not self.in_restart_window():
                self.report("api_latency", f"{kind} {name}: {exc}")
            self._uncertain.add(name)
            return False
        finally:
            self._end()
        with self.lock:
            apply()
        return True

    def create(self, replicas: int) -> bool:
        """POST a new deployment of ``replicas`` (skipped if it would not fit)."""
        if self.model.demand + replicas > self.config.budget:
            return False
        name = self.model.new_name()
        spec = self.model.spec(
            name,
            replicas,
            stop_timeout=self.config.stop_timeout,
            backoff=self.config.restart_backoff,
            reschedule_delay=self.config.reschedule_delay,
        )

        def apply() -> None:
            self.model.deployments[name] = Deployment(name, replicas)

        return self._write(
            "create", "POST", "/deployments", name, json=spec, expect=(201,), apply=apply
        )

    def scale(self, index: int, replicas: int) -> bool:
        """PATCH ``replicas`` of a live deployment (skipped if it would not fit)."""
        d = self.model.pick(index)
        if d is None or self._over_budget(d, replicas=replicas):
            return False
        return self._patch(
            "scale", d, {"replicas": replicas}, lambda: setattr(d, "replicas", replicas)
        )

    def set_state(self, index: int, running: bool) -> bool:
        """PATCH ``desired_state`` to running or stopped."""
        d = self.model.pick(index)
        if d is None or self._over_budget(d, running=running):
            return False
        patch = {"desired_state": "running" if running else "stopped"}
        return self._patch("set_state", d, patch, lambda: setattr(d, "running", running))

    def patch_spec(self, index: int) -> bool:
        """PATCH the spec (a new environment value): every replica must be replaced."""
        d = self.model.pick(index)
        if d is None:
            return False
        version = d.version + 1
        patch = {"config": {"env": {VERSION_ENV: str(version)}}}
        return self._patch("patch_spec", d, patch, lambda: setattr(d, "version", version))

    def delete(self, index: int) -> bool:
        """DELETE a live deployment: its processes must be gone after the stop timeout."""
        d = self.model.pick(index)
        if d is None:
            return False

        def apply() -> None:
            d.deleted_at = time.monotonic()

        return self._write("delete", "DELETE", f"/deployments/{d.name}", d.name, apply=apply)

    def _patch(
        self, kind: str, d: Deployment, patch: dict[str, Any], apply: Callable[[], None]
    ) -> bool:
        return self._write(kind, "PATCH", f"/deployments/{d.name}", d.name, json=patch, apply=apply)

    def _over_budget(
        self, d: Deployment, *, replicas: int | None = None, running: bool | None = None
    ) -> bool:
        replicas = d.replicas if replicas is None else replicas
        running = d.running if running is None else running
        after = self.model.demand - d.demand + (replicas if running else 0)
        return after > self.config.budget

    # -- settling -------------------------------------------------------------------------

    def settle(self) -> list[Difference]:
        """Wait until the cluster matches the model; report what still differs at the
        deadline (``settle_deadline`` after the last action). Returns those differences."""
        self._begin("settle")
        deadline = self.last_action + self.config.settle_deadline
        remaining: list[Difference] = []
        calm = 0
        while True:
            remaining = self.differences()
            calm = calm + 1 if not remaining else 0
            if calm >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1 if remaining else 0.3)
        for kind in ("converge", "one_per_replica", "durable_writes"):
            self.checks[kind] += 1
        for kind, detail in remaining:
            self.report(kind, detail)
        with self.lock:
            self.settled = not remaining
        return remaining

    def differences(self) -> list[Difference]:
        """One observation of the API and the processes, compared with the model."""
        try:
            listed = self.api.deployments()
            nodes = self.api.nodes()
        except ApiError as exc:
            return [("converge", f"the API is unreachable: {exc}")]
        with self.lock:
            self._resolve_uncertain(listed)
            return differences(self.model, listed, job_processes(self.tag), nodes, self.node_ids)

    def _resolve_uncertain(self, listed: dict[str, dict[str, Any]]) -> None:
        """A write that got no answer may or may not have happened: adopt what the API says."""
        for name in self._uncertain:
            entry = listed.get(name)
            d = self.model.deployments.get(name)
            if entry is None:
                if d is not None and d.deleted_at is None:
                    d.deleted_at = time.monotonic()
                continue
            spec = entry["spec"]
            if d is None:
                d = self.model.deployments[name] = Deployment(name, spec["replicas"])
            d.replicas, d.deleted_at = spec["replicas"], None
            d.running = spec["desired_state"] == "running"
            d.version = int(spec["config"]["env"].get(VERSION_ENV, "0"))
        self._uncertain.clear()

    # -- waiting --------------------------------------------------------------------------

    def _poll(self, what: str, condition: Callable[[], Any], *, timeout: float) -> bool:
        """Poll ``condition`` until it holds or ``timeout`` passes; False on timeout."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _node_states(self) -> dict[str, str]:
        try:
            return {k: v["state"] for k, v in self.api.nodes().items()}
        except ApiError:
            return {}

    def _wait_nodes_ready(self, *, timeout: float) -> bool:
        def ready() -> bool:
            states = self._node_states()
            return all(states.get(n) == "ready" for n in self.node_ids)

        return self._poll("every node is ready", ready, timeout=timeout)
