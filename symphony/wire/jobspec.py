"""The job spec as it crosses the wire: what a node needs to run one instance.

The Conductor builds a :class:`JobSpec` from a deployment spec it has validated (with
every default filled in there, once), and sends it inside
:class:`~symphony.wire.messages.StartInstance`. The node runs what the frame says:
the wire's compiler has checked the types and bounds when it decoded the frame, and
nothing else on the node re-validates or re-defaults a job spec.

On the wire it is a nested map with the same keys as the deployment spec's fields of
the same names (``kind``, ``config.command``, ``restart_policy.backoff_seconds``, ...),
so it reads like the spec a person wrote::

    {"kind": "exec",
     "config": {"command": ["python3", "main.py"], "env": {"LOG_LEVEL": "info"}},
     "restart_policy": {"type": "on-failure", "backoff_seconds": 10.0, ...},
     "stop_signal": "SIGTERM", "stop_timeout_seconds": 10.0,
     "log_max_bytes": 10485760, "log_backups": 5}

That shape is also what nodes of protocol versions 1 and 2 read from their untyped
``spec`` map (a subset of what they accepted), so the Conductor sends them the same.

Rules between fields (a ``tcp`` check has a ``port`` and a ``host``; the backoff cap is
not below its start) are checked in ``__post_init__``; the compiler reports a broken
one as a :class:`~symphony.wire.errors.ProtocolError` like any other bad field.
"""

from __future__ import annotations

import signal
from dataclasses import field
from typing import Annotated, Any, Literal

from symphony.images import IMAGE_RE, MAX_IMAGE_LENGTH

from .messages import Message, message
from .schema import Max, MaxLen, Min, MinLen, Pattern, build

__all__ = [
    "JobConfig",
    "JobGit",
    "JobHealthCheck",
    "JobRestartPolicy",
    "JobSpec",
    "SecretValues",
    "job_spec_from_dict",
]

