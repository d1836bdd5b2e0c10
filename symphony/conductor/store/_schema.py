"""Schema and migrations, one set for SQLite and PostgreSQL, versioned with ``PRAGMA
user_version`` (SQLite) or a one-row table (PostgreSQL).

``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``. Append a step to
change the schema; never edit a step that has shipped (databases in the field ran it).
Each step runs in its own transaction together with the version bump, so a crash mid-way
leaves the database at the previous version, not half-migrated (PostgreSQL's DDL is
transactional too). Write steps in SQLite's words with ``REAL``/``INTEGER``/``BLOB``
types: :func:`~._dialect.pg_ddl` gives PostgreSQL its own.

Several Conductors may start on one database at once: each step's transaction holds
the database's write lock and reads the version again inside it, so one of them runs
the step and the others find it done.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ._db import Db, SqliteDb
from ._errors import SchemaTooNew

V1 = """
CREATE TABLE deployments (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    spec          TEXT NOT NULL,              -- JSON, DeploymentSpec.to_dict()
    desired_state TEXT NOT NULL,              -- copy of spec.desired_state, for queries
    generation    INTEGER NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);
CREATE TABLE instances (
    id            TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    replica       INTEGER NOT NULL,
    node_id       TEXT,
    state         TEXT NOT NULL,
    pid           INTEGER,
    restarts      INTEGER NOT NULL DEFAULT 0,
    exit_code     INTEGER,
    signal        TEXT,
    reason        TEXT,
    health        TEXT,
    reservation   TEXT NOT NULL DEFAULT '{}', -- JSON {class: amount}
    generation    INTEGER NOT NULL,
    started_at    REAL,
    finished_at   REAL,
    updated_at    REAL NOT NULL
);
CREATE INDEX instances_by_deployment ON instances(deployment_id, replica);
CREATE INDEX instances_by_node ON instances(node_id);
CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a safe "after" cursor
    deployment_id TEXT REFERENCES deployments(id) ON DELETE CASCADE,
    instance_id   TEXT,
    at            REAL NOT NULL,
    kind          TEXT NOT NULL,
    message       TEXT NOT NULL,
    data          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_deployment ON events(deployment_id, id);
