"""Launch the RL example: a learner, a replay process and four agents in two groups.

    python3 examples/rl/launch.py http://127.0.0.1:8080 [TOKEN]

The learner binds ``replay-server`` and ``parameter-server``; the others connect to
them and find them through the ``SYMPH_*`` variables, wherever they were placed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def process(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "command": [sys.executable, str(HERE / script)],
        "cwd": str(HERE),
        "capacity_requests": {"Analytic1": 2},
        **extra,
    }


def experiment(name: str = "rl") -> dict[str, Any]:
    """The experiment spec, as POST /experiments takes it."""
    agents = [
        {
            "name": f"agents-{g}",
            "processes": [
                process(f"agent-{2 * g + k}", "agent.py", connects=["parameter-server"])
                for k in range(2)
            ],
        }
        for g in range(2)
    ]
    return {
        "name": name,
        "processes": [
            process(
                "learner",
                "learner.py",
                binds=["replay-server", "parameter-server"],
                capacity_requests={"Analytic1": 4},
            ),
            process("replay", "replay.py", connects="replay-server"),
        ],
        "process_groups": agents,
    }


if __name__ == "__main__":
    import httpx

    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    headers = {"Authorization": f"Bearer {sys.argv[2]}"} if len(sys.argv) > 2 else {}
    response = httpx.post(f"{url}/experiments", json=experiment(), headers=headers)
    print(response.status_code, response.json().get("state"))
