"""Actors of Symphony are sent typed messages (dataclasses), never bare strings or tuples.

A string or a tuple names no type: a typo is found only when the actor raises at run
time, and nothing documents what the reply is. Each message is a frozen dataclass in the
module of the actor that handles it (or its package's messages module).
"""

from __future__ import annotations

import ast
from pathlib import Path

import symphony

ROOT = Path(symphony.__file__).parent


def _untyped(node: ast.AST) -> bool:
    return isinstance(node, ast.Tuple | ast.List) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str | int | bytes)
    )


def _offences(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f"{path.relative_to(root.parent)}:{getattr(node, 'lineno', '?')}"
        sends = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("ask", "tell", "tell_nowait")
            and node.args
        )
        if sends and _untyped(node.args[0]):  # type: ignore[union-attr]
            found.append(f"{where}: sends {ast.unparse(node.args[0])}")  # type: ignore[union-attr]
        compares = (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Name)
            and node.left.id in ("message", "msg")
        )
        if compares and any(_untyped(c) for c in node.comparators):  # type: ignore[union-attr]
            found.append(f"{where}: matches {ast.unparse(node)}")
    return found


def test_actor_messages_are_dataclasses_not_strings_or_tuples() -> None:
    offences = [o for p in sorted(ROOT.rglob("*.py")) for o in _offences(p)]
    assert offences == []


def test_actor_messages_check_finds_a_string_message(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "async def f(ref, message):\n"
        "    await ref.ask('port')\n"
        "    await ref.tell(('logs', 1, print))\n"
        "    return message == 'url'\n"
    )
    assert len(_offences(sample, tmp_path)) == 3