CREATE TABLE join_tokens (
    id            TEXT PRIMARY KEY,
    secret_hash   TEXT NOT NULL,
    created_at    REAL NOT NULL,
    expires_at    REAL,
    single_use    INTEGER NOT NULL,
    used_at       REAL
);
"""

# The incarnation token of the agent last accepted for each node id (node fencing).
V2 = """
CREATE TABLE nodes (
    node_id       TEXT PRIMARY KEY,
    incarnation   TEXT NOT NULL,
    updated_at    REAL NOT NULL
);
"""

# Why a deployment stopped trying (its replicas spent their reschedule attempts); NULL
# while it is not failed. Starting the deployment again clears it.
V3 = """
ALTER TABLE deployments ADD COLUMN failure TEXT;
"""

# Nodes an operator is draining (``POST /nodes/{id}/drain``): they keep what they run
# but take no new work, across Conductor restarts, until undrained. A table of its own:
# a node may be drained before its first hello, when it has no incarnation yet.
V4 = """
CREATE TABLE node_drains (
    node_id       TEXT PRIMARY KEY,
    since         REAL NOT NULL
);
"""

# What a join token binds (JSON, symphony.conductor.binding), and the binding each node
# id got from the token it last joined with, checked at every hello of that node.
V5 = """
ALTER TABLE join_tokens ADD COLUMN binding TEXT;
CREATE TABLE node_bindings (
    node_id       TEXT PRIMARY KEY,
    binding       TEXT NOT NULL,
    token_id      TEXT NOT NULL,
    bound_at      REAL NOT NULL
);
"""

# When an instance waiting out its restart backoff starts again; and that wait now has
# its own state: a run that ended with a restart to follow was stored as a live
# "exited" (no finished_at), which is "restarting" now ("exited" is always final).
# Counters that only grow (metrics), kept across restarts.
V6 = """
ALTER TABLE instances ADD COLUMN restart_at REAL;
UPDATE instances SET state = 'restarting' WHERE state = 'exited' AND finished_at IS NULL;
CREATE TABLE counters (
    name          TEXT PRIMARY KEY,
    value         INTEGER NOT NULL
);
"""

# Experiments: processes that find each other by name. Each process is a deployment
# named ``<experiment>.<process>`` (its spec says which experiment owns it); this table
# keeps the experiment's own spec, the one the API shows and changes. An instance of a
# process keeps its network (JSON: the ports its names got, the SYMPH_* environment).
V7 = """
CREATE TABLE experiments (
    name          TEXT PRIMARY KEY,
    spec          TEXT NOT NULL,              -- JSON, ExperimentSpec.to_dict()
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);
ALTER TABLE instances ADD COLUMN network TEXT NOT NULL DEFAULT '{}';
"""

# Scheduled deployments: their runs (one per firing of ``schedule``, with each replica's
# last instance and exit code as JSON, so the history outlives pruned instances), and the
# cron time each schedule last fired, so a restarted Conductor knows what it missed.
V8 = """
CREATE TABLE runs (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    number        INTEGER NOT NULL,
    scheduled_at  REAL NOT NULL,
    started_at    REAL NOT NULL,
    finished_at   REAL,
    state         TEXT NOT NULL,
    catch_up      INTEGER NOT NULL DEFAULT 0,
    members       TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (deployment_id, number)
);
CREATE TABLE schedule_fires (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    fired_at      REAL NOT NULL,
    PRIMARY KEY (deployment_id, kind)
);
"""

# Versions (rolling updates): a version is one template of a deployment's spec (what
# shapes its processes). The deployment runs ``version`` and may be rolling to it
# (``roll_state``: rolling, canary, promoted, paused; NULL when no roll is under way);
# each instance runs one version; the last versions are kept with how their roll went.
# Every deployment that exists now starts at version 1, counted as good.
V9 = """
ALTER TABLE deployments ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE deployments ADD COLUMN roll_state TEXT;
ALTER TABLE deployments ADD COLUMN roll_reason TEXT;
ALTER TABLE instances ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE TABLE deployment_versions (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    spec          TEXT NOT NULL,              -- JSON, the whole spec when it was made
    status        TEXT NOT NULL,              -- rolling, canary, good, failed
    reason        TEXT,                       -- why it failed
    created_at    REAL NOT NULL,
    used_at       REAL NOT NULL,              -- when it last became the current version
    PRIMARY KEY (deployment_id, version)
);
INSERT INTO deployment_versions (deployment_id, version, spec, status, created_at, used_at)
    SELECT id, 1, spec, 'good', created_at, updated_at FROM deployments;
"""

# The GPU devices a node gave each instance (JSON list of device ids).
V10 = """
ALTER TABLE instances ADD COLUMN devices TEXT NOT NULL DEFAULT '[]';
"""

# Secrets, sealed with AES-GCM by the Conductor (symphony.conductor.secrets): the
# database alone never reveals a value.
V11 = """
CREATE TABLE secrets (
    name          TEXT PRIMARY KEY,
    sealed        BLOB NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);
