"""The reference pages list what the code has: every command in cli.md, every route in api.md."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from symphony.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
CLI_MD = ROOT / "docs" / "cli.md"
API_MD = ROOT / "docs" / "api.md"
ROUTE = re.compile(r"@\w+\.(get|post|patch|put|delete)\(\s*\"([^\"]+)\"")
#: Routes that only serve the UI's files or the API explorer's page (named in api.md
#: through their parents).
UNLISTED_ROUTES = {"/ui/", "/ui/{}"}


def parser_commands() -> set[str]:
    """``deploy``, ``ps``..., and ``token create`` for a command with sub-commands (and
    the command itself too when it also runs without one)."""
    found = set()
    for action in build_parser()._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, sub in action.choices.items():
            nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
            found |= {f"{name} {child}" for a in nested for child in a.choices}
            if not any(a.required for a in nested):  # runs by itself too (`node`)
                found.add(name)
    return found


def documented_commands() -> set[str]:
    """From headings like ``## `symphony token create`, `list`, `revoke```."""
    found = set()
    for line in CLI_MD.read_text().splitlines():
        if not line.startswith("## "):
            continue
        names = re.findall(r"`([^`]+)`", line)
        if not names or not names[0].startswith("symphony "):
            continue
        first = names[0].split()[1:]
        prefix = first[:-1]
        found.add(" ".join(first))
        found |= {" ".join([*prefix, name]) for name in names[1:]}
    return found


def test_cli_md_has_a_heading_for_every_command() -> None:
    commands, documented = parser_commands(), documented_commands()
    assert "token create" in commands and "ps" in commands
    assert commands - documented == set(), "commands without a heading in docs/cli.md"
    assert documented - commands == set(), "headings in docs/cli.md for no command"


def normalized(path: str) -> str:
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_api_md_lists_every_route() -> None:
    routes = set()
    for source in (ROOT / "symphony" / "conductor" / "api").glob("*.py"):
        routes |= {normalized(m[2]) for m in ROUTE.finditer(source.read_text())}
    assert {"/live", "/tokens", "/tokens/{}", "/deployments/{}/logs"} <= routes
    listed = {
        normalized(p)
        for p in re.findall(
            r"`(?:GET|POST|PATCH|PUT|DELETE) (/(?:[^`?\s{]|\{[^}]*\})*)", API_MD.read_text()
        )
    }
    assert routes - UNLISTED_ROUTES - listed == set(), "routes missing from docs/api.md"
