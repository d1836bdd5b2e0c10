"""``--`` ends the options in every command that takes options between its positionals.

Python's intermixed parsing (3.11 to 3.13) dropped the ``--`` in its options-only pass,
so the word after it looked like an option again: ``symphony secret set -- -bad`` said
NAME was missing, and ``symphony ps -- -a`` listed everything as if ``-a`` were given.
"""

from __future__ import annotations

import io

import pytest

from symphony.cli import build_parser, main

NOWHERE = "http://127.0.0.1:9"  # nothing listens: a command that got this far would say so


def parsed(*argv: str) -> dict[str, object]:
    return vars(build_parser().parse_args(list(argv)))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("secret", "set", "--", "-bad"), {"name": "-bad", "value": []}),
        (("secret", "set", "--from-file", "f", "--", "-bad"), {"name": "-bad", "value": []}),
        (("secret", "set", "n", "--", "--from-file"), {"name": "n", "value": ["--from-file"]}),
        (("logs", "-f", "--", "-web", "-rl"), {"name": "-web", "experiment": "-rl"}),
        (("logs", "web", "--", "-rl"), {"name": "web", "experiment": "-rl", "follow": False}),
        (("ps", "-w", "--", "-a", "web"), {"names": ["-a", "web"], "all": False, "wide": True}),
        (("rollback", "--", "-web", "2"), {"name": "-web", "version": 2}),
        (("pf", "-e", "rl", "--", "-tb", "9000"), {"service": "-tb", "first": "9000"}),
    ],
)
def test_words_after_double_dash_are_positionals(
    argv: tuple[str, ...], expected: dict[str, object]
) -> None:
    got = parsed(*argv)
    assert {key: got[key] for key in expected} == expected


def test_options_before_double_dash_still_count_wherever_they_are() -> None:
    got = parsed("ps", "web", "-a", "--", "-x")
    assert (got["names"], got["all"]) == (["web", "-x"], True)


def test_secret_set_checks_a_name_given_after_double_dash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"value")))
    assert main(["secret", "set", "--conductor", NOWHERE, "--", "-bad"]) == 1
    err = capsys.readouterr().err
    assert "secret name '-bad' must start with a letter or digit" in err, err


def test_secret_set_after_double_dash_never_repeats_a_value_word(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["secret", "set", "--conductor", NOWHERE, "good", "--", "-hunter2"])
    assert usage.value.code == 2
    out, err = capsys.readouterr()
    assert "a secret's value is never an argument" in err and "hunter2" not in out + err, err
