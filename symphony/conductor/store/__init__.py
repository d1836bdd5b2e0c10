"""The Conductor's durable state: SQLite (WAL) or PostgreSQL, versioned schema, typed records.

    store = Store.open("storage/symphony.db")     # or Store.open_url("postgresql://...")
    record = store.create_deployment(spec)              # NameConflict if the name is taken
    store.upsert_instances([InstanceRecord(new_id("i"), record.id, 0)])
    store.append_event("created", "deployment created", deployment_id=record.id)

Errors are drawn in :mod:`symphony.conductor.store._errors`.
"""

from symphony.wire.states import InstanceState

from ._counters import RESTARTS
from ._errors import (
    AlreadyExists,
    ConstraintViolation,
    CorruptRecord,
    Fenced,
    GenerationConflict,
    NameConflict,
    NotFound,
    RollConflict,
    SchemaTooNew,
    StoreError,
    StoreUnavailable,
)
from ._experiments import ExperimentNameConflict
from ._leases import Lease
from ._reader import StoreReader
from ._records import (
    INSTANCE_STATES,
    DeploymentRecord,
    EventRecord,
    ExperimentRecord,
    InstanceRecord,
    JoinTokenRecord,
    NewEvent,
    PlacementNote,
    VersionRecord,
    new_id,
)
from ._runs import RunMember, RunRecord, RunState
from ._schema import MIGRATIONS, migrate
from ._secrets import SecretRecord
from ._store import DEFAULT_PATH, Store
from ._versions import KEEP_VERSIONS

__all__ = [
    "DEFAULT_PATH",
    "INSTANCE_STATES",
    "KEEP_VERSIONS",
    "MIGRATIONS",
    "RESTARTS",
    "AlreadyExists",
    "ConstraintViolation",
    "CorruptRecord",
    "DeploymentRecord",
    "EventRecord",
    "ExperimentNameConflict",
    "ExperimentRecord",
    "Fenced",
    "GenerationConflict",
    "InstanceRecord",
    "InstanceState",
    "JoinTokenRecord",
    "Lease",
    "NameConflict",
    "NewEvent",
    "NotFound",
    "PlacementNote",
    "RollConflict",
    "RunMember",
    "RunRecord",
    "RunState",
    "SchemaTooNew",
    "SecretRecord",
    "Store",
    "StoreError",
    "StoreReader",
    "StoreUnavailable",
    "VersionRecord",
    "migrate",
    "new_id",
]
