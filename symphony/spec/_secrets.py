"""Secret references in a spec: ``env: {TOKEN: {secret: "hf-token"}}``.

A spec never holds a secret's value, only its name: the Conductor keeps the value
(encrypted) and puts it into the start message of an instance that needs it. Names
follow the rule of capacity classes and node groups, so they fit in URLs, files and
messages: a letter or digit first, then letters, digits, ``_``, ``.``, ``-``
(at most 63 characters).

    >>> from symphony.spec import parse_spec, secret_refs
    >>> spec = parse_spec({"config": {"command": ["env"], "env": {
    ...     "HF_TOKEN": {"secret": "hf-token"}, "LOG_LEVEL": "info"}}})
    >>> secret_refs(spec)
    {'HF_TOKEN': 'hf-token'}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ._secret_name import SECRET_NAME_PATTERN, check_secret_name

if TYPE_CHECKING:
    from ._model import DeploymentSpec

#: The largest secret value, in UTF-8 bytes (an environment variable, not a file store).
MAX_SECRET_BYTES = 64 * 1024


SecretName = Annotated[
    str,
    AfterValidator(check_secret_name),
    Field(json_schema_extra={"pattern": SECRET_NAME_PATTERN}),
]


class SecretRef(BaseModel):
    """An environment value taken from a stored secret: ``{"secret": "<name>"}``."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)

    secret: SecretName


def secret_refs(spec: DeploymentSpec) -> dict[str, str]:
    """The spec's environment variables that come from secrets: ``{variable: secret}``."""
    return {
        name: value.secret
        for name, value in spec.config.env.items()
        if isinstance(value, SecretRef)
    }
