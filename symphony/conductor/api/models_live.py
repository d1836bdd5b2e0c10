"""The query of ``GET /live`` (see :mod:`.models`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .models_base import _Query


class LiveQuery(_Query):
    """``GET /live``."""

    view: Annotated[
        Literal["full", "summary"],
        Field(
            description="summary: each deployment without its spec, as GET "
            "/deployments?view=summary lists it (a client reads a spec when it needs one, "
            "from GET /deployments/{id_or_name})"
        ),
    ] = "full"
