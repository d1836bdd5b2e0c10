"""Query parameters, validated by the route's pydantic query model (:mod:`.models`).

A bad value is a 400 that names it in the same words as a refused spec
(``tail: must be at most 100000 (got 200000)``), never a 500.
"""

from __future__ import annotations

import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart import request

from symphony.spec import translate_errors

from .errors import HttpError

Q = TypeVar("Q", bound=BaseModel)


def query_params(model: type[Q]) -> Q:
    """The request's query string validated into ``model``: the first value of each
    parameter, or every value of one whose field is a list (``?label=a&label=b``)."""
    data: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name in request.args:
            repeated = typing.get_origin(field.annotation) is list
            data[name] = request.args.getlist(name) if repeated else request.args[name]
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = translate_errors(error.errors(), model=model)
        text = "; ".join(f"{p['path']}: {p['message']}" for p in problems)
        raise HttpError(400, "bad parameter", text) from None
