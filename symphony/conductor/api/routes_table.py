"""Every route of the API in one declarative table: method, path, models, errors.

``/openapi.json`` is generated from this table and the pydantic models it names
(:mod:`.openapi`); a test checks that the table and the app's routes are the same set.
A route whose answer is not JSON names its media type instead of a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from symphony.spec import DeploymentSpec, ExperimentSpec

from . import models as m
from . import models_batch as mb
from . import models_live, models_logs
from . import models_relay as mr
from . import models_secrets as ms

__all__ = ["PATH_PARAMS", "ROUTES", "MergePatch", "Route"]


class MergePatch(BaseModel):
    """A JSON merge patch (RFC 7386) of the spec, e.g. ``{"desired_state": "stopped"}`` or
    ``{"replicas": 3}``; the merged spec is validated as a whole."""

    model_config = ConfigDict(extra="allow", defer_build=True)


@dataclass(frozen=True, slots=True)
class Route:
    """One operation. ``answer`` is a response model, or a media type for text, HTML or
    a stream; ``errors`` the statuses it may answer besides the checks every route
    makes (Host, origin, content type); ``public`` routes need no token."""

    method: str
    path: str
    summary: str
    answer: type[BaseModel] | str
    status: int = 200
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = (401,)
    public: bool = False
    #: Other success statuses answered with the same model (a set that replaces: 200).
    also: tuple[int, ...] = ()


#: Path parameters by name: their description and schema.
PATH_PARAMS = {
    "id_or_name": ("A deployment id (d_...) or its unique name", {"minLength": 1}),
    "token_id": ("A join token's id", {"minLength": 1}),
    "name": ("A file of the web UI", {"minLength": 1}),
    "node_id": ("A node id, as GET /nodes lists it", {"minLength": 1}),
    "experiment": ("An experiment's name", {"minLength": 1}),
    "secret_name": ("A secret's name", {"minLength": 1}),
    "service": ("A name an experiment's process exposes or binds", {"minLength": 1}),
    "rest": ("The path below the service's prefix, as the service sees it", {}),
}

_WRITE = (400, 401, 404, 409, 413, 422, 503)
ROUTES: tuple[Route, ...] = (
    Route("get", "/healthz", "Liveness; needs no token", m.Health, errors=(), public=True),
    Route(
        "post",
        "/deployments",
        "Create a deployment from a spec",
        m.Deployment,
        status=201,
        body=DeploymentSpec,
        errors=(400, 401, 409, 413, 422, 503),
    ),
    Route(
        "get",
        "/deployments",
        "Every deployment with its instances; a page of them with limit/cursor; filtered",
        m.DeploymentList,
        query=m.DeploymentsQuery,
        errors=(400, 401),
    ),
    Route(
        "get", "/deployments/{id_or_name}", "One deployment", m.Deployment, errors=(400, 401, 404)
    ),
    Route(
        "patch",
        "/deployments/{id_or_name}",
        "Change desired_state and/or the spec (JSON merge patch, RFC 7386)",
        m.Deployment,
        body=MergePatch,
        errors=_WRITE,
    ),
    Route(
        "delete",
        "/deployments/{id_or_name}",
        "Stop every instance's process group, release capacity, delete",
        m.Deleted,
        errors=(400, 401, 404, 503),
    ),
    Route(
        "get",
        "/deployments/{id_or_name}/logs",
        "An instance's stdout or stderr (tail, then follow)",
        "text/plain",
        query=models_logs.LogsQuery,
        errors=(400, 401, 404, 409, 503, 504),
    ),
    Route(
        "get",
        "/deployments/{id_or_name}/events",
        "A deployment's event history, oldest first",
        m.EventPage,
        query=m.EventsQuery,
        errors=(400, 401, 404),
    ),
    Route(
        "get",
        "/deployments/{id_or_name}/runs",
        "A scheduled deployment's runs (newest first, with exit codes) and next times",
        m.Runs,
        errors=(400, 401, 404),
    ),
    Route(
        "get",
        "/nodes",
        "Every node: state, groups, capacities, usage",
        m.NodeList,
        errors=(401, 503),
    ),
    Route(
        "post",
        "/nodes/{node_id}/drain",
        "Drain a node: it takes no new work and its replicas move elsewhere",
        m.Node,
        body_required=False,
        errors=(401, 404, 503),
    ),
    Route(
        "post",
        "/nodes/{node_id}/undrain",
        "Undrain a node: it takes new work again",
        m.Node,
        body_required=False,
        errors=(401, 404, 503),
    ),
    Route(
        "get",
        "/nodes/{node_id}/usage-history",
        "A node's CPU and RAM over the last hour, in one-minute buckets",
        m.NodeUsageHistory,
        errors=(401, 404, 503),
    ),
    Route(
        "get",
        "/deployments/{id_or_name}/usage-history",
        "A deployment's live instances' CPU and RSS and its restarts over the last hour, "
        "in one-minute buckets",
        m.DeploymentUsageHistory,
        errors=(401, 404, 503),
    ),
    Route(
        "get", "/metrics", "Prometheus metrics (text format 0.0.4)", "text/plain", errors=(401, 503)
    ),
    Route("get", "/openapi.json", "This document (OpenAPI 3.1)", "application/json"),
    Route(
        "get",
        "/states",
        "Every instance and deployment state, and which instance states are live, placed "
        "(holding capacity on a node) and final",
        m.States,
    ),
    Route(
        "post",
        "/tokens",
        "Create a node join token (shown once)",
        m.TokenCreated,
        status=201,
        body=m.TokenRequest,
        body_required=False,
        errors=(400, 401, 413, 422, 503),
    ),
    Route("get", "/tokens", "Join tokens, without their secrets", m.TokenList, errors=(401, 503)),
    Route(
        "delete",
        "/tokens/{token_id}",
        "Revoke a join token",
        m.TokenDeleted,
        errors=(401, 404, 503),
    ),
    Route(
        "get",
        "/live",
        "Changes pushed as Server-Sent Events (the web UI's feed): snapshot, then "
        "event/deployment/removed/node messages",
        "text/event-stream",
        query=models_live.LiveQuery,
        errors=(400, 401),
    ),
    Route("get", "/ui", "The web UI; needs no token", "text/html", errors=(), public=True),
    Route(
        "get",
        "/ui/{name}",
        "The web UI's static files; need no token",
        "*/*",
        errors=(404,),
        public=True,
    ),
    Route(
        "get", "/docs", "An API explorer page; needs no token", "text/html", errors=(), public=True
    ),
    Route(
        "post",
        "/uploads",
        "Upload an archive (the body, as application/octet-stream, at most 2 GiB) for "
        "config.image: 'upload:<sha256>'",
        m.Upload,
        status=201,
        errors=(400, 401, 413, 415, 503),
    ),
    # -- experiments: processes that find each other by name, launched as one gang --
    Route(
        "post",
        "/experiments",
        "Create an experiment: its processes are deployments named <experiment>.<process>",
        m.Experiment,
        status=201,
        body=ExperimentSpec,
        errors=(400, 401, 409, 413, 422, 503),
    ),
    Route("get", "/experiments", "Every experiment with its processes", m.ExperimentList),
    Route(
        "get",
        "/experiments/{experiment}",
        "One experiment: processes with group, node, ports, state, restarts",
        m.Experiment,
        errors=(400, 401, 404),
    ),
    Route(
        "patch",
        "/experiments/{experiment}",
        "Start or stop every process (desired_state)",
        m.Experiment,
        body=m.ExperimentChange,
        errors=_WRITE,
    ),
    Route(
        "delete",
        "/experiments/{experiment}",
        "Stop every process, then delete the experiment and its processes",
        m.Deleted,
        errors=(400, 401, 404, 503),
    ),
    Route(
        "get",
        "/experiments/{experiment}/events",
        "The events of an experiment's processes, oldest first",
        m.EventPage,
        query=m.EventsQuery,
        errors=(400, 401, 404),
    ),
    Route(
        "get",
        "/deployments/{id_or_name}/versions",
        "A deployment's kept versions (templates), the most recently current first",
        m.VersionList,
        errors=(400, 401, 404),
    ),
    Route(
        "post",
        "/deployments/{id_or_name}/promote",
        "Promote a rolling update's canaries: the roll goes on",
        m.Deployment,
        body_required=False,
        errors=(401, 404, 409, 503),
    ),
    Route(
        "post",
        "/deployments/{id_or_name}/rollback",
        "Go back to a kept version (default: the last good one); it rolls out",
        m.Deployment,
        body=m.RollbackRequest,
        body_required=False,
        errors=(400, 401, 404, 409, 413, 422, 503),
    ),
    Route(
        "post",
        "/deployments/{id_or_name}/restart",
        "Replace every instance by a new one of the same template, rolled as an update",
        m.Deployment,
        body_required=False,
        errors=(401, 404, 409, 422, 503),
    ),
    Route(
        "post",
        "/secrets",
        "Set a secret (201: created, 200: replaced); the value is never shown again",
        ms.SecretSaved,
        status=201,
        body=ms.SecretRequest,
        errors=(400, 401, 413, 422, 503),
        also=(200,),
    ),
    Route(
        "get",
        "/secrets",
        "Secrets: names and dates, never values",
        ms.SecretList,
        errors=(401, 503),
    ),
    Route(
        "delete",
        "/secrets/{secret_name}",
        "Delete a secret (409 while a deployment references it)",
        ms.SecretDeleted,
        errors=(401, 404, 409, 503),
    ),
    Route(
        "post",
        "/deployments:batch",
        "Create several deployments in one transaction: all of them, or none (400/409 name "
        "each refused item's index)",
        mb.CreatedDeployments,
        status=201,
        body=mb.DeploymentBatch,
        errors=(400, 401, 409, 413, 503),
    ),
    # -- services of experiments through the Conductor: visit, port-forward, tunnels --
    Route(
        "post",
        "/experiments/{experiment}/services/{service}/visit",
        "A one-time browser link to a service (it sets a cookie for /x/{experiment}/{service}/)",
        mr.VisitLink,
        body_required=False,
        errors=(401, 404, 503),
    ),
    Route(
        "get",
        "/experiments/{experiment}/services/{service}/forward",
        "A WebSocket carrying one TCP connection to the service (symphony port-forward); "
        "a plain GET is 400",
        "application/octet-stream",
        errors=(400, 401, 404, 409, 502, 503, 504),
    ),
    Route(
        "get",
        "/tunnels",
        "Every tunnel, forward and visit with its connections and bytes",
        mr.TunnelList,
        errors=(401, 503),
    ),
    Route(
        "get",
        "/x/{experiment}/{service}",
        "Redirects to /x/{experiment}/{service}/ (the body names it, as an error would)",
        m.Error,
        status=308,
        errors=(401, 404),
    ),
    *(
        Route(
            method,
            path,
            "The service itself, relayed from its node (HTTP and WebSocket; token or visit cookie)",
            "*/*",
            errors=(401, 404, 409, 502, 503, 504),
        )
        for path in ("/x/{experiment}/{service}/", "/x/{experiment}/{service}/{rest}")
        for method in ("get", "post", "put", "patch", "delete")
    ),
)
