"""``GET /deployments?view=rows``: the summaries as rows of values, column names once.

A summary repeats its 14 keys and each instance its 19; over 10,000 deployments that is
most of a 6.5 MB answer, and decoding the keys is most of a client's time. As rows, the
same values come in the order the answer's ``columns`` and ``instance_columns`` name
once, and decode in well under half the time (a table like ``kubectl get``'s)::

    {"columns": ["id", "name", ..., "instances"],
     "instance_columns": ["id", "replica", "node_id", ...],
     "deployments": [["d_2e3a...", "web", ..., [["web-0-48592a", 0, "laptop", ...]]]],
     "next_cursor": null}

``instances`` is always the last column: its cell holds the deployment's instance rows.
A client looks its columns up by name in each answer (columns may be added, never
renamed), so a later Conductor with more columns reads the same.
"""

from __future__ import annotations

import json
from typing import Any

#: The summary's fields in row order (every key of a summary; ``instances`` last).
DEPLOYMENT_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "desired_state",
    "state",
    "replicas",
    "generation",
    "created_at",
    "updated_at",
    "pending_reason",
    "failure",
    "restarts",
    "version",
    "rollout",
    "instances",
)
#: An instance's fields in row order (every key of an instance's view).
INSTANCE_COLUMNS: tuple[str, ...] = (
    "id",
    "replica",
    "node_id",
    "state",
    "pid",
    "restarts",
    "exit_code",
    "signal",
    "health",
    "reason",
    "generation",
    "started_at",
    "finished_at",
    "updated_at",
    "restart_at",
    "devices",
    "cpu_percent",
    "rss_bytes",
    "version",
)
_FIELDS = DEPLOYMENT_COLUMNS[:-1]


def row_of(view: dict[str, Any]) -> list[Any]:
    """One deployment's view (full or summary) as its row."""
    instances = [[inst[key] for key in INSTANCE_COLUMNS] for inst in view["instances"]]
    return [*(view[key] for key in _FIELDS), instances]


#: What a rows answer begins with, before its ``"deployments"``: ``{"columns":[...],...,``.
ROWS_PREFIX = (
    json.dumps(
        {"columns": DEPLOYMENT_COLUMNS, "instance_columns": INSTANCE_COLUMNS},
        separators=(",", ":"),
    ).encode()[:-1]
    + b","
)
