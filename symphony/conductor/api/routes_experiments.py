"""Experiments: create, list, read, start/stop, delete, and their events.

An experiment's processes are deployments named ``<experiment>.<process>``; their
logs are read with ``GET /deployments/{experiment}.{process}/logs``. Writes go through
the Deployments actor, which stores the experiment and all its processes in one
transaction (nothing half-launched), then starts them; the Scheduler places them as
one gang.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from symphony.spec import SpecError

from ..deployments.experiments import ChangeExperiment, CreateExperiment, DeleteExperiment
from ..store import ExperimentRecord
from .app import context
from .body import json_body, parse_body
from .errors import HttpError
from .models_queries import EventsQuery
from .params import query_params
from .routes_deployments import DELETE_TIMEOUT, refused
from .views import event_json

experiments = Blueprint("experiments", __name__)


def find(name: str) -> ExperimentRecord:
    record = context().store.get_experiment(name)
    if record is None:
        raise HttpError(404, "not found", f"no experiment named {name!r}")
    return record


def view(record: ExperimentRecord) -> dict[str, Any]:
    from .experiment_views import experiment_json  # with the first experiment shown

    store = context().store
    processes = [
        (d, store.list_instances(deployment_id=d.id))
        for d in store.experiment_deployments(record.name)
    ]
    return experiment_json(record, processes)


@experiments.post("/experiments")
async def create() -> tuple[dict[str, Any], int]:
    from symphony.spec import parse_experiment  # the models of experiments, when used

    data = await json_body()
    try:
        spec, processes = parse_experiment(data)
    except SpecError as error:
        raise HttpError(422, "invalid experiment", error.errors) from None
    message = CreateExperiment(spec, tuple(processes))
    record: ExperimentRecord = refused(await context().deployments.ask(message, timeout=30))
    return view(record), 201


@experiments.get("/experiments")
async def list_all() -> dict[str, Any]:
    return {"experiments": [view(r) for r in context().store.list_experiments()]}


@experiments.get("/experiments/<experiment>")
async def get(experiment: str) -> dict[str, Any]:
    return view(find(experiment))


@experiments.patch("/experiments/<experiment>")
async def patch(experiment: str) -> dict[str, Any]:
    from .models_experiments import ExperimentChange  # with the first request: see .models_base

    change = parse_body(ExperimentChange, await json_body())
    record = find(experiment)
    message = ChangeExperiment(record.name, change.desired_state)
    updated: ExperimentRecord = refused(await context().deployments.ask(message, timeout=30))
    return view(updated)


@experiments.delete("/experiments/<experiment>")
async def delete(experiment: str) -> dict[str, Any]:
    record = find(experiment)
    message = DeleteExperiment(record.name)
    refused(await context().deployments.ask(message, timeout=DELETE_TIMEOUT))
    return {"deleted": record.name, "name": record.name}


@experiments.get("/experiments/<experiment>/events")
async def experiment_events(experiment: str) -> dict[str, Any]:
    params = query_params(EventsQuery)
    record = find(experiment)
    store = context().store
    ids = [d.id for d in store.experiment_deployments(record.name)]
    found = store.list_events(deployment_ids=ids, after_id=params.after, limit=params.limit)
    return {
        "events": [event_json(e) for e in found],
        "next_after": found[-1].id if found else params.after,
    }
