"""Typed records the store takes and returns (never bare dicts).

Times are Unix seconds (float). Records are frozen: change one with
``dataclasses.replace`` and write it back.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from symphony.spec import DeploymentSpec
from symphony.wire.states import InstanceState

from ..binding import JoinBinding

if TYPE_CHECKING:
    from symphony.spec import ExperimentSpec  # loaded with the first experiment

#: Every instance state, in lifecycle order (their meanings: :mod:`symphony.wire.states`).
INSTANCE_STATES: tuple[str, ...] = tuple(state.value for state in InstanceState)


def new_id(prefix: str) -> str:
    """A random id like ``d_5f0c2a9e1b7d4c38``.

    The ``_`` cannot appear in a deployment name (a DNS label), so an id and a name can
    never be confused when the API accepts either.
    """
    return f"{prefix}_{secrets.token_hex(8)}"


# ordered_id's second half: the 4096th of the second (12 bits), then a serial from a
# random start scrambled by a bijection of 20 bits (an odd multiplier, then a random
# key), so consecutive ids do not look it.
_SERIAL = itertools.count(secrets.randbits(20))
_KEY = secrets.randbits(20)
_ODD = 0x9E3B1
_SERIAL_BITS = 20
_SERIAL_MASK = (1 << _SERIAL_BITS) - 1
#: Parts of a second the id's second half begins with (12 bits: 244 µs each).
_FRACTIONS = 4096


def ordered_id(prefix: str, now: float) -> str:
    """An id like :func:`new_id`'s (``d_`` and 16 hex digits) whose first 8 digits are
    the second ``now`` falls in and the next 3 the 4096th of that second, for the rows
    that many indexes are keyed by.

    Ids made close in time sort close together, so storing a group of them touches the
    same few pages of each index keyed by them (a deployment's id keys four): the ids
    made since the last group sort after every id stored before (a random id touched a
    page of each per row, and every touched page is written again at the commit; with
    only the second in front, the groups of one busy second still landed all over that
    second's range). The last 5 digits are a serial, unique within this process for
    2**20 ids in one 4096th of a second, that looks random; two processes (a Conductor
    restarted within the same second, or a standby taking over) share an id with a
    chance of 1 in 2**32 per pair of ids made in the same second, as before: 1 in 4096
    that they fall in the same part, then 1 in 2**20.
    """
    whole = int(now)
    part = min(int((now - whole) * _FRACTIONS), _FRACTIONS - 1)
    low = ((next(_SERIAL) * _ODD) ^ _KEY) & _SERIAL_MASK
    return f"{prefix}_{whole & 0xFFFFFFFF:08x}{part:03x}{low:05x}"


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """A stored deployment; ``generation`` grows by one on every spec change."""

    id: str
    name: str
    spec: DeploymentSpec
    generation: int
    created_at: float
    updated_at: float
    failure: str | None = None  # why it gave up (see DeploymentSupervisor); None: it did not
    version: int = 1  # the template it runs, or rolls to (see VersionRecord)
    roll_state: str | None = None  # rolling, canary, promoted, paused; None: no roll
    roll_reason: str | None = None  # why it is paused (or reverting)
    #: The generation of the change that last started it (stopped to running): its
    #: instances of older generations are replaced, not carried over (a fresh start).
    fresh_generation: int = 1

    @property
    def desired_state(self) -> str:
        return self.spec.desired_state


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    """A stored experiment: its own spec; its processes are deployments of their own."""

    name: str
    spec: ExperimentSpec
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class PlacementNote:
    """Where the Scheduler placed a pending instance, stored before its start is sent
    (see :meth:`~symphony.conductor.store.Store.note_placements`)."""

    instance_id: str
    node_id: str
    reservation: Mapping[str, int]
    network: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One replica's current incarnation and what is known about its process."""

    id: str
    deployment_id: str
    replica: int
    state: InstanceState = InstanceState.PENDING
    node_id: str | None = None
    pid: int | None = None
    restarts: int = 0
    exit_code: int | None = None
    signal: str | None = None
    reason: str | None = None
    health: str | None = None
    reservation: Mapping[str, int] = field(default_factory=dict)
    generation: int = 1  # of the deployment spec this instance runs
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0  # set by the store on every write
    restart_at: float | None = None  # while restarting: when the node starts it again
    # An experiment's process: {"ports": {name: port}, "env": {SYMPH_...: value}}.
    network: Mapping[str, Any] = field(default_factory=dict)
    version: int = 1  # of the deployment's template this instance runs
    devices: tuple[str, ...] = ()  # the GPU devices its node gave it (kept once it ended)

    def __post_init__(self) -> None:
        # Plain strings (a row, a literal) become the enum; an unknown state is refused.
        try:
            state = InstanceState(self.state)
        except ValueError:
            raise ValueError(
                f"instance state must be one of {INSTANCE_STATES}, got {self.state!r}"
            ) from None
        object.__setattr__(self, "state", state)


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One version of a deployment: a template (what shapes its processes) and how its
    roll went: ``rolling``, ``canary`` (waiting for a promote), ``good`` (rolled out),
    ``failed`` (``reason`` says why), ``superseded`` (a newer change ended its roll
    unfinished)."""

    deployment_id: str
    version: int
    spec: DeploymentSpec
    status: str
    reason: str | None
    created_at: float
    used_at: float  # when it last became the deployment's current version


@dataclass(frozen=True, slots=True)
class EventRecord:
    """Something that happened, for a person reading a deployment's history."""

    id: int
    at: float
    kind: str
    message: str
    deployment_id: str | None = None
    instance_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append (the store assigns ``id`` and, unless given, ``at``)."""

    kind: str
    message: str
    deployment_id: str | None = None
    instance_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    at: float | None = None


@dataclass(frozen=True, slots=True)
class JoinTokenRecord:
    """A node join token. Only a hash of the secret is stored."""

    id: str
    secret_hash: str
    created_at: float
    expires_at: float | None = None
    single_use: bool = True
    used_at: float | None = None
    #: What a node joining with it may claim (see :mod:`symphony.conductor.binding`).
    binding: JoinBinding | None = None

    def usable(self, now: float) -> bool:
        """Not expired, and not spent if single-use."""
        if self.expires_at is not None and now >= self.expires_at:
            return False
        return not (self.single_use and self.used_at is not None)
