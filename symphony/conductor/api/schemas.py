"""JSON schemas of what the API returns (components of the OpenAPI document).

They mirror :mod:`.views`, :func:`.routes_nodes.node_json`,
:func:`.routes_events.event_json` and :mod:`.routes_usage`; the schemathesis test
fails if they drift apart.
"""

from __future__ import annotations

from typing import Any

from symphony.wire.states import DeploymentState, InstanceState


def _obj(props: dict[str, Any], *, extra: bool = True) -> dict[str, Any]:
    """An object whose every listed property is required."""
    schema: dict[str, Any] = {"type": "object", "required": list(props), "properties": props}
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _maybe(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


STR, INT, NUM, BOOL = ({"type": t} for t in ("string", "integer", "number", "boolean"))
ANY_OBJECT = {"type": "object"}
INSTANCE_STATE = {"$ref": "#/components/schemas/InstanceState"}
DEPLOYMENT_STATE = {"$ref": "#/components/schemas/DeploymentState"}


def _states(of: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": of}


_BUCKET = {
    "type": "object",
    "required": ["start", "samples"],
    "description": "One minute: the mean of each metric's samples and, as <name>_max, the largest",
    "properties": {"start": NUM, "samples": INT},
    "additionalProperties": NUM,
}
_FRAME = {"now": NUM, "bucket_seconds": INT, "current_bucket": NUM}
USAGE_SCHEMAS: dict[str, Any] = {
    "NodeUsageHistory": _obj(
        {"node_id": STR, **_FRAME, "buckets": {"type": "array", "items": _BUCKET}}
    ),
    "DeploymentUsageHistory": _obj(
        {
            "deployment_id": STR,
            "name": STR,
            **_FRAME,
            "instances": {
                "type": "array",
                "items": _obj(
                    {
                        "instance_id": STR,
                        "replica": INT,
                        "node_id": _maybe("string"),
                        "state": STR,
                        "cpu_percent": _maybe("number"),
                        "rss_bytes": _maybe("integer"),
                        "sampled_at": _maybe("number"),
                        "buckets": {"type": "array", "items": _BUCKET},
                    }
                ),
            },
            "restarts": {
                "type": "array",
                "items": _obj({"start": NUM, "count": INT}),
            },
        }
    ),
}

SCHEMAS: dict[str, Any] = {
    "InstanceState": {
        "type": "string",
        "enum": [s.value for s in InstanceState],
        "description": "An instance's state; GET /states says which are live, placed, final",
    },
    "DeploymentState": {"type": "string", "enum": [s.value for s in DeploymentState]},
    "States": _obj(
        {
            "instance": _obj(
                {
                    "states": _states(INSTANCE_STATE),
                    "live": _states(INSTANCE_STATE),
                    "placed": _states(INSTANCE_STATE),
                    "final": _states(INSTANCE_STATE),
                }
            ),
            "deployment": _obj({"states": _states(DEPLOYMENT_STATE)}),
        }
    ),
    "Error": _obj(
        {
            "error": {"type": "string", "description": "What went wrong, in a few words"},
            "detail": {"description": "Why, or the list of {path, message} of an invalid spec"},
        }
    ),
    "Health": _obj({"status": {"const": "ok"}, "version": STR, "uptime_seconds": NUM}),
    "Instance": _obj(
        {
            "id": STR,
            "replica": INT,
            "node_id": _maybe("string"),
            "state": INSTANCE_STATE,
            "pid": _maybe("integer"),
            "restarts": INT,
            "exit_code": _maybe("integer"),
            "signal": _maybe("string"),
            "health": _maybe("string"),
            "reason": _maybe("string"),
            "generation": INT,
            "started_at": _maybe("number"),
            "finished_at": _maybe("number"),
            "updated_at": NUM,
            "restart_at": {
                "type": ["number", "null"],
                "description": "While restarting: when the next run starts (Unix seconds)",
            },
            "cpu_percent": _maybe("number"),
            "rss_bytes": _maybe("integer"),
        }
    ),
    "Deployment": _obj(
        {
            "id": STR,
            "name": STR,
            "desired_state": {"type": "string", "enum": ["running", "stopped"]},
            "state": DEPLOYMENT_STATE,
            "replicas": _obj({"desired": INT, "running": INT}),
            "generation": INT,
            "created_at": NUM,
            "updated_at": NUM,
            "pending_reason": _maybe("string"),
            "failure": _maybe("string"),
            "restarts": INT,
            "spec": ANY_OBJECT,
            "instances": {"type": "array", "items": {"$ref": "#/components/schemas/Instance"}},
        }
    ),
    "Deleted": _obj({"deleted": STR, "name": STR}),
    "Node": _obj(
        {
            "node_id": STR,
            "state": {"type": "string", "enum": ["ready", "disconnected", "lost"]},
            "groups": {"type": "array", "items": STR},
            "capacities_total": {"type": "object", "additionalProperties": INT},
            "capacities_used": {"type": "object", "additionalProperties": INT},
            "resources": ANY_OBJECT,
            "usage": ANY_OBJECT,
            "last_heartbeat": _maybe("number"),
            "connected_at": _maybe("number"),
            "remote": _maybe("string"),
            "shared_certificate": BOOL,
            "heartbeat_sec": NUM,
        }
    ),
    "Event": _obj(
        {
            "id": INT,
            "at": NUM,
            "kind": STR,
            "message": STR,
            "deployment_id": _maybe("string"),
            "instance_id": _maybe("string"),
            "data": ANY_OBJECT,
        }
    ),
    "EventPage": _obj(
        {
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "next_after": {"type": "integer", "description": "Pass as ?after= for the next page"},
        }
    ),
    **USAGE_SCHEMAS,
}
