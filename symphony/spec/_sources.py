"""What an ``exec`` job runs besides its command: code and a named environment.

``config.image`` is an archive (zip, tar, tar.gz, tar.zst) the node fetches and unpacks
into the instance's work directory; ``config.sha256`` is its digest (optional, checked
by the node when given); ``config.git`` is ``{repo, ref}`` cloned instead; and
``config.env_name`` names an environment the command runs in (a conda environment or a
virtual environment under the node's ``envs_dir``)::

    {"kind": "exec",
     "config": {"image": "https://example.org/app.tar.gz", "env_name": "conda-env1",
                "command": ["python3", "main.py"]}}

Every pattern here is used with ``fullmatch``. URLs are limited to an allow-list of
schemes: what a node fetches is chosen by whoever may submit specs, so nothing like
``ftp:`` or ``ssh:`` (with their own credentials on the node) is accepted.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

#: Schemes a node fetches archives and git repositories from. ``upload`` names an
#: archive uploaded to the Conductor (``upload:<sha256>``).
URL_SCHEMES = ("http", "https", "file")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")
# A branch, a tag, or a commit: git's own rules, narrowed. Never starting with "-" (it
# would read as an option), no "..", no "@{", no control characters or spaces.
_REF_RE = re.compile(r"(?!-)(?!.*\.\.)(?!.*@\{)[A-Za-z0-9._/+-]{1,255}")
#: Environment names: what conda and ``python -m venv`` directories use in practice.
ENV_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}"
_ENV_RE = re.compile(ENV_NAME_PATTERN)
MAX_URL = 4096


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def check_url(value: str, info: ValidationInfo) -> str:
    """An http(s):// URL with a host, or a file:// URL with an absolute path."""
    if _stored(info):
        return value
    if len(value) > MAX_URL:
        raise ValueError(f"a URL is at most {MAX_URL} characters")
    if re.search(r"[\x00-\x20\x7f]", value):
        raise ValueError("a URL must not contain spaces or control characters")
    if value.startswith("upload:"):
        if not _SHA256_RE.fullmatch(value.removeprefix("upload:")):
            raise ValueError("an uploaded archive is 'upload:' and its sha256 (64 hex digits)")
        return value
    parts = urlsplit(value)
    if parts.scheme not in URL_SCHEMES:
        allowed = ", ".join(f"{s}://" for s in URL_SCHEMES)
        raise ValueError(f"{value[:80]!r}: the URL must start with {allowed} (or upload:)")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError("a file:// URL names an absolute path on the node: file:///path")
    elif not parts.hostname:
        raise ValueError(f"{value[:80]!r}: the URL has no host")
    return value


def _check(regex: re.Pattern[str], message: str) -> AfterValidator:
    def check(value: str, info: ValidationInfo) -> str:
        if not _stored(info) and not regex.fullmatch(value):
            raise ValueError(message.format(value=value[:80]))
        return value

    return AfterValidator(check)


def _lower(value: str) -> str:
    return value.lower()


Url = Annotated[str, AfterValidator(check_url)]
Sha256 = Annotated[
    str,
    AfterValidator(_lower),
    _check(_SHA256_RE, "{value!r} is not a sha256 digest: 64 hexadecimal digits"),
]
Commit = Annotated[
    str,
    AfterValidator(_lower),
    _check(_COMMIT_RE, "{value!r} is not a commit id: 40 hexadecimal digits"),
]
GitRef = Annotated[
    str,
    _check(
        _REF_RE,
        "{value!r} is not a git ref: a branch, tag or commit of letters, digits and "
        "'._/+-', not starting with '-', without '..'",
    ),
]
EnvRef = Annotated[
    str,
    Field(json_schema_extra={"pattern": f"^{ENV_NAME_PATTERN}$"}),
    _check(
        _ENV_RE,
        "{value!r} is not an environment name: 1-128 letters, digits and '._+-', "
        "starting with a letter or digit",
    ),
]


def is_commit(ref: str) -> bool:
    """Whether ``ref`` is already a full commit id (nothing to resolve)."""
    return bool(_COMMIT_RE.fullmatch(ref.lower()))


class GitSource(BaseModel):
    """A git repository cloned (shallow) into the instance's work directory.

    ``ref`` is a branch, a tag or a commit (default ``HEAD``, the remote's default
    branch). ``commit`` is what ``ref`` pointed to when the spec was accepted: the
    Conductor resolves it once per version of the spec and records it here, so every
    replica runs the same commit. Set it yourself to pin one.
    """

    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True
    )

    repo: Url
    ref: GitRef = "HEAD"
    commit: Commit | None = None
