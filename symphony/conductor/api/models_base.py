"""The three kinds of API model, the bases of every model in ``models*.py``.

- :class:`_Request`: a request body, strict (no coercion), unknown fields refused;
- :class:`_Query`: query parameters, read leniently (they come as text), unknown ones
  ignored;
- :class:`_Answer`: a response, open to fields added later.

Each defers building its validator to first use: the API's import stays cheap. The
classes themselves are not free (a few KiB each, kept for good), so a serving Conductor
defines only those it uses: the answers' models (:mod:`.models`, for ``/openapi.json``)
come with the document, and the routes that an idle Conductor does not serve (tokens,
secrets, an experiment's change, logs, ``/live``, a rollback) import theirs at their
first request. The routes of deployments and events import their queries' models.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Answer(BaseModel):
    """A response: every field listed is present (``X | None`` may be null); more may
    be added later without breaking a client."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class _Request(BaseModel):
    """A request body: strict (no coercion), unknown fields refused."""

    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True
    )


class _Query(BaseModel):
    """Query parameters: text read leniently (``tail=5``, ``follow=yes``), unknown ones
    ignored (a cache-busting ``?_=123`` is harmless)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False, defer_build=True)
