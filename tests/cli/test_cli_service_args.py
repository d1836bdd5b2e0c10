"""``symphony vi`` and ``symphony pf`` take the experiment the same ways: as a positional
``EXP`` after ``SERVICE`` (as ``logs`` and ``p`` do) or as ``-e EXP``; ``pf``'s old
``SERVICE LOCAL_PORT`` keeps working, the port told from the name by being a number."""

from __future__ import annotations

import pytest

from symphony.cli import build_parser, main
from symphony.cli.portforward import forward_target
from symphony.cli.process import visit_target


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (("pf", "tb"), (None, 0)),
        (("pf", "tb", "9000"), (None, 9000)),  # the old form
        (("pf", "tb", "-e", "rl"), ("rl", 0)),  # the old form
        (("pf", "tb", "9000", "-e", "rl"), ("rl", 9000)),
        (("pf", "tb", "rl"), ("rl", 0)),  # as vi takes it
        (("pf", "tb", "rl", "9000"), ("rl", 9000)),
        (("port-forward", "tb", "9000", "rl"), ("rl", 9000)),
        (("pf", "tb", "²"), ("²", 0)),  # not an ASCII number: a name (str.isdigit took it)
        (("pf", "tb", "rl", "0"), ("rl", 0)),
        # Options between the positionals (argparse alone took none after the first).
        (("pf", "tb", "-e", "rl", "9000"), ("rl", 9000)),
        (("pf", "-e", "rl", "tb", "9000"), ("rl", 9000)),
        (("pf", "tb", "--address", "0.0.0.0", "rl", "9000"), ("rl", 9000)),
        (("pf", "tb", "rl", "--address", "0.0.0.0", "9000"), ("rl", 9000)),
        (("pf", "tb", "9000", "--conductor", "http://c:1", "rl"), ("rl", 9000)),
    ],
)
def test_port_forward_takes_the_experiment_as_vi_does(
    argv: tuple[str, ...], target: tuple[str | None, int]
) -> None:
    assert forward_target(parse(*argv)) == target


@pytest.mark.parametrize(
    ("argv", "experiment"),
    [
        (("vi", "tb"), None),
        (("vi", "tb", "rl"), "rl"),  # the old form
        (("vi", "tb", "-e", "rl"), "rl"),  # as pf takes it
        (("visit", "tb", "--experiment", "rl", "--url-only"), "rl"),
        (("vi", "tb", "rl", "-e", "rl"), "rl"),  # the same twice is no conflict
        (("vi", "tb", "--url-only", "rl"), "rl"),
        (("vi", "--url-only", "tb", "rl"), "rl"),
        (("vi", "-e", "rl", "tb", "--url-only"), "rl"),
    ],
)
def test_visit_takes_the_experiment_as_pf_does(argv: tuple[str, ...], experiment: str) -> None:
    assert visit_target(parse(*argv)) == experiment


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (("pf", "tb", "rl", "-e", "other"), "the experiment is given twice"),
        (("vi", "tb", "rl", "-e", "other"), "the experiment is given twice"),
        (("pf", "tb", "80", "90"), "two local ports"),
        (("pf", "tb", "rl", "other"), "two experiments"),
        (("pf", "tb", "70000"), "local port 70000"),
        (("pf", "tb", "9" * 5000), "is not a port number"),  # int() refused it: exit 1
        (("pf", "tb", "rl", "123456"), "is not a port number"),
    ],
)
def test_service_commands_refuse_what_cannot_be_meant(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], said: str
) -> None:
    with pytest.raises(SystemExit) as usage:
        main([*argv, "--conductor", "http://127.0.0.1:9"])
    assert usage.value.code == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("ps", "web", "-a", "api"), {"names": ["web", "api"], "all": True}),
        (("ps", "-a", "web", "api"), {"names": ["web", "api"], "all": True}),
        (("ps", "web", "--state", "running", "api", "-w"), {"names": ["web", "api"]}),
        (("ps", "-l", "team=ml", "web"), {"names": ["web"]}),
        (("p", "--json", "rl"), {"experiment": "rl", "json": True}),
        (("process", "rl", "--json"), {"experiment": "rl", "json": True}),
        (("logs", "agent-0", "-t", "rl"), {"name": "agent-0", "experiment": "rl"}),
        (("logs", "--since", "10m", "agent-0", "rl"), {"experiment": "rl", "since": "10m"}),
        (("logs", "agent-0", "rl", "-f"), {"experiment": "rl", "follow": True}),
        (("se", "--conductor", "http://c:1", "rl"), {"experiment": "rl"}),
        (("rollback", "web", "--conductor", "http://c:1", "2"), {"name": "web", "version": 2}),
    ],
)
def test_options_go_between_positionals_in_every_documented_order(
    argv: tuple[str, ...], expected: dict[str, object]
) -> None:
    """Python 3.11's argparse takes an optional positional only in the first run of
    positionals: ``ps web -a api`` exited 2 ("unrecognized arguments: api")."""
    args = vars(parse(*argv))
    assert {key: args[key] for key in expected} == expected


def test_a_projects_own_command_line_takes_the_same_orders() -> None:
    """The monitoring commands a :class:`SymphonyParser` carries parse as ``symphony``'s."""
    from symphony.commandline import SymphonyParser

    parser = SymphonyParser(prog="myproject").parser
    assert parser.parse_args(["p", "--json", "rl"]).experiment == "rl"
    assert parser.parse_args(["vi", "tb", "--url-only", "rl"]).experiment == "rl"