# Every rule here is one the validated deployment spec already holds (also for a spec
# stored under older rules), so a spec the Conductor accepted always fits. Sizes are
# bounded by the frame (DEFAULT_MAX_FRAME_SIZE, MAX_ITEMS_PER_FRAME).
Arg = Annotated[str, Pattern(r"[^\x00]*", "text without NUL characters")]
EnvName = Annotated[str, Pattern(r"[^=\x00]+", "a variable name: not empty, no '=' or NUL")]
Url = Annotated[str, Pattern(r"https?://[\s\S]*", "an http:// or https:// URL")]
SecretName = Annotated[
    str, Pattern(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", "a secret name: letters, digits, _ . -")
]
#: Secret values by environment variable name (protocol 4; see ``JobConfig.secret_env``).
SecretValues = Annotated[dict[EnvName, Arg], MaxLen(256)]
WEEK = 7 * 86_400
# Sources (protocol 4): the spec's own rules (symphony.spec._sources), repeated here
# because the wire imports no spec code; a node fetches only what fits them.
_SOURCE_URL = (
    r"(https?://[^\x00-\x20\x7f/]+|file://(localhost)?/|upload:[0-9a-f]{64}\Z)[^\x00-\x20\x7f]*"
)
_ARCHIVE = Pattern(
    _SOURCE_URL,
    "an http://, https://, file:/// or upload: URL without spaces or control characters",
)
SourceUrl = Annotated[str, _ARCHIVE, MaxLen(4096)]
# ``config.image`` by kind (checked in JobSpec): an image reference for a container, an
# archive URL for exec. The field's own pattern admits either.
_IMAGE = Pattern(IMAGE_RE.pattern, "an image reference")
_IMAGE_OR_ARCHIVE = f"(?:{IMAGE_RE.pattern})|(?:{_SOURCE_URL})"
_IMAGE_RULE = "an image reference (docker, podman) or an archive URL (exec)"
Sha256 = Annotated[str, Pattern(r"[0-9a-f]{64}", "a sha256 digest: 64 lowercase hex digits")]
Commit = Annotated[str, Pattern(r"[0-9a-f]{40}", "a commit id: 40 lowercase hex digits")]
#: What a job may name as ``env_name`` and a node may report: a node leaves out any
#: other directory it finds (see ``symphony.node.sources``).
ENV_NAME = Pattern(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}", "an environment name (1-128 characters)")
EnvRef = Annotated[str, ENV_NAME]


@message("job_git")
class JobGit(Message):
    """A git source: ``repo`` at ``commit`` (``ref`` is what the commit was resolved from,
    kept for messages and the instance's record)."""

    repo: SourceUrl
    ref: Annotated[str, Pattern(r"(?!-)[A-Za-z0-9._/+-]{1,255}", "a git ref")]
    commit: Commit


Seconds = Annotated[float, Min(0), Max(WEEK)]


@message("job_config")
class JobConfig(Message):
    """What to run: ``command`` (argv, no shell), ``env`` added to the node's
    environment, ``cwd`` (``None``: the instance's own work directory on the node).

    Protocol 4 added the sources: ``image`` (an archive, checked against ``sha256``),
    ``git``, and ``env_name``. The Conductor places a job with any of them only on
    nodes of version 4 or newer (an older node would ignore them and run the wrong
    thing), and one with ``env_name`` only on a node that reported that environment.

    Containers (protocol 4): ``image`` (a reference the Conductor checked), ``command``
    empty for the image's own command, ``entrypoint`` to replace the image's. The same
    ``image`` of an ``exec`` job is an archive URL: :class:`JobSpec` checks it by kind.

    ``secret_env`` (protocol 4) names the variables whose values are secrets:
    ``{variable: secret name}``. Their values are not here (a node keeps this spec on
    disk) but in :attr:`~symphony.wire.messages.StartInstance.secrets`, held in memory.
    """

    command: tuple[Arg, ...]
    env: dict[EnvName, Arg] = field(default_factory=dict)
    cwd: str | None = None
    image: Annotated[str, Pattern(_IMAGE_OR_ARCHIVE, _IMAGE_RULE), MaxLen(4096)] | None = None
    sha256: Sha256 | None = None
    git: JobGit | None = None
    env_name: EnvRef | None = None
    entrypoint: Annotated[tuple[Arg, ...], MinLen(1)] | None = None
    secret_env: Annotated[dict[EnvName, SecretName], MaxLen(256)] | None = None

    def __post_init__(self) -> None:
        if self.image is not None and self.git is not None:
            raise ValueError("image and git are two sources of code: give one")

    @property
    def needs_sources(self) -> bool:
        """Whether an ``exec`` job has sources to prepare (and so needs a node of
        protocol 4 or newer). A container's ``image`` is not one: check the kind too."""
        return any(v is not None for v in (self.image, self.git, self.env_name))


@message("job_restart_policy")
class JobRestartPolicy(Message):
    """When and how fast the node restarts a run that ended (see docs/jobs.md)."""

    type: Literal["always", "on-failure", "never"]
    backoff_seconds: Seconds
    max_backoff_seconds: Seconds
    reset_after_seconds: Seconds
    restart_window_seconds: Seconds
    max_restarts: Annotated[int, Min(0)] | None = None

    def __post_init__(self) -> None:
        if self.max_backoff_seconds < self.backoff_seconds:
            raise ValueError("max_backoff_seconds must be >= backoff_seconds")


@message("job_health_check")
class JobHealthCheck(Message):
    """A periodic probe: ``exec`` runs ``command``, ``http`` GETs ``url``, ``tcp``
    connects to ``host``:``port``. The fields of other types are absent."""

    type: Literal["exec", "http", "tcp"]
    initial_delay_seconds: Seconds
    period_seconds: Annotated[float, Min(0), Max(WEEK)]
    timeout_seconds: Annotated[float, Min(0), Max(WEEK)]
    failure_threshold: Annotated[int, Min(1), Max(1000)]
    command: Annotated[tuple[Arg, ...], MinLen(1)] | None = None
    url: Url | None = None
    port: Annotated[int, Min(1), Max(65_535)] | None = None
    host: Annotated[str, MinLen(1)] | None = None

    def __post_init__(self) -> None:
        needed = {"exec": ("command",), "http": ("url",), "tcp": ("port", "host")}[self.type]
        for name in needed:
            if getattr(self, name) is None:
                raise ValueError(f"a {self.type} check needs {name!r}")
        if self.period_seconds <= 0 or self.timeout_seconds <= 0:
            raise ValueError("period_seconds and timeout_seconds must be > 0")


Port = Annotated[int, Min(1), Max(65_535)]


@message("job_experiment")
class JobExperiment(Message):
    """What a node needs of a process's part in an experiment: the names it binds and
    exposes, each with its fixed port or ``None`` (a port from the node's range).

    Protocol 5 added ``connects`` (the names it reaches, whose ``SYMPH_*`` values a node
    may point at a tunnel) and ``network`` (the experiment's: ``relay`` tunnels every
    name bound on another node, ``direct`` none, ``auto`` those not reachable directly).
    """

    # Both required: a map that is not this (a wrong type on the wire) is refused.
    binds: Annotated[dict[str, Port | None], MaxLen(256)]
    exposes: Annotated[dict[str, Port | None], MaxLen(256)]
    connects: Annotated[tuple[Annotated[str, MaxLen(63)], ...], MaxLen(256)] = ()
    network: Literal["auto", "direct", "relay"] = "auto"

    def fixed_ports(self) -> tuple[int, ...]:
        """The fixed ports asked for, sorted."""
        wanted = [*self.binds.values(), *self.exposes.values()]
        return tuple(sorted({port for port in wanted if port is not None}))


@message("job_spec")
class JobSpec(Message):
    """Everything a node needs to run one instance of a deployment.

    Built by the Conductor from a validated deployment spec; every field is filled.
    Kinds ``docker`` and ``podman`` (protocol 4) go only to nodes that reported that
    runtime, so an older node never sees one.
    """

    kind: Literal["exec", "docker", "podman"]
    config: JobConfig
    restart_policy: JobRestartPolicy
    stop_signal: str
    stop_timeout_seconds: Annotated[float, Min(0), Max(3600)]
    log_max_bytes: Annotated[int, Min(4096), Max(2**40)]
    log_backups: Annotated[int, Min(0), Max(100)]
    health_check: JobHealthCheck | None = None
    # Protocol 4: an experiment's process; the node refuses to start it while another
    # program holds one of its fixed ports.
    experiment: JobExperiment | None = None

    def __post_init__(self) -> None:
        if self.kind == "exec" and not self.config.command:
            raise ValueError("an exec job needs a command")
        image = self.config.image
        if self.kind == "exec":
            if image is not None and not _ARCHIVE.matches(image):
                raise ValueError(f"an exec job's image is {_ARCHIVE.rule}")
        elif image is None:
            raise ValueError(f"a {self.kind} job needs an image")
        elif len(image) > MAX_IMAGE_LENGTH or not _IMAGE.matches(image):
            raise ValueError(f"a {self.kind} job's image is an image reference")
        elif self.config.sha256 or self.config.git or self.config.env_name:
            raise ValueError(f"sha256, git and env_name are only for exec jobs, not {self.kind}")
        if self.stop_signal not in signal.Signals.__members__:
            raise ValueError(f"stop_signal {self.stop_signal[:40]!r} is not a signal name")

    @property
    def signum(self) -> signal.Signals:
        """``stop_signal`` as a :class:`signal.Signals`."""
        return signal.Signals[self.stop_signal]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready): what :func:`job_spec_from_dict` reads back."""
        plain: dict[str, Any] = _plain(self)
        return plain


def _plain(value: Any) -> Any:
    if isinstance(value, Message):
        names: tuple[str, ...] = type(value).__slots__
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def job_spec_from_dict(data: Any) -> JobSpec:
    """Check ``data`` with the frame compiler and build a :class:`JobSpec` from it.

    ``data`` is a deployment spec's plain dict (``DeploymentSpec.to_dict()``: its other
    keys are ignored) or a ``JobSpec.to_dict()`` kept on disk. Raises
    :class:`~symphony.wire.errors.ProtocolError` naming the field that does not fit.
    """
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        config = data["config"]
        # A deployment spec leaves out what a kind does not use (None); the wire has
        # an empty command for "the image's own" and no other keys.
        config = {k: v for k, v in config.items() if v is not None}
        data = {**data, "config": {"command": [], **config}}
    spec: JobSpec = build(JobSpec, data, "spec")
    return spec
