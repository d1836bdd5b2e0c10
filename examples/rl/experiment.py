"""The RL example declared with symphony.engine, the seed's Python API.

    python3 examples/rl/experiment.py            # the Conductor `symphony up` runs here
    python3 examples/rl/experiment.py local      # that, else one embedded in this script

The same experiment as ``launch.py`` builds by hand: a learner binding
``replay-server`` and ``parameter-server``, a replay process, and four agents in two
process groups (each group on one node).
"""

from __future__ import annotations

import sys
from pathlib import Path

from symphony.engine import Cluster, ExperimentSpec

HERE = Path(__file__).resolve().parent


def declare(cluster: Cluster, name: str = "rl", capacity: str = "cpu") -> ExperimentSpec:
    """The experiment, ready for ``cluster.launch``. Each process asks for a little of
    ``capacity`` (``cpu``, which ``symphony up``'s node offers, by default)."""
    exp = cluster.new_experiment(name)

    def run(script: str) -> dict[str, object]:
        return {"command": [sys.executable, str(HERE / script)], "cwd": str(HERE)}

    learner = exp.new_process("learner", **run("learner.py"), capacity_requests={capacity: 4})
    learner.binds(["replay-server", "parameter-server"])
    replay = exp.new_process("replay", **run("replay.py"), capacity_requests={capacity: 2})
    replay.connects("replay-server")
    for g in range(2):
        group = exp.new_process_group(f"agents-{g}")
        for k in range(2):
            agent = group.new_process(
                f"agent-{2 * g + k}", **run("agent.py"), capacity_requests={capacity: 2}
            )
            agent.connects("parameter-server")
    return exp


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "symphony"
    with Cluster.new(kind) as cluster:
        launched = cluster.launch(declare(cluster), force=True)
        print(launched["name"], launched["state"])
        if kind == "local":
            cluster.wait()  # an embedded Conductor lives as long as this script
