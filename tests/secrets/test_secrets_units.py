"""The parts on their own: the sealing vault, the log redactor, the job spec split."""

from __future__ import annotations

import os
import random
import re
import stat
from pathlib import Path

import msgpack
import pytest

from symphony.conductor.deployments.instances import job_spec
from symphony.conductor.secrets import SecretKeyError, SecretVault, UnknownSecret
from symphony.conductor.store import Store
from symphony.node.process.joblogger import run as run_logger
from symphony.node.process.redact import Redactor
from symphony.spec import SpecError, parse_spec
from symphony.wire import InstanceSecrets, StartInstance, decode, encode


def test_secrets_vault_seals_at_rest_with_a_private_key_file(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db")
    vault = SecretVault.open(store, tmp_path / "secrets.key")
    assert stat.S_IMODE(os.stat(tmp_path / "secrets.key").st_mode) == 0o600
    vault.set("tok", "plain-text-value")
    assert vault.resolve({"T": "tok"}) == {"T": "plain-text-value"}
    store.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("db*"))
    assert b"plain-text-value" not in on_disk
    # Another Conductor given the same key file reads it; another key cannot.
    again = SecretVault.open(Store.open(tmp_path / "db"), tmp_path / "secrets.key")
    assert again.resolve({"T": "tok"}) == {"T": "plain-text-value"}
    other = SecretVault.open(Store.open(tmp_path / "db"), tmp_path / "other.key")
    with pytest.raises(SecretKeyError, match=re.escape("another conductor.secrets_key_file")):
        other.resolve({"T": "tok"})
    with pytest.raises(UnknownSecret, match="'nope'"):
        again.resolve({"T": "tok", "U": "nope"})
    (tmp_path / "copied.key").write_bytes((tmp_path / "secrets.key").read_bytes())
    os.chmod(tmp_path / "copied.key", 0o644)
    SecretVault.open(Store.open(tmp_path / "db"), tmp_path / "copied.key")
    assert stat.S_IMODE(os.stat(tmp_path / "copied.key").st_mode) == 0o600
    (tmp_path / "bad.key").write_text("not a key\n")
    with pytest.raises(SecretKeyError, match="does not hold a secrets key"):
        SecretVault.open(Store.open(tmp_path / "db"), tmp_path / "bad.key")


def test_secrets_vault_names_every_unknown_secret_of_a_spec(tmp_path: Path) -> None:
    vault = SecretVault.open(Store.open(tmp_path / "db"), tmp_path / "k")
    vault.set("known", "abcdefgh")
    env = {"A": {"secret": "known"}, "B": {"secret": "gone"}, "C": "plain"}
    with pytest.raises(SpecError) as caught:
        vault.check_spec(parse_spec({"config": {"command": ["true"], "env": env}}))
    assert [e["path"] for e in caught.value.errors] == ["config.env.B.secret"]


def test_secrets_job_spec_carries_names_not_values() -> None:
    env = {"A": {"secret": "tok"}, "B": "plain"}
    body = job_spec(parse_spec({"config": {"command": ["true"], "env": env}}))
    assert body.config.env == {"B": "plain"} and body.config.secret_env == {"A": "tok"}
    plain = job_spec(parse_spec({"config": {"command": ["true"]}}))
    assert plain.config.secret_env is None  # left out of the frame: old nodes see no change
    start = StartInstance(
        instance_id="i", deployment_id="d", deployment_name="n", replica=0, spec=plain
    )
    frame = msgpack.unpackb(encode(start), raw=False)
    assert "secret_env" not in frame["spec"]["config"] and "secrets" not in frame


def _masked(data: bytes, values: list[bytes]) -> bytes:
    kept = sorted((v for v in values if len(v) >= 6), key=len, reverse=True)
    return re.sub(b"|".join(map(re.escape, kept)), b"***", data) if kept else data


def test_secrets_redactor_masks_values_split_across_any_reads() -> None:
    values = [b"hf_abcdef", b"zzzzzzzz", b"abcabcX1", b"short"]  # "short": 5 bytes, kept
    rng = random.Random(7)
    words = [b"hf_", b"abc", b"def", b"zz", b"X1", b"short", b"\n", b"q", b"hf_abcdef"]
    for _ in range(3000):
        data = b"".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        redactor, out, at = Redactor(values), b"", 0
        while at < len(data):
            step = rng.randint(1, 9)
            out += redactor.feed(data[at : at + step])
            at += step
        out += redactor.flush()
        assert out == _masked(data, values), data


def test_secrets_redactor_holds_back_only_a_possible_start() -> None:
    redactor = Redactor([b"secret-value"])
    assert redactor.feed(b"line one\nsec") == b"line one\n"
    assert redactor.holding
    assert redactor.feed(b"ond line\n") == b"second line\n"  # not the value after all
    assert not redactor.holding
    assert Redactor([]).feed(b"x") == b"x" and not Redactor([b"tiny"]).active


def test_secrets_logger_writes_masked_files(tmp_path: Path) -> None:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    os.write(out_w, b"token=my-s3cret-token\nhalf=my-s3c")
    os.write(out_w, b"ret-token end\n")
    os.write(err_w, b"my-s3cret-token")
    os.close(out_w)
    os.close(err_w)
    pipes = {out_r: "stdout", err_r: "stderr"}
    run_logger(str(tmp_path), pipes, max_bytes=1 << 20, backups=1, mask=(b"my-s3cret-token",))
    assert (tmp_path / "stdout.log").read_bytes() == b"token=***\nhalf=*** end\n"
    assert (tmp_path / "stderr.log").read_bytes() == b"***"


def test_secrets_messages_carry_values_but_never_show_them() -> None:
    body = job_spec(parse_spec({"config": {"command": ["true"], "env": {"A": {"secret": "t"}}}}))
    start = StartInstance(
        instance_id="i", deployment_id="d", deployment_name="n", replica=0, spec=body,
        secrets={"A": "abcdefgh"},
    )  # fmt: skip
    again = InstanceSecrets(instance_id="i", secrets={"A": "abcdefgh"})
    assert decode(encode(start)).secrets == {"A": "abcdefgh"}  # type: ignore[union-attr]
    assert decode(encode(again)) == again
    assert "abcdefgh" not in repr(start) + repr(again)  # a log line of a message shows none


def test_secrets_reasons_a_node_reports_are_masked() -> None:
    from types import SimpleNamespace

    from symphony.node.jobs import ProcessJobs

    held = {"i": {"T": "long-secret-value", "S": "short"}}
    jobs = SimpleNamespace(manager=SimpleNamespace(node=SimpleNamespace(secrets=held)))
    text = "check failed: long-secret-value (short)"
    assert ProcessJobs._masked(jobs, "i", text) == "check failed: *** (short)"  # type: ignore[arg-type]
    assert ProcessJobs._masked(jobs, "other", text) == text  # type: ignore[arg-type]
    assert ProcessJobs._masked(jobs, "i", None) is None  # type: ignore[arg-type]
