"""The body and answer of ``POST /deployments:batch`` (see :mod:`.models`).

The body model documents the shape for OpenAPI; the route itself reads the items one by
one so that every bad item is reported with its index (see :mod:`.routes_batch`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from symphony.spec import DeploymentSpec

from .models import Deployment
from .models_base import _Answer, _Request
from .routes_batch import MAX_BATCH

__all__ = ["MAX_BATCH", "CreatedDeployments", "DeploymentBatch"]


class DeploymentBatch(_Request):
    """Deployments to create together: all of them, or none if any item is refused."""

    deployments: Annotated[
        list[DeploymentSpec],
        Field(min_length=1, max_length=MAX_BATCH, description="Specs, as POST /deployments"),
    ]


class CreatedDeployments(_Answer):
    """The created deployments, in the order of the batch's items."""

    deployments: list[Deployment]
