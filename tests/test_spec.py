"""The deployment spec model: the seed spec, defaults, refusals with field paths."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony.spec import DeploymentSpec, SpecError, parse_spec, parse_stored_spec
from symphony.wire import job_spec_from_dict

SEED = {
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "kind": "exec",
    "config": {"command": ["python3", "main.py"], "env": {"LOG_LEVEL": "info"}},
    "restart_policy": {"type": "on-failure", "backoff_seconds": 10},
}


def minimal(**fields: object) -> dict[str, object]:
    return {"config": {"command": ["sleep", "1"]}, **fields}


def errors_of(data: object) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return {e["path"]: e["message"] for e in info.value.errors}


def test_spec_seed_is_valid_verbatim() -> None:
    spec = parse_spec(copy.deepcopy(SEED))
    assert spec.node_group == "gpu-1"
    assert spec.capacity_requests == {"Analytic1": 1}
    assert spec.config.command == ["python3", "main.py"]
    assert spec.config.env == {"LOG_LEVEL": "info"}
    assert spec.restart_policy.type == "on-failure"
    assert spec.restart_policy.backoff_seconds == 10


def test_spec_defaults_are_documented_values() -> None:
    spec = parse_spec(minimal())
    assert spec.replicas == 1
    assert spec.desired_state == "running"
    assert spec.placement.strategy == "spread"
    assert spec.restart_policy.type == "on-failure"
    assert spec.restart_policy.max_backoff_seconds == 300
    assert spec.restart_policy.reset_after_seconds == 600
    assert spec.restart_policy.max_restarts is None
    assert spec.stop_signal == "SIGTERM"
    assert spec.stop_timeout_seconds == 10
    assert spec.log_max_bytes == 10 * 1024 * 1024
    assert spec.log_backups == 5
    assert spec.health_check is None
    assert spec.node_group is None
    assert spec.capacity_requests == {}


def test_spec_name_generated_from_script_when_absent() -> None:
    first, second = parse_spec(SEED), parse_spec(SEED)
    assert first.name.startswith("main-")
    assert first.name != second.name  # random suffix: two unnamed specs do not collide
    assert parse_spec(minimal()).name.startswith("sleep-")


def test_spec_name_must_be_dns_label() -> None:
    assert parse_spec(minimal(name="web-1")).name == "web-1"
    for bad in ["Web", "-web", "web-", "a" * 64, "we_b", ""]:
        assert "name" in errors_of(minimal(name=bad)), bad


def test_spec_to_dict_round_trips_through_json() -> None:
    spec = parse_spec(
        {
            **SEED,
            "name": "trainer",
            "replicas": 3,
            "health_check": {"type": "tcp", "port": 8080},
            "placement": {"strategy": "binpack"},
            "restart_policy": {"type": "always", "max_restarts": 5},
        }
    )
    again = parse_spec(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.to_dict() == spec.to_dict()


def test_spec_unknown_fields_refused_with_path() -> None:
    errors = errors_of({**SEED, "replica": 2, "restart_policy": {"typ": "never"}})
    assert errors["replica"] == "unknown field 'replica'; did you mean 'replicas'?"
    assert errors["restart_policy.typ"] == "unknown field 'typ'; did you mean 'type'?"
    assert errors_of(minimal(zzz=1))["zzz"] == "unknown field 'zzz'"  # nothing close


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"replicas": -1}, "replicas", "must be at least 0 (got -1)"),
        ({"replicas": 10**6}, "replicas", "must be at most 10000 (got 1000000)"),
        ({"capacity_requests": {"A": 0}}, "capacity_requests.A", "must be more than 0 (got 0)"),
        ({"replicas": "2"}, "replicas", 'must be an integer (got a string "2")'),
        ({"replicas": 1.5}, "replicas", "must be an integer (got a number 1.5)"),
        ({"replicas": True}, "replicas", "must be an integer, not a boolean (got true)"),
        (
            {"stop_timeout_seconds": "1"},
            "stop_timeout_seconds",
            'must be a number (got a string "1")',
        ),
        (
            {"stop_timeout_seconds": float("inf")},
            "stop_timeout_seconds",
            "must be a finite number (got Infinity)",
        ),
        ({"node_group": 5}, "node_group", "must be a string (got an integer 5)"),
        ({"placement": []}, "placement", "must be an object (mapping), got a list"),
        (
            {"desired_state": "runing"},
            "desired_state",
            "must be one of 'running', 'stopped' (got \"runing\"); did you mean 'running'?",
        ),
        (
            {"restart_policy": {"type": "on_failure"}},
            "restart_policy.type",
            "must be one of 'always', 'on-failure', 'never' (got \"on_failure\"); "
            "did you mean 'on-failure'?",
        ),
        (
            {"health_check": {"type": "tcp", "port": 80, "hots": "h"}},
            "health_check.hots",
            "unknown field 'hots'; did you mean 'host'?",
        ),
        (
            {"config": {"command": ["x"], "evn": {}}},
            "config.evn",
            "unknown field 'evn'; did you mean 'env'?",
        ),
        ({"config": {}}, "config.command", "is required"),
    ],
)
def test_spec_errors_are_in_our_own_words(fields: dict, path: str, message: str) -> None:
    assert errors_of(minimal(**fields))[path] == message


def test_spec_wrong_types_refused_with_path() -> None:
    errors = errors_of({**SEED, "replicas": "2", "config": {"command": ["a", 3]}})
    assert errors["replicas"] == 'must be an integer (got a string "2")'
    assert errors["config.command[1]"] == "must be a string (got an integer 3)"


def test_spec_booleans_are_not_numbers() -> None:
    errors = errors_of(minimal(replicas=False, stop_timeout_seconds=True))
    assert "not a boolean" in errors["replicas"]
    assert "not a boolean" in errors["stop_timeout_seconds"]
    assert "capacity_requests.A" in errors_of(minimal(capacity_requests={"A": True}))


def test_spec_command_string_refused_with_list_hint() -> None:
    message = errors_of(minimal(config={"command": "python3 main.py"}))["config.command"]
    assert "list of strings" in message
    assert "config.command" in errors_of(minimal(config={"command": []}))


def test_spec_not_supported_fields_refused_clearly() -> None:
    errors = errors_of({**SEED, "kind": "conda", "config": {**SEED["config"]}})
    assert errors["kind"].startswith("not supported yet")
    image = errors_of({**SEED, "config": {**SEED["config"], "image": "x:1"}})["config.image"]
    assert "must start with http://" in image  # for kind exec, an archive URL
    for kind in ("conda", "venv"):
        assert "config.env_name" in errors_of(minimal(kind=kind))["kind"]
    assert "unknown kind" in errors_of(minimal(kind="lambda"))["kind"]


def test_spec_capacity_requests_positive_ints_and_sane_names() -> None:
    errors = errors_of(minimal(capacity_requests={"A": 0, "B": -1, "C": 1.5, "bad name": 1}))
    assert errors["capacity_requests.A"] == "must be more than 0 (got 0)"
    assert errors["capacity_requests.B"] == "must be more than 0 (got -1)"
    assert errors["capacity_requests.C"] == "must be an integer (got a number 1.5)"
    assert "capacity class 'bad name'" in errors["capacity_requests.bad name"]


def test_spec_node_group_name_checked() -> None:
    assert "node_group" in errors_of(minimal(node_group="gpu 1"))
    assert "node_group" in errors_of(minimal(node_group=7))


def test_spec_restart_policy_rules() -> None:
    errors = errors_of(minimal(restart_policy={"type": "sometimes"}))
    assert "'always', 'on-failure', 'never'" in errors["restart_policy.type"]
    errors = errors_of(minimal(restart_policy={"backoff_seconds": 10, "max_backoff_seconds": 5}))
    assert "backoff_seconds" in errors["restart_policy.max_backoff_seconds"]
    errors = errors_of(minimal(restart_policy={"backoff_seconds": float("nan")}))
    assert "restart_policy.backoff_seconds" in errors
    assert "restart_policy.max_restarts" in errors_of(minimal(restart_policy={"max_restarts": -1}))


def test_spec_long_first_delay_without_a_cap_is_a_spec_the_node_runs() -> None:
    """A first delay above the default cap (300 s), with no cap given, was accepted and
    stored with the default cap, then refused as a job spec at every start."""
    spec = parse_spec(minimal(restart_policy={"backoff_seconds": 600}))
    assert spec.restart_policy.max_backoff_seconds == 600
    job = job_spec_from_dict(spec.model_dump(mode="json"))
    assert job.restart_policy.max_backoff_seconds == 600
    # One stored before the rule held reads back as meant, not as an unreadable row.
    stored = spec.model_dump(mode="json")
    stored["restart_policy"]["max_backoff_seconds"] = 300
    assert parse_stored_spec(stored).restart_policy.max_backoff_seconds == 600


def test_spec_health_check_fields_follow_type() -> None:
    http = parse_spec(minimal(health_check={"type": "http", "url": "http://127.0.0.1:8/h"}))
    assert http.health_check is not None and http.health_check.period_seconds == 10
    tcp = parse_spec(minimal(health_check={"type": "tcp", "port": 9000}))
    assert tcp.health_check is not None and tcp.health_check.host == "127.0.0.1"
    errors = errors_of(minimal(health_check={"type": "http", "port": 80}))
    assert errors["health_check.url"] == "required when type is 'http'"
    assert errors["health_check.port"] == "not used when type is 'http'"
    assert "health_check.command" in errors_of(minimal(health_check={"type": "exec"}))
    assert "health_check.url" in errors_of(minimal(health_check={"type": "http", "url": "x"}))
    assert "health_check.port" in errors_of(minimal(health_check={"type": "tcp", "port": 0}))
    assert "health_check.type" in errors_of(minimal(health_check={"type": "ftp"}))


def test_spec_stop_signal_normalized_and_checked() -> None:
    assert parse_spec(minimal(stop_signal="int")).stop_signal == "SIGINT"
    assert parse_spec(minimal(stop_signal="SIGHUP")).stop_signal == "SIGHUP"
    assert "stop_signal" in errors_of(minimal(stop_signal="SIGFOO"))
    assert "stop_signal" in errors_of(minimal(stop_signal="SIG_DFL"))


@pytest.mark.parametrize("data", [None, [], "spec", 3, b"{}"])
def test_spec_non_object_refused(data: object) -> None:
    assert "object" in errors_of(data)[""]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({}, "config"),
        (minimal(config=None), "config"),
        (minimal(config="sleep"), "config"),
        (minimal(config={"command": ["x"], "env": {"A=B": "c"}}), "config.env.A=B"),
        (minimal(config={"command": ["x"], "env": {"A": 1}}), "config.env.A"),
        (minimal(config={"command": ["x\0"]}), "config.command[0]"),
        (minimal(desired_state="paused"), "desired_state"),
        (minimal(placement={"strategy": "random"}), "placement.strategy"),
        (minimal(replicas=10_001), "replicas"),
        (minimal(reschedule={"attempts": -1}), "reschedule.attempts"),
        (minimal(log_max_bytes=10), "log_max_bytes"),
        (minimal(capacity_requests=["A"]), "capacity_requests"),
    ],
)
def test_spec_malformed_input_names_the_path(data: dict[str, object], path: str) -> None:
    assert path in errors_of(data)


def test_spec_error_string_joins_paths() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(minimal(replicas=-1, kind="lambda"))
    assert "replicas:" in str(info.value) and "kind:" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_spec_json_schema_describes_fields() -> None:
    schema = DeploymentSpec.json_schema()
    assert {"config", "replicas", "restart_policy", "health_check"} <= set(schema["properties"])
    assert schema["required"] == ["config"]  # name is generated when absent
    json.dumps(schema)


def test_spec_import_is_cheap() -> None:
    # pydantic is loaded on first use of the models, not by `import symphony.spec`.
    code = "import sys, symphony.spec; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"command": ["x\ud800"]}, "config.command[0]"),
        ({"command": ["x"], "env": {"A": "\udfff"}}, "config.env.A"),
        ({"command": ["x"], "env": {"\ud800": "v"}}, "config.env."),
        ({"command": ["x"], "cwd": "/tmp/\ud800"}, "config.cwd"),
    ],
)
def test_spec_lone_surrogates_refused_with_path(config: dict[str, object], path: str) -> None:
    errors = errors_of(minimal(config=config))
    # (pydantic shows an undecodable key as replacement characters in the path)
    assert [m for p, m in errors.items() if p.startswith(path) and "not valid Unicode" in m]
    json.dumps(errors, ensure_ascii=False).encode("utf-8")  # the error itself is encodable


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"command": ["x"], "env": {"A\x01": "v"}}, "config.env['A\\x01']"),
        ({"command": ["x"], "env": {"A\n": "v"}}, "config.env['A\\n']"),
        ({"command": ["x"], "env": {"A\x7f": "v"}}, "config.env['A\\x7f']"),
        ({"command": ["x"], "cwd": "/tmp\n"}, "config.cwd"),
        ({"command": ["x"], "cwd": "/tmp\t"}, "config.cwd"),
    ],
)
def test_spec_control_characters_refused_in_names_and_cwd(
    config: dict[str, object], path: str
) -> None:
    assert "control characters" in errors_of(minimal(config=config))[path]


def test_spec_tabs_and_newlines_allowed_in_arguments_and_env_values() -> None:
    spec = parse_spec(minimal(config={"command": ["sh", "-c", "a\tb\nc"], "env": {"V": "1\n2"}}))
    assert spec.config.command[2] == "a\tb\nc" and spec.config.env["V"] == "1\n2"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "web\n"),
        ("node_group", "gpu-1\n"),
        ("capacity_requests", {"A\n": 1}),
    ],
)
def test_spec_names_ending_in_newline_refused(field: str, value: object) -> None:
    # ``$`` matches before a final newline: every pattern must match the whole value.
    assert field in " ".join(errors_of(minimal(**{field: value})))


def test_spec_health_check_period_has_a_floor_of_one_second() -> None:
    # Every period runs a probe on the node (an exec check: a process) for every
    # instance; a period of 1e-9 made a few replicas take most of a core.
    check = {"type": "exec", "command": ["true"], "period_seconds": 1e-9}
    errors = errors_of(minimal(health_check=check))
    assert errors["health_check.period_seconds"].startswith("must be at least 1 second (got 1e-09)")
    assert parse_spec(minimal(health_check={**check, "period_seconds": 1})).health_check
    schema = json.dumps(DeploymentSpec.json_schema())
    assert '"minimum": 1.0' in schema
    # Stored before the floor: still readable (the node probes it once a second).
    stored = parse_stored_spec(minimal(health_check={**check, "period_seconds": 0.2}))
    assert stored.health_check is not None and stored.health_check.period_seconds == 0.2


def test_spec_capacity_classes_are_at_most_64() -> None:
    many = {f"A{i}": 1 for i in range(65)}
    errors = errors_of(minimal(capacity_requests=many))
    assert errors["capacity_requests"] == ("names 65 capacity classes; at most 64 are allowed")
    del many["A64"]
    assert len(parse_spec(minimal(capacity_requests=many)).capacity_requests) == 64
    assert '"maxProperties": 64' in json.dumps(DeploymentSpec.json_schema())
    stored = parse_stored_spec(minimal(capacity_requests={f"A{i}": 1 for i in range(100)}))
    assert len(stored.capacity_requests) == 100  # accepted in its day: readable


def test_spec_null_where_a_number_belongs_is_said_once() -> None:
    errors = errors_of(minimal(capacity_requests={"cpu": None}, replicas=None))
    assert errors["capacity_requests.cpu"] == "must be an integer (got null)"
    assert errors["replicas"] == "must be an integer (got null)"


def test_spec_stored_specs_keep_the_rules_of_their_day() -> None:
    # A spec an older version accepted must stay readable from the store (an upgrade
    # must not make its deployment, or a listing, fail); a new request is held to all
    # the rules, and every other rule still holds for stored specs.
    from symphony.spec import parse_stored_spec

    old = minimal(name="web\n", config={"command": ["x\ud800"], "env": {"A\x01": "v"}})
    assert parse_stored_spec(old).config.env == {"A\x01": "v"}
    assert {"name", "config.command[0]"} <= set(errors_of(old))
    with pytest.raises(SpecError):
        parse_stored_spec(minimal(replicas=-1))
    with pytest.raises(SpecError):
        parse_stored_spec(minimal(config={"command": ["x\0"]}))


# Text with what has gone wrong before: lone surrogates, control characters, '='.
_any_text = st.text(
    st.sampled_from(list("aZ09_-./= \t\n\x00\x01\x7f"))
    | st.characters(categories=["Cs"])
    | st.characters(),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(
    command=st.lists(_any_text, min_size=1, max_size=3),
    env=st.dictionaries(_any_text, _any_text, max_size=3),
    cwd=st.none() | _any_text,
    name=st.none() | _any_text,
)
def test_spec_whatever_is_accepted_can_be_sent_to_a_node(
    command: list[str], env: dict[str, str], cwd: str | None, name: str | None
) -> None:
    # Closing the class: a spec the API accepts must never fail to encode on the wire,
    # and the node's decoder takes the job spec built from it as it is.
    from symphony.conductor.deployments.instances import job_spec
    from symphony.wire import StartInstance, decode, encode

    data = {"name": name, "config": {"command": command, "env": env, "cwd": cwd}}
    try:
        spec = parse_spec(data)
    except SpecError:
        return
    start = StartInstance(instance_id="i", deployment_id="d", deployment_name=spec.name,
                          replica=0, spec=job_spec(spec))  # fmt: skip
    assert decode(encode(start)) == start
    json.dumps(spec.to_dict(), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "image",
    ["busybox", "localhost/bb:1", "docker.io/library/python:3.12-slim",
     "localhost:5000/team/app:v1.2", "ghcr.io/o/r@sha256:" + "a" * 64],
)  # fmt: skip
def test_spec_container_kinds_take_an_image_reference(image: str) -> None:
    for kind in ("docker", "podman"):
        spec = parse_spec({"kind": kind, "config": {"image": image}})
        assert spec.config.image == image and spec.config.command is None


@pytest.mark.parametrize(
    "image",
    ["", "-it", "--privileged", "Busybox", "busybox:", "a b", "busybox\n", "x@sha256:12",
     "busybox:1\nrm", "a" * 600],
)  # fmt: skip
def test_spec_container_image_must_match_the_reference_grammar_in_full(image: str) -> None:
    message = errors_of({"kind": "podman", "config": {"image": image}})["config.image"]
    assert "is not an image reference" in message or "control characters" in message


def test_spec_container_fields_checked_by_kind() -> None:
    assert errors_of({"kind": "podman", "config": {}})["config.image"].startswith("is required")
    errors = errors_of({"kind": "docker", "config": {"image": "a", "cwd": "w"}})
    assert "/workspace" in errors["config.cwd"]
    empty = errors_of({"kind": "docker", "config": {"image": "a", "entrypoint": []}})
    assert empty["config.entrypoint"] == "must name a program: the list is empty"
    exec_errors = errors_of(minimal(config={"command": ["x"], "entrypoint": ["sh"]}))
    assert exec_errors["config.entrypoint"] == "only for kinds 'docker' and 'podman'"
    spec = parse_spec({"kind": "podman", "config": {"image": "a", "entrypoint": ["sh", "-c"]}})
    assert spec.config.entrypoint == ["sh", "-c"]


def test_spec_container_without_command_is_named_after_its_image() -> None:
    spec = parse_spec({"kind": "podman", "config": {"image": "docker.io/library/python:3.12"}})
    assert spec.name.startswith("python-")


def test_spec_update_deadline_must_outlast_min_healthy() -> None:
    """A new instance must be healthy for min_healthy_seconds before the deadline: with a
    deadline no longer than that, every roll would fail (Nomad refuses it the same way)."""
    base = {"config": {"command": ["true"]}}
    with pytest.raises(SpecError) as info:
        parse_spec({**base, "update": {"healthy_deadline_seconds": 5, "min_healthy_seconds": 10}})
    assert info.value.errors == [
        {
            "path": "update",
            "message": "healthy_deadline_seconds (5) must be longer than min_healthy_seconds "
            "(10): a new instance could never be healthy in time, and every roll would fail",
        }
    ]
    parse_spec({**base, "update": {"healthy_deadline_seconds": 11, "min_healthy_seconds": 10}})
    # A spec stored before this rule is read back as it was (the Conductor must start).
    stored = parse_spec(base).to_dict()
    stored["update"] = {**stored["update"], "healthy_deadline_seconds": 5}
    assert parse_stored_spec(stored).update.healthy_deadline_seconds == 5


def test_spec_change_keeps_a_stored_check_and_classes_it_leaves_as_they_were() -> None:
    # Stored before the floor and the 64-class bound: scaling it must not refuse them
    # (a 422 on every change), changing them is held to today's rules.
    check = {"type": "exec", "command": ["true"], "period_seconds": 0.2}
    wide = {f"A{i}": 1 for i in range(65)}
    stored = parse_stored_spec(minimal(health_check=check, capacity_requests=wide))
    assert stored.patched({"replicas": 3}).replicas == 3
    with pytest.raises(SpecError, match=r"health_check\.period_seconds"):
        stored.patched({"health_check": {"period_seconds": 0.5}})
    with pytest.raises(SpecError, match="capacity_requests"):
        stored.patched({"capacity_requests": {"A65": 1}})
    # A template taken back from a stored version (a rollback): kept as that version has it.
    current = parse_spec(minimal(replicas=2))
    back = parse_spec({**stored.to_dict(), "replicas": 2}, previous=[current, stored])
    assert back.health_check == stored.health_check and back.replicas == 2
