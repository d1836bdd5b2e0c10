"""The sans-IO codec: valid messages round-trip, anything else is one ProtocolError."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from functools import partial

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony.conductor.deployments.instances import job_spec
from symphony.spec import parse_spec
from symphony.wire import (
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    EncodeError,
    FrameTooLarge,
    Heartbeat,
    Hello,
    InstanceStatus,
    JobConfig,
    JobGit,
    JobSpec,
    LogChunk,
    Message,
    ProtocolError,
    StartInstance,
    UploadRead,
    VersionMismatch,
    decode,
    encode,
    negotiate_version,
)
from symphony.wire.schema import JsonData, Max, MaxLen, Min, MinLen, Pattern

# -- strategies derived from the messages' own type hints -----------------------------

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8)
any_value = st.recursive(
    json_scalars | st.floats(allow_nan=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
json_data = st.dictionaries(
    st.text(max_size=5),
    st.recursive(
        json_scalars | st.floats(allow_nan=False, allow_infinity=False),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=8,
    ),
    max_size=3,
)


def strategy_for(hint: typing.Any) -> st.SearchStrategy[typing.Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return any_value
    if hint is str:
        return st.text(max_size=12)
    if hint is int:
        return st.integers(-(2**63), 2**63 - 1)
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if hint is bool:
        return st.booleans()
    if hint is bytes:
        return st.binary(max_size=20)
    if origin is typing.Annotated:
        base, rules = args[0], args[1:]
        high_value = min([r.value for r in rules if isinstance(r, Max)], default=None)
        if base is int:
            low = max([r.value for r in rules if isinstance(r, Min)], default=-(2**63))
            return st.integers(low, high_value or 2**63 - 1)
        if base is float:
            low = max([r.value for r in rules if isinstance(r, Min)], default=-1e300)
            return st.floats(min_value=low, max_value=high_value or 1e300)
        if any(isinstance(r, JsonData) for r in rules):
            return json_data
        if typing.get_origin(base) in (tuple, dict):
            low = max([r.value for r in rules if isinstance(r, MinLen)], default=0)
            return strategy_for(base).filter(lambda v: len(v) >= low)
        if base is bytes:
            low = max([r.value for r in rules if isinstance(r, MinLen)], default=0)
            return st.binary(min_size=low, max_size=max(low, 20))
        assert base is str, f"no strategy for {hint}"
        patterns = [r for r in rules if isinstance(r, Pattern)]
        if patterns:
            return st.from_regex(patterns[0].regex, fullmatch=True).filter(patterns[0].matches)
        low = max([r.value for r in rules if isinstance(r, MinLen)], default=0)
        high = min([r.value for r in rules if isinstance(r, MaxLen)], default=12)
        return st.text(min_size=low, max_size=min(high, 12))
    if origin in (typing.Union, types.UnionType):
        return st.none() | strategy_for(next(a for a in args if a is not type(None)))
    if origin is typing.Literal:
        return st.sampled_from(args)
    if isinstance(hint, type) and issubclass(hint, enum.StrEnum):
        return st.sampled_from(list(hint))
    if origin is tuple:
        return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
    if origin is dict:
        return st.dictionaries(strategy_for(args[0]), strategy_for(args[1]), max_size=3)
    if dataclasses.is_dataclass(hint):
        return message_strategy(hint)
    raise AssertionError(f"no strategy for {hint}")


# Fields whose rule lives in the class's __post_init__, not in the hint.
# The sources' fields (protocol 4) have long patterns that Hypothesis is slow to draw
# from on a busy machine: sample values that fit them (their rules are tested with the
# spec, tests/sources). So is the image grammar (tests/test_spec.py covers it).
_ENVS = st.lists(st.sampled_from(["conda-env1", "torch_2.1", "base"]), max_size=3).map(tuple)
_ARCHIVES = st.sampled_from(
    ["https://example.org/a.zip", "file:///srv/a.tar.gz", "upload:" + "a" * 64]
)
_IMAGES = st.sampled_from(["busybox", "localhost:5000/a/b:1"])
FIELD_STRATEGIES = {
    (JobSpec, "stop_signal"): st.sampled_from(["SIGTERM", "SIGINT", "SIGKILL"]),
    (JobConfig, "image"): st.none() | _ARCHIVES | _IMAGES,
    # A command always, so that no kind's rule rejects the draw.
    (JobConfig, "command"): st.lists(
        st.text(max_size=8).filter(lambda t: "\0" not in t), min_size=1, max_size=3
    ).map(tuple),
    (JobConfig, "sha256"): st.none() | st.just("ab" * 32),
    (JobConfig, "env_name"): st.none() | st.sampled_from(["conda-env1", "torch_2.1"]),
    (JobGit, "repo"): st.sampled_from(["https://example.org/r.git", "file:///srv/r.git"]),
    (JobGit, "ref"): st.sampled_from(["main", "v1.0", "HEAD"]),
    (JobGit, "commit"): st.just("c" * 40),
    (Hello, "envs"): st.none() | _ENVS,
    (Heartbeat, "envs"): st.none() | _ENVS,
    (UploadRead, "sha256"): st.just("d" * 64),
}
# A job spec's config.image is read by its kind: an archive for exec, an image (and no
# other source) for a container. The kind is drawn first, then a config that fits it.
_CONFIG_BY_KIND = {
    "exec": {(JobConfig, "image"): st.none() | _ARCHIVES},
    "container": {
        (JobConfig, "image"): _IMAGES,
        (JobConfig, "sha256"): st.none(),
        (JobConfig, "git"): st.none(),
        (JobConfig, "env_name"): st.none(),
    },
}


def _built(cls: type, **fields: object) -> object:
    try:
        return cls(**fields)
    except ValueError:  # a rule between fields (__post_init__): not a valid message
        return None


def message_strategy(
    cls: type, overrides: dict[tuple[type, str], st.SearchStrategy[typing.Any]] | None = None
) -> st.SearchStrategy[Message]:
    if cls is JobSpec and overrides is None:
        return _ANY_JOB_SPEC
    chosen = {**FIELD_STRATEGIES, **(overrides or {})}
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {
        f.name: chosen[(cls, f.name)] if (cls, f.name) in chosen else strategy_for(hints[f.name])
        for f in dataclasses.fields(cls)
    }
    return st.builds(partial(_built, cls), **fields).filter(lambda m: m is not None)


def _job_spec_of_kind(kind: str) -> st.SearchStrategy[Message]:
    config = message_strategy(JobConfig, _CONFIG_BY_KIND["exec" if kind == "exec" else "container"])
    return message_strategy(
        JobSpec, {(JobSpec, "kind"): st.just(kind), (JobSpec, "config"): config}
    )


# Built once, never inside ``flatmap``: a strategy made afresh at each draw (filters and
# all) can make Hypothesis see the same choices draw differently and fail the test as
# "inconsistent data generation", on no defect of ours.
_ANY_JOB_SPEC = st.one_of([_job_spec_of_kind(kind) for kind in ("exec", "docker", "podman")])
any_message = st.one_of(
    [message_strategy(cls) for cls in sorted(MESSAGE_TYPES.values(), key=lambda c: c.t)]
)


def assert_only_protocol_errors(data: bytes) -> None:
    try:
        result = decode(data)
    except ProtocolError:
        return
    assert isinstance(result, (Message, list))


# -- round trips ----------------------------------------------------------------------


@given(any_message)
def test_codec_valid_message_round_trips(msg: Message) -> None:
    assert decode(encode(msg)) == msg


@given(st.lists(any_message, min_size=1, max_size=4))
def test_codec_batch_round_trips(batch: list[Message]) -> None:
    assert decode(encode(batch)) == batch


def test_codec_nested_instances_and_bytes_round_trip() -> None:
    status = InstanceStatus(instance_id="i", deployment_id="d", state="running", pid=7)
    hello = Hello(protocol_version=1, node_id="n", instances=(status,), capacities_total={"A": 1})
    assert decode(encode(hello)) == hello
    chunk = LogChunk(request_id="r", data=b"\xff\x00line\n", eof=True)
    assert decode(encode(chunk)) == chunk


def test_codec_leaves_out_none_fields() -> None:
    raw = msgpack.unpackb(encode(InstanceStatus(instance_id="i", deployment_id="d", state="lost")))
    assert raw == {
        "t": "instance_status",
        "instance_id": "i",
        "deployment_id": "d",
        "state": "lost",
        "restarts": 0,
    }


def test_codec_ignores_unknown_fields() -> None:
    frame = msgpack.packb({"t": "heartbeat", "seq": 1, "added_in_a_later_release": [1]})
    assert decode(frame) == Heartbeat(seq=1)


# -- hostile input --------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_codec_random_bytes_raise_only_protocol_error(data: bytes) -> None:
    assert_only_protocol_errors(data)


@given(any_message, st.data())
def test_codec_mutated_frames_raise_only_protocol_error(msg: Message, data: st.DataObject) -> None:
    frame = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    assert_only_protocol_errors(bytes(frame))


@given(any_message, st.data())
def test_codec_truncated_frames_raise_protocol_error(msg: Message, data: st.DataObject) -> None:
    frame = encode(msg)
    cut = data.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(ProtocolError):
        decode(frame[:cut])


wrong_values = st.sampled_from([None, True, 1.5, -1, "x", b"x", [1], {"k": 1}, 2**64 - 1])


@given(any_message, st.data())
@settings(max_examples=300)
def test_codec_wrong_field_type_raises_protocol_error(msg: Message, data: st.DataObject) -> None:
    raw = msgpack.unpackb(encode(msg))
    name = data.draw(st.sampled_from([f.name for f in dataclasses.fields(msg)]))
    raw[name] = data.draw(wrong_values)
    try:
        decoded = decode(msgpack.packb(raw))
    except ProtocolError as exc:
        assert name in str(exc)  # the message names the field
        return
    # Only a value the schema allows may pass (an int where a float is declared,
    # None where a field is optional), and then it is what we sent.
    value = getattr(decoded, name)
    assert value == raw[name] or raw[name] is None or isinstance(value, float)


@given(any_message, st.data())
def test_codec_missing_required_field_raises_protocol_error(
    msg: Message, data: st.DataObject
) -> None:
    required = [
        f.name
        for f in dataclasses.fields(msg)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if not required:
        return
    raw = msgpack.unpackb(encode(msg))
    name = data.draw(st.sampled_from(required))
    del raw[name]
    with pytest.raises(ProtocolError, match=f"missing required field '{name}'"):
        decode(msgpack.packb(raw))


@given(st.text(max_size=20).filter(lambda t: t not in MESSAGE_TYPES))
def test_codec_unknown_type_raises_protocol_error(tag: str) -> None:
    with pytest.raises(ProtocolError, match="unknown message type"):
        decode(msgpack.packb({"t": tag}))


@pytest.mark.parametrize(
    ("obj", "text"),
    [
        ({"seq": 1}, "missing or non-string type tag"),
        ({"t": 5}, "missing or non-string type tag"),
        ([], "empty batch"),
        ([{"t": "heartbeat", "seq": 1}, 3], "frame[1]: a message must be a map"),
        ([[{"t": "heartbeat", "seq": 1}]], "frame[0]: a message must be a map"),
        (7, "a message must be a map"),
        ({"t": "heartbeat", "seq": True}, "Heartbeat.seq: expected int, got bool"),
        ({"t": "heartbeat", "seq": -1}, "Heartbeat.seq: must be >= 0"),
        ({"t": "heartbeat", "seq": 1, "usage": {1: 2}}, "map key"),
        ({"t": "heartbeat", "seq": 1, "usage": {b"k": 2}}, "Heartbeat.usage key: expected str"),
        ({"t": "hello", "protocol_version": 1, "node_id": ""}, "Hello.node_id: must be 1-63"),
        ({"t": "hello", "protocol_version": 1, "node_id": "x" * 300}, "Hello.node_id: must be"),
        (
            {"t": "hello", "protocol_version": 1, "node_id": "n", "instances": [{"state": "x"}]},
            "Hello.instances[0]: missing required field",
        ),
        (
            {
                "t": "hello_accepted",
                "protocol_version": 1,
                "heartbeat_sec": float("nan"),
                "node_timeout_sec": 1.0,
            },
            "HelloAccepted.heartbeat_sec: must be a finite number",
        ),
        (
            {"t": "log_request", "request_id": "r", "instance_id": "i", "stream": "stdin"},
            "LogRequest.stream: must be one of",
        ),
    ],
)
def test_codec_malformed_structure_is_explained(obj: object, text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(msgpack.packb(obj))
    assert text in str(info.value)


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\xc1",  # never-used msgpack byte
        msgpack.packb({"t": "heartbeat", "seq": 1}) + b"\x00",  # trailing data
        b"\x81\xa1t\xa2\xff\xfe",  # invalid UTF-8 in a str
        b"\xd4\x01\x00",  # an extension type
        b"\x91" * 5000,  # nesting far deeper than any message
        b"\x81\x91\x01\x02",  # a list as a map key
        msgpack.packb([[0] * 70_000] * 5),  # more items than a frame may hold
    ],
    # Named: a test's id goes into PYTEST_CURRENT_TEST, and an environment variable of
    # 1.4 MB made any process started meanwhile (the strays watchdog's) fail with E2BIG.
    ids=["empty", "never-used", "trailing", "bad-utf8", "ext", "deep", "list-key", "huge"],
)
def test_codec_hostile_bytes_raise_protocol_error(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(frame)


def test_codec_rejects_non_bytes_input() -> None:
    with pytest.raises(ProtocolError, match="must be bytes"):
        decode("text")  # type: ignore[arg-type]


def test_codec_oversized_frame_refused_before_unpacking() -> None:
    frame = encode(LogChunk(request_id="r", data=b"x" * 2000))
    with pytest.raises(FrameTooLarge, match="exceeds the maximum of 1000"):
        decode(frame, max_frame_size=1000)
    with pytest.raises(FrameTooLarge):
        encode(LogChunk(request_id="r", data=b"x" * 2000), max_frame_size=1000)
    assert decode(frame, max_frame_size=len(frame)) == LogChunk(request_id="r", data=b"x" * 2000)


def test_codec_encode_refuses_non_messages() -> None:
    with pytest.raises(TypeError):
        encode({"t": "heartbeat"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty batch"):
        encode([])
    with pytest.raises(EncodeError, match="cannot encode a Heartbeat"):
        encode(Heartbeat(seq=1, usage={"x": object()}))


@pytest.mark.parametrize("value", ["x\ud800", 2**70, {1, 2}])
def test_codec_encode_failure_is_one_clear_error(value: object) -> None:
    # A lone surrogate in a spec string made msgpack raise UnicodeEncodeError, which
    # crashed the node's session on every reconnect.
    job = job_spec(parse_spec({"config": {"command": ["x"]}}))
    spec = dataclasses.replace(job, config=JobConfig(command=("x",), env={"V": value}))  # type: ignore[dict-item]
    start = StartInstance(
        instance_id="i", deployment_id="d", deployment_name="n", replica=0, spec=spec
    )
    with pytest.raises(EncodeError, match="cannot encode a StartInstance"):
        encode(start)
    with pytest.raises(EncodeError, match="batch of 2"):
        encode([Heartbeat(seq=1), start])


# -- versions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "ours", "chosen"),
    [((1, None), (1, 1), 1), ((3, 1), (1, 2), 2), ((2, 2), (1, 5), 2), ((9, 4), (2, 6), 6)],
)
def test_codec_version_negotiation_picks_newest_common(peer, ours, chosen) -> None:
    assert negotiate_version(peer[0], peer[1], ours=ours) == chosen


@pytest.mark.parametrize(
    ("peer", "ours"), [((1, None), (2, 3)), ((5, 4), (1, 3)), ((1, 2), (1, 3))]
)
def test_codec_version_negotiation_without_overlap_fails(peer, ours) -> None:
    with pytest.raises(VersionMismatch):
        negotiate_version(peer[0], peer[1], ours=ours)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"node_id": "n1\n"}, "Hello.node_id"),
        ({"node_id": "a..b"}, "Hello.node_id"),
        ({"node_id": "node-client"}, "Hello.node_id"),
        ({"node_id": "../etc"}, "Hello.node_id"),
        ({"groups": ["gpu-1\n"]}, "Hello.groups[0]"),
        ({"capacities_total": {"A\n": 1}}, "Hello.capacities_total key"),
        ({"capacities_total": {"A": 10**12 + 1}}, "Hello.capacities_total['A']"),
        ({"capacities_total": {"A": -1}}, "Hello.capacities_total['A']"),
        ({"resources": {"cpu": b"\x00"}}, "Hello.resources['cpu']"),
        ({"resources": {"ram": float("nan")}}, "Hello.resources['ram']"),
        ({"resources": {"deep": [[[[[[[[[[1]]]]]]]]]]}}, "nested deeper"),
        ({"resources": {"name": "x" * 5000}}, "Hello.resources['name']"),
        ({"resources": {"many": list(range(20_000))}}, "more than 16384 values"),
        ({"heartbeat_sec": 1e300}, "Hello.heartbeat_sec"),
    ],
)
def test_codec_hello_fields_follow_the_config_rules(fields: dict, error: str) -> None:
    # Names ending in a newline passed (``$`` matches before a final "\n"), and bytes in
    # resources made every GET /nodes fail until the Conductor restarted.
    frame = msgpack.packb(
        {"t": "hello", "protocol_version": 2, "node_id": "n1", **fields}, use_bin_type=True
    )
    with pytest.raises(ProtocolError, match=re.escape(error)):
        decode(frame)


@pytest.mark.parametrize(
    "usage", [{"cpu_percent": float("inf")}, {"gpus": [{"name": b"x"}]}, {"x": [[b"k"]]}]
)
def test_codec_heartbeat_usage_is_plain_json(usage: dict) -> None:
    frame = msgpack.packb({"t": "heartbeat", "seq": 1, "usage": usage}, use_bin_type=True)
    with pytest.raises(ProtocolError, match=r"Heartbeat\.usage"):
        decode(frame)


def test_codec_real_usage_and_resources_pass() -> None:
    usage = {"cpu_percent": 3.5, "per_core": [1.0, 2.0], "disks": [{"path": "/", "free": 1}]}
    hello = Hello(
        protocol_version=2,
        node_id="gpu-box.1",
        groups=("gpu-1",),
        capacities_total={"A": 10**12},
        resources={"gpus": [], "cpu_count": 2},
    )
    assert decode(encode(hello)) == hello
    assert decode(encode(Heartbeat(seq=1, usage=usage))) == Heartbeat(seq=1, usage=usage)


_msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=5)
    | st.binary(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(resources=st.dictionaries(st.text(max_size=4), _msgpack_values, max_size=4))
def test_codec_whatever_a_hello_carries_is_strict_json(resources: dict) -> None:
    # Closing the class: what the codec accepts from a node is shown as it is by the
    # API, so it must always be strict JSON (no bytes, no NaN, nothing too deep).
    frame = msgpack.packb(
        {"t": "hello", "protocol_version": 2, "node_id": "n1", "resources": resources},
        use_bin_type=True,
    )
    try:
        hello = decode(frame)
    except ProtocolError:
        return
    json.dumps(hello.resources, allow_nan=False)


def test_codec_heartbeat_instance_usage_round_trips_and_is_optional() -> None:
    from symphony.wire import Heartbeat, InstanceUsage, decode, encode

    sample = InstanceUsage(instance_id="i-1", cpu_percent=12.5, rss_bytes=4096)
    beat = Heartbeat(seq=3, usage={"cpu_percent": 1.0}, instances=(sample,))
    assert decode(encode(beat)) == beat
    # A version-2 node sends no instances: that is "not reported", not "none live".
    assert decode(msgpack.packb({"t": "heartbeat", "seq": 1})).instances is None  # type: ignore[union-attr]
    assert decode(encode(Heartbeat(seq=1, instances=()))).instances == ()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("instances", "text"),
    [
        ([{"instance_id": "i", "cpu_percent": -1.0, "rss_bytes": 1}], "cpu_percent: must be >= 0"),
        ([{"instance_id": "i", "cpu_percent": 1.0, "rss_bytes": -1}], "rss_bytes: must be >= 0"),
        ([{"instance_id": "", "cpu_percent": 1.0, "rss_bytes": 1}], "instance_id"),
        ([{"instance_id": "i", "cpu_percent": float("nan"), "rss_bytes": 1}], "finite"),
        ([{"instance_id": "i", "cpu_percent": 1, "rss_bytes": 1}] * 4097, "Heartbeat.instances"),
    ],
)
def test_codec_heartbeat_instance_usage_is_checked(instances: list[object], text: str) -> None:
    from symphony.wire import decode

    frame = msgpack.packb({"t": "heartbeat", "seq": 1, "instances": instances})
    with pytest.raises(ProtocolError, match=re.escape(text)):
        decode(frame)


def test_codec_versions_conductor_accepts_older_nodes_and_v4_nodes_need_a_v4_conductor() -> None:
    from symphony.wire import NODE_MIN_PROTOCOL_VERSION

    assert PROTOCOL_VERSION == 5 and NODE_MIN_PROTOCOL_VERSION == 4
    assert negotiate_version(2, 1) == 2  # a version-2 node keeps working
    assert negotiate_version(3, 3) == 3  # and a version-3 node (it gets no secrets)
    assert negotiate_version(4, 4) == 4  # and a version-4 node (no log times, no relay)
    assert negotiate_version(4, 1) == 4  # (nor sends heartbeat deltas)
    assert negotiate_version(PROTOCOL_VERSION, NODE_MIN_PROTOCOL_VERSION) == 5
    # A version-5 node still works with a version-4 Conductor (it is not asked to relay).
    assert negotiate_version(PROTOCOL_VERSION, NODE_MIN_PROTOCOL_VERSION, ours=(1, 4)) == 4
    with pytest.raises(VersionMismatch, match="upgrade this side"):  # said by a v3 conductor
        negotiate_version(PROTOCOL_VERSION, NODE_MIN_PROTOCOL_VERSION, ours=(1, 3))