"""

# Named leases (the Conductors' leadership): who holds it, its fencing token (raised on
# every change of holder, never lowered), until when, and where the holder's API is.
V12 = """
CREATE TABLE leases (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL,
    token         INTEGER NOT NULL,
    expires_at    REAL NOT NULL,
    url           TEXT,
    acquired_at   REAL NOT NULL
);
"""

# Fingerprints of the CA, API token and secrets key each Conductor sharing the database
# was given (symphony.conductor.shared): the first to start records them.
V13 = """
CREATE TABLE shared_material (
    name          TEXT PRIMARY KEY,
    fingerprint   TEXT NOT NULL,
    recorded_at   REAL NOT NULL
);
"""

# Instances waiting for a node (node_id NULL) are left out of the index by node: every
# query of it names a node, and a new instance, inserted and then saved again with the
# Scheduler's answer, no longer writes an entry of it each time.
V14 = """
DROP INDEX instances_by_node;
CREATE INDEX instances_by_node ON instances(node_id) WHERE node_id IS NOT NULL;
"""

# The generation of the change that last started a deployment (stopped to running): its
# instances of older generations are replaced, never carried over, by a supervisor that
# reads the deployment back from the store (see deployments/carrying.py). What changes a
# database of an older release still holds unhandled is not known: each deployment
# counts as started at its current generation, as that release treated them.
V15 = """
ALTER TABLE deployments ADD COLUMN fresh_generation INTEGER NOT NULL DEFAULT 1;
UPDATE deployments SET fresh_generation = generation;
"""

# A lease held by a Conductor without ``lease_seconds`` (alone on its store, it never
# steps down): a Conductor that finds one live refuses to start (leadership.py).
V16 = """
ALTER TABLE leases ADD COLUMN alone INTEGER NOT NULL DEFAULT 0;
"""

# Every node id a join gave a certificate, with the token it last joined with: only a
# token bound to that id may enrol it again (symphony.conductor.join). Ids that joined
# with a binding before are known; the others, from an unbound token, are known once
# they said hello (the nodes table), which the join checks as well.
V17 = """
CREATE TABLE node_enrolments (
    node_id       TEXT PRIMARY KEY,
    token_id      TEXT NOT NULL,
    enrolled_at   REAL NOT NULL
);
INSERT INTO node_enrolments (node_id, token_id, enrolled_at)
    SELECT node_id, token_id, bound_at FROM node_bindings;
"""

# A version's status says how its rolls ended, never how one goes: older releases
# copied the roll's state into it (``promoted``, ``reverting``) and left it so when a
# newer change ended the roll unfinished. Such a version not current was superseded,
# unless it was being reverted to: a revert goes back only to a good version, which
# stays good now while a roll goes back to it; the current one rolls (or, reverted
# to, is good). What a current ``rolling`` or ``canary`` one says is still true.
V18 = """
UPDATE deployment_versions SET status = 'good' WHERE status = 'reverting';
UPDATE deployment_versions SET status = 'superseded'
    WHERE status IN ('rolling', 'canary', 'promoted')
    AND version <> (SELECT d.version FROM deployments d
                    WHERE d.id = deployment_versions.deployment_id);
UPDATE deployment_versions SET status = 'rolling' WHERE status = 'promoted';
"""

MIGRATIONS: tuple[str, ...] = (
    V1,
    V2,
    V3,
    V4,
    V5,
    V6,
    V7,
    V8,
    V9,
    V10,
    V11,
    V12,
    V13,
    V14,
    V15,
    V16,
    V17,
    V18,
)


def schema_version(conn: Db | sqlite3.Connection) -> int:
    return _db(conn).schema_version()


def migrate(conn: Db | sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring ``conn`` (in autocommit mode) up to ``len(migrations)``; returns that version.

    Raises :class:`SchemaTooNew` for a database written by newer code: running old code
    on it could silently drop what the new columns mean.
    """
    db = _db(conn)
    target = len(migrations)
    _check_not_newer(db.schema_version(), target)
    while (current := db.schema_version()) < target:
        db.begin_write()
        try:
            # Again under the write lock: another Conductor may have run this step.
            current = db.schema_version()
            _check_not_newer(current, target)
            if current < target:
                for statement in _statements(migrations[current]):
                    db.run_script_statement(statement)
                db.set_schema_version(current + 1)
            db.commit()
        except BaseException:
            db.rollback()
            raise
    return target


def _db(conn: Db | sqlite3.Connection) -> Db:
    return SqliteDb(conn) if isinstance(conn, sqlite3.Connection) else conn


def _check_not_newer(current: int, target: int) -> None:
    if current > target:
        raise SchemaTooNew(
            f"the database schema is version {current}, newer than this Symphony "
            f"understands ({target}); upgrade Symphony or point it at another database"
        )


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction first; split on complete statements.
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
