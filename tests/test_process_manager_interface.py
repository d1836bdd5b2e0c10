"""The process manager's neighbours use its public interface, never its attributes.

The log sweep (``loggc``) and the adoption (``adoption``), like ``stopall``, work on a
:class:`~symphony.node.process.ProcessManager` handed to them. They used to read its
private attributes (``_instances``, ``_starting``, ``_stopping``) and call its private
methods (``_launch``, ``_emit``, ``_forget_oldest``): a change inside the manager broke
them unseen. This pins that no module outside the manager's own layers reaches into it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The manager's own layers: they share its state by inheritance.
OWN = {"manager.py", "instancehost.py", "monitorkeeper.py"}


def private_uses(path: Path) -> list[str]:
    """``manager._x`` uses in ``path`` (a parameter or variable named ``manager``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "manager"
            and node.attr.startswith("_")
        ):
            found.append(f"{path.name}:{node.lineno} manager.{node.attr}")
    return found


def test_no_neighbour_reads_the_managers_privates() -> None:
    modules = sorted((ROOT / "symphony" / "node").rglob("*.py"))
    assert any(p.name == "loggc.py" for p in modules)
    uses = [use for p in modules if p.name not in OWN for use in private_uses(p)]
    assert uses == []


def test_the_check_sees_a_private_use(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def held(manager):\n    return set(manager._instances)\n")
    assert private_uses(sample) == ["sample.py:2 manager._instances"]
