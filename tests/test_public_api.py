"""Every package's public surface is pinned, and no code reaches into another's internals.

A package's public names are the ones its ``__init__.py`` lists in ``__all__``; the rest
(``_private`` modules and names) may change without notice. Two rules keep that true:

- each package's ``__all__`` is pinned below, so changing a public surface is a
  deliberate act that shows up in review (edit :data:`PUBLIC` in the same change);
- no module imports another package's private modules or names
  (``from symphony.actors._mailbox import Mailbox`` outside ``symphony/actors``, or
  ``from symphony.node.process.client import _connect`` outside ``symphony/node/process``).
  Export what is needed from the package instead, or move the code where it belongs.

Tests may exercise a package's private modules directly (white-box tests, as Trio's own
tests do); the rule covers the shipped code: ``symphony/`` and ``benchmarks/``.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED_TREES = ("symphony", "benchmarks")

PUBLIC: dict[str, set[str]] = {
    "symphony": {"__version__"},
    "symphony.actors": {
        "Actor", "ActorConfigError", "ActorCrashed", "ActorError", "ActorRef", "ActorStopped",
        "AskTimeout", "Backoff", "BackoffTracker", "ChildInfo", "ChildSpec", "DuplicateChild",
        "InlineActor",
        "MailboxFull", "Outbox", "Reply", "RestartType", "Strategy", "Supervisor",
        "SupervisorFailed", "raise_unchanged", "sole_exception", "spawn",
    },
    "symphony.cli": {
        "CLIError", "SymphonyParser", "build_parser", "conductor_main", "main", "node_main",
        "run_service",
    },
    "symphony.client": {
        "ApiError", "AsyncClient", "Client", "ClientError", "ConductorUnreachable",
        "DeploymentRows",
        "Located", "find_conductor", "find_token", "locate",
    },
    "symphony.engine": {
        "Cluster", "EngineError", "ExperimentExists", "ExperimentSpec", "LocalCluster",
        "ProcessGroupSpec", "ProcessSpec", "SymphonyCluster", "SymphonyConfig",
    },
    "symphony.conductor": {"ConductorInfo", "build_tree", "run_conductor"},
    "symphony.httpd": {
        "ASGIApp", "ASGIReceiveCallable", "ASGISendCallable", "LifespanFailure", "Message",
        "Scope", "ServerSettings", "serve",
    },
    "symphony.conductor.api": {
        "ApiContext", "HttpError", "HttpServer", "HttpSettings", "SnapshotCache", "create_app",
        "ensure_api_token",
    },
    "symphony.conductor.deployments": {
        "CapacityUsage", "CreateDeployment", "CreateDeployments", "DeleteDeployment",
        "DeploymentSupervisor", "Deployments", "EventLog", "Failed", "Scheduler",
        "SchedulerStats", "UpdateDeployment",
    },
    "symphony.conductor.nodes": {
        "Gateway", "GatewaySettings", "NodeRegistry", "NodeSession", "NodeState", "NodeView",
        "liveness_timeout",
    },
    "symphony.conductor.placement": {
        "STRATEGIES", "AlreadyReserved", "CapacityLedger", "ClusterState", "LedgerError",
        "NodeView", "OverCapacity", "PendingInstance", "Placement", "Plan", "Reservation",
        "Strategy", "UnknownNode", "Unplaced", "job_needs", "never_placeable",
        "never_placeable_gang", "node_tags", "plan_placements",
        "plan_gang", "runtime_requests", "runtime_totals",
    },
    "symphony.conductor.timetable": {
        "MAX_NAP", "Due", "Tick", "Timetable", "due", "is_catch_up", "next_time",
    },
    "symphony.conductor.store": {
        "DEFAULT_PATH", "INSTANCE_STATES", "MIGRATIONS", "RESTARTS", "AlreadyExists",
        "CorruptRecord", "DeploymentRecord", "EventRecord", "GenerationConflict",
        "InstanceRecord", "InstanceState", "JoinTokenRecord", "NameConflict", "NewEvent",
        "NotFound", "RunMember", "RunRecord", "RunState", "SchemaTooNew", "SecretRecord",
        "Store", "StoreError", "StoreReader", "migrate", "new_id",
        "ExperimentNameConflict", "ExperimentRecord",
        # placements stored before their starts go out
        "PlacementNote",
        # rolling updates
        "KEEP_VERSIONS", "RollConflict", "VersionRecord",
        # PostgreSQL
        "ConstraintViolation", "StoreUnavailable",
        # leadership
        "Fenced", "Lease",
    },
    "symphony.config": {
        "ConductorConfig", "Config", "ConfigError", "LoggingConfig", "NodeConfig",
        "MAX_CHARS", "load_config", "load_yaml", "parse_config", "read_config_file",
        "read_yaml_text", "values",
    },
    "symphony.node": {"NodeCredentialsError", "NodeHandle", "build_tree", "run_node"},
    "symphony.node.sources": {"SourceError", "SourcePreparer"},
    "symphony.node.container": {
        "CONTAINER_KINDS", "ContainerError", "attach_argv", "container_name", "detect_runtimes",
        "find_container", "prepare_image", "remove_container", "run_argv", "stop_container",
    },
    "symphony.node.process": {
        "GetReport", "InstanceExists", "InstanceReport", "MonitorError", "MonitorLost",
        "NodeContext", "ProcessManager", "ProcessSupervisor", "StartRequest", "StatusUpdate",
        "StopInstance", "UnknownInstance", "monitor_alive", "monitor_gone", "stop_monitor",
    },
    "symphony.pki": {
        "DEFAULT_HOSTS", "SHARED_CLIENT_CN", "CAFingerprintMismatch", "CertificateAuthority",
        "CertificateError", "ConductorPKI", "JoinToken", "JoinTokenError", "JoinTokenExpired",
        "JoinTokenInvalid", "JoinTokenUsed", "PKIError", "ca_fingerprint",
        "check_ca_fingerprint", "client_ssl_context", "consume_join_token", "create_ca",
        "ensure_conductor_pki", "ensure_private_dir", "issue_node_certificate",
        "make_node_key_and_csr", "new_join_token", "parse_join_token", "peer_node_id",
        "pinned_ca_ssl_context", "restrict_file", "server_ssl_context",
        "server_ssl_context_from_files", "validate_node_id", "verify_join_token",
        "write_private_file",
    },
    "symphony.spec": {
        "DeploymentSpec", "ExecConfig", "GitSource", "HealthCheck", "PlacementPolicy",
        "Reschedule", "RestartPolicy", "RestartSchedule", "Schedule", "SpecError", "apply_patch",
        "check_label_key", "check_label_value", "did_you_mean", "is_commit", "merge_patch",
        "parse_spec", "parse_stored_spec", "time_zone", "translate_errors",
        # experiments
        "ExperimentRole", "ExperimentSpec", "ProcessGroupSpec", "ProcessSpec",
        "parse_experiment", "process_deployments", "variable_stem",
        "SecretRef", "secret_refs", "SecretName", "MAX_SECRET_BYTES", "check_secret_name",
        # rolling updates
        "UpdatePolicy", "KEPT_FIELDS",
    },
    "symphony.conductor.relay": {"RelayError", "RelayHub", "RelayTable", "Target", "find_service"},
    "symphony.wire": {
        "CLOSE_GOING_AWAY", "CLOSE_INTERNAL_ERROR", "CLOSE_NORMAL", "CLOSE_POLICY_VIOLATION",
        "CLOSE_PROTOCOL_ERROR", "DEFAULT_MAX_FRAME_SIZE", "INSTANCE_STATES", "MAX_USAGE_INSTANCES",
        "MESSAGE_TYPES", "MIN_PROTOCOL_VERSION", "NODE_MIN_PROTOCOL_VERSION", "NODE_WS_PATH",
        "InstanceSecrets",
        "PROTOCOL_VERSION", "ConductorConnection", "ConnectFailed", "ConnectTimeout",
        "ConnectionClosed", "EncodeError", "Error", "FrameTooLarge", "Heartbeat", "Hello",
        "HelloAccepted", "HelloRefused", "HelloRejected", "InstanceReport", "InstanceStatus",
        "InstanceUsage", "JobConfig", "JobGit", "JobHealthCheck", "JobRestartPolicy", "JobSpec",
        "JoinCA", "JoinOk", "JoinRefused", "JoinRequest", "LinkError", "LogCancel", "LogChunk",
        "LogCredit", "LogRequest", "Message", "NodeConnection",
        "ProtocolError", "ServerUntrusted", "StartInstance", "StatusBatch", "StopInstance",
        "TLSRejected", "TransportError", "UPLOAD_CHUNK", "UploadData", "UploadRead",
        "VersionMismatch", "WireConnection", "answer_hello",
        "client_hello", "connect_to_conductor", "decode", "encode", "job_spec_from_dict",
        "message", "negotiate_version", "peer_node_id", "receive_hello", "serve_nodes",
        # relayed streams (protocol 5)
        "OpenStream",
    },
}  # fmt: skip


def packages(root: Path = ROOT) -> list[str]:
    """Dotted names of every package (a folder with ``__init__.py``) under ``symphony/``."""
    inits = (root / "symphony").rglob("__init__.py")
    return sorted(".".join(p.parent.relative_to(root).parts) for p in inits)


def test_every_package_has_a_pinned_surface() -> None:
    assert set(packages()) == set(PUBLIC), "add the new package's __all__ to PUBLIC"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_package_public_names_are_pinned(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    assert set(exported) == PUBLIC[name]
    for attr in exported:  # each resolves (lazy ones too)
        assert hasattr(module, attr), f"{name}.__all__ lists {attr!r}, which does not exist"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_package_init_exposes_nothing_outside_all(name: str) -> None:
    """A public name bound in ``__init__.py`` from Symphony code is listed in ``__all__``."""
    init = ROOT.joinpath(*name.split("."), "__init__.py")
    bound = set()
    for node in ast.parse(init.read_text()).body:  # top level only: not TYPE_CHECKING blocks
        if isinstance(node, ast.ImportFrom) and (node.level or node.module.startswith("symphony")):
            bound |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            bound.add(node.name)
    public = {n for n in bound if not n.startswith("_")}
    assert public <= PUBLIC[name], f"{name} binds public names missing from __all__"


def _is_package(root: Path, dotted: list[str]) -> bool:
    return root.joinpath(*dotted, "__init__.py").is_file()


def _imported_names(path: Path, root: Path) -> Iterator[tuple[int, list[str]]]:
    """``(line, dotted parts)`` of every Symphony name a module imports, relative ones resolved."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    package = parts[:-1]  # an __init__.py's package is its folder, like any module's
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = base + (node.module.split(".") if node.module else [])
            else:
                module = (node.module or "").split(".")
            for alias in node.names:
                yield node.lineno, [*module, alias.name]


