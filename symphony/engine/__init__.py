"""The seed's Python API: declare an experiment, launch it on a cluster, watch it.

    from symphony.engine import Cluster, SymphonyConfig

    SymphonyConfig().set_username("sarah")           # experiments are named sarah-...
    cluster = Cluster.new("symphony")                # or "local" on a laptop
    exp = cluster.new_experiment("rl")               # "sarah-rl"
    learner = exp.new_process("learner", cmds=["python learner.py"])
    learner.binds(["replay-server", "parameter-server"])
    replay = exp.new_process("replay", command=["python", "replay.py"], env={"N": "3"})
    replay.connects("replay-server")
    agents = exp.new_process_group("agents")         # one node for the whole group
    for i in range(2):
        agents.new_process(f"agent-{i}", cmds=["python agent.py"]).connects("parameter-server")
    cluster.launch(exp)

Each process finds the others through ``SYMPH_<NAME>_HOST``/``_PORT``/``_ADDR``
(``SYMPH_PARAMETER_SERVER_ADDR``...). See ``docs/experiments.md``.
"""

from ._builder import ExperimentSpec, ProcessGroupSpec, ProcessSpec
from ._cluster import Cluster, LocalCluster, SymphonyCluster
from ._config import SymphonyConfig
from ._errors import EngineError, ExperimentExists

__all__ = [
    "Cluster",
    "EngineError",
    "ExperimentExists",
    "ExperimentSpec",
    "LocalCluster",
    "ProcessGroupSpec",
    "ProcessSpec",
    "SymphonyCluster",
    "SymphonyConfig",
]
