"""A chaos harness for a real Symphony cluster: faults in, invariants checked.

A Conductor and a few Nodes run as real processes (see ``benchmarks/scenarios/_cluster``).
:class:`Chaos` drives them through the HTTP API (create, scale, stop, change, delete) and
injects faults (SIGKILL a job, an agent, its monitor or the Conductor; SIGSTOP a whole node
past its timeout). A background :class:`~benchmarks.chaos.sampler.Sampler` watches the real
processes (``psutil``) and the API the whole time; :meth:`Chaos.settle` checks that the
cluster reaches the state the model says it should, in time.

Two drivers use it: the hypothesis state machine of ``tests/chaos`` (CI-sized, shrinks a
failure to a short story) and ``python -m benchmarks.chaos --minutes N`` (a long random
walk that counts and reports every violation instead of stopping at the first).

    config = ChaosConfig(faults=frozenset({"kill_job"}))
    with Chaos.started(tmp_path, config) as chaos:
        chaos.create(replicas=2)
        chaos.kill_job(0)
        chaos.settle()
        assert not chaos.violations
"""

from .config import FAULTS, INVARIANTS, OPERATIONS, ChaosConfig
from .harness import Chaos, Violation

__all__ = ["FAULTS", "INVARIANTS", "OPERATIONS", "Chaos", "ChaosConfig", "Violation"]