def private_imports(root: Path, trees: tuple[str, ...] = CHECKED_TREES) -> list[str]:
    """Every import under ``trees`` of a private module or name owned by another package.

    The owner of ``a.b._c`` (or of ``a.b.mod._c``) is the package ``a.b``: only modules
    of that very package may import it.
    """
    found = []
    for tree in trees:
        for path in sorted((root / tree).rglob("*.py")):
            importer = list(path.relative_to(root).parent.parts)
            for line, dotted in _imported_names(path, root):
                if dotted[0] != "symphony":
                    continue
                for i, part in enumerate(dotted):
                    if part.startswith("_") and not part.startswith("__"):
                        owner = dotted[:i] if _is_package(root, dotted[:i]) else dotted[: i - 1]
                        if owner != importer:
                            where = f"{path.relative_to(root)}:{line}"
                            found.append(f"{where} imports {'.'.join(dotted)}")
                        break
    return found


def test_no_module_imports_another_packages_private_names() -> None:
    assert private_imports(ROOT) == []


def test_private_import_check_catches_each_form(tmp_path: Path) -> None:
    def write(rel: str, text: str = "") -> None:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    for pkg in ("symphony", "symphony/a", "symphony/b", "symphony/b/sub"):
        write(f"{pkg}/__init__.py")
    write("symphony/a/_impl.py", "X = 1\n_y = 2\n")
    write("symphony/a/mod.py", "from ._impl import X, _y\nfrom . import _impl\n")  # own: fine
    write("symphony/a/__init__.py", "from ._impl import X\n")  # own: fine
    write(
        "symphony/b/user.py",
        "from symphony.a._impl import X\n"  # another package's private module
        "from symphony.a.mod import _y\n"  # another package's private name
        "from symphony.a import _impl\n"  # the private module, as a name
        "import symphony.a._impl\n"  # plain import
        "from ..a._impl import X\n"  # relative
        "from symphony.a import X\n",  # the public way: fine
    )
    write("symphony/b/sub/deep.py", "from .._private import Z\n")  # the parent's: not its own
    found = private_imports(tmp_path, ("symphony",))
    assert [f.split(" ", 1)[0] for f in found] == [
        "symphony/b/sub/deep.py:1",
        "symphony/b/user.py:1",
        "symphony/b/user.py:2",
        "symphony/b/user.py:3",
        "symphony/b/user.py:4",
        "symphony/b/user.py:5",
    ]
