"""Messages of small refusals, checked before anything is sent: the first argument at
fault is the one named, and what is wrong is said as it is."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from symphony.cli import main
from symphony.cli.experiments import launched_text

NOWHERE = "http://127.0.0.1:9"  # nothing listens: a command that got this far would say so


def error_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main([*argv, "--conductor", NOWHERE]) == 1
    return capsys.readouterr().err


@pytest.mark.parametrize("extra", [(), ("some-value",)])
def test_secret_set_names_a_bad_name_before_the_value(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, extra: tuple[str, ...]
) -> None:
    empty = io.TextIOWrapper(io.BytesIO(b""))  # an empty value: at fault too, but later
    monkeypatch.setattr("sys.stdin", empty)
    err = error_of(capsys, "secret", "set", "bad!", *extra)
    assert "secret name 'bad!' must start with a letter or digit" in err, err


def test_secret_set_refuses_a_value_given_as_an_argument(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["secret", "set", "good", "some-value", "--conductor", NOWHERE])
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert "a secret's value is never an argument" in err and "--from-file" in err, err


@pytest.mark.parametrize(
    "words",
    [
        ("hunter2", "xyzzy"),
        ("hunter2", "--from-file", "f", "xyzzy"),
        ("--from-file", "f", "hunter2", "xyzzy"),
        ("-hunter2",),
        ("--hunter2=xyzzy",),
        ("hunter2", "-xyzzy"),
    ],
)
def test_secret_set_never_repeats_a_word_of_a_value_given_as_arguments(
    capsys: pytest.CaptureFixture[str], words: tuple[str, ...]
) -> None:
    """A value typed after NAME (in any place, or looking like an option) is refused
    without echoing any part of it: "unrecognized arguments: xyzzy" showed a word."""
    with pytest.raises(SystemExit) as usage:
        main(["secret", "set", "good", *words, "--conductor", NOWHERE])
    assert usage.value.code == 2
    out, err = capsys.readouterr()
    assert "a secret's value is never an argument" in err, err
    assert "hunter2" not in out + err and "xyzzy" not in out + err, err


def test_upload_of_a_missing_directory_says_it_does_not_exist(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing"
    err = error_of(capsys, "deploy", "--upload", str(missing), "--", "python3", "main.py")
    assert f"--upload {missing}: no such directory" in err, err
    (tmp_path / "file").write_text("x")
    err = error_of(capsys, "deploy", "--upload", str(tmp_path / "file"), "--", "true")
    assert "is a file, not a directory" in err, err


def test_launch_counts_its_processes_in_words() -> None:
    one = {"name": "solo", "processes": [{"name": "main"}]}
    assert launched_text(one).startswith("experiment solo launched: 1 process (main);")
    two = {"name": "pair", "processes": [{"name": "a"}, {"name": "b"}]}
    assert launched_text(two).startswith("experiment pair launched: 2 processes (a, b);")


def usage_error_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as usage:
        main([*argv, "--conductor", NOWHERE])
    assert usage.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize("value", ["abc", "0", "1.5"])
def test_rollback_names_its_version_argument(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    err = usage_error_of(capsys, "rollback", "web", value)
    assert f"argument VERSION: a version is a whole number from 1, got {value!r}" in err, err


@pytest.mark.parametrize("ttl", ["31d", "745h", "2592001"])
def test_token_ttl_past_the_limit_is_said_in_the_units_given(
    capsys: pytest.CaptureFixture[str], ttl: str
) -> None:
    err = usage_error_of(capsys, "token", "create", "--ttl", ttl)
    assert f"at most 30 days (30d, 720h), got {ttl!r}" in err, err


def test_token_ttl_limit_is_the_conductors() -> None:
    from symphony.cli.token import MAX_TTL_SECONDS
    from symphony.conductor.join import MAX_TOKEN_TTL

    assert MAX_TTL_SECONDS == MAX_TOKEN_TTL


def test_secret_set_without_a_name_asks_for_the_name_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `secret set -- -bad` names '-bad' (test_cli_double_dash): it is not a missing NAME.
    err = usage_error_of(capsys, "secret", "set")
    assert err.endswith("the following arguments are required: NAME"), err
