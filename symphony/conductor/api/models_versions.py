"""A deployment's kept versions (``GET /deployments/{id}/versions``) and the body of
``POST /deployments/{id}/rollback`` (see :mod:`.models`, which re-exports them).

Apart from :mod:`.models` so that the rollback route, which validates its body with
:class:`RollbackRequest`, does not load every answer's model: those describe
``/openapi.json`` and are loaded with it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .models_base import _Answer, _Request

__all__ = ["RollbackRequest", "Version", "VersionList"]


class Version(_Answer):
    """One kept version: its template (in ``spec``) and how its roll went."""

    version: int
    current: bool
    status: Literal["rolling", "canary", "good", "failed", "superseded"]
    reason: str | None
    created_at: float
    used_at: float = Field(description="When it last became the current version")
    spec: dict[str, Any]


class VersionList(_Answer):
    versions: list[Version] = Field(description="The most recently current first")


class RollbackRequest(_Request):
    version: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="The version to go back to; default: the most recently current good one",
    )
