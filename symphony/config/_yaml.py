"""YAML a person wrote, read strictly: a configuration file, a deployment spec file.

PyYAML's safe loader is safe from code execution, not from every surprise:

- two equal keys in a mapping keep the last, silently; that hides the very line a person
  is editing, so it is an error here (``duplicate key 'replicas'``);
- an alias (``*a``) repeats what its anchor (``&a``) names without copying it, so a
  document of a few hundred bytes can stand for billions of nodes (the "billion laughs":
  ``b: &b [*a, *a, ...]`` nine times over, twelve levels deep). Whoever then walks or
  encodes it (JSON, to send a spec) expands it all. The composed document's expanded
  size is counted before any Python object is built, without expanding it (each node
  once), and one past :data:`MAX_EXPANDED` characters is refused;
- an alias inside its own anchor (``a: &a [*a]``) makes a list that contains itself,
  which nothing can encode: refused too, naming where.

Errors are PyYAML's own ``MarkedYAMLError`` kinds, so a caller reports them as it
reports a syntax error: ``line 3, column 1: duplicate key 'replicas'``.
"""

from __future__ import annotations

from typing import Any

#: The most characters a document may stand for once its aliases are expanded: the
#: Conductor's API takes request bodies of at most 1 MiB, and a configuration file is
#: far smaller.
MAX_EXPANDED = 1024 * 1024


def load_yaml(text: str, *, max_expanded: int = MAX_EXPANDED) -> Any:
    """The one document in ``text`` (``None`` if empty), or ``ValueError`` in one line::

    not valid YAML: line 2, column 7: expected ',' or ']', but got '<stream end>'
    line 3, column 1: duplicate key 'replicas'
    """
    import yaml  # ~40 ms: only commands that read a file pay for it

    loader = _loader_class(yaml)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(yaml, node, max_expanded)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        # Content refused (a duplicate key, an unknown tag) is valid YAML all the same.
        syntax = not isinstance(exc, yaml.constructor.ConstructorError)
        raise ValueError(("not valid YAML: " if syntax else "") + _one_line(exc)) from None
    finally:
        loader.dispose()


def _one_line(exc: Any) -> str:
    """``line L, column C: problem`` of a PyYAML error (only the problem if unplaced)."""
    where = getattr(exc, "problem_mark", None)
    line = f"line {where.line + 1}, column {where.column + 1}: " if where else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return " ".join(f"{line}{problem}".split())


def _children(yaml: Any, node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(yaml: Any, root: Any, limit: int) -> None:
    """Refuse a node graph that loops, or whose expansion passes ``limit`` characters
    (a scalar counts its length, every node one more). Depth first without recursion
    (deep nesting must not exhaust Python's stack); each node is sized once, so a
    document of a few hundred aliases costs a few hundred steps, whatever it expands to.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # the nodes on the path from the root: a loop's witness
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_sized = stack.pop()
        key = id(node)
        if children_sized:
            open_nodes.discard(key)
            own = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
            sizes[key] = 1 + own + sum(sizes[id(c)] for c in _children(yaml, node))
            if sizes[key] > limit:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"too large once its aliases (*name) are expanded: over {limit:,} characters",
                    None,
                )
            continue
        if key in sizes:
            continue  # an alias of a node sized already
        if key in open_nodes:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "an alias (*name) inside its own anchor: it would never end",
                node.start_mark,
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(yaml, node))


#: The tag of a merge key (``<<``), which the base loader expands.
_MERGE = "tag:yaml.org,2002:merge"


def _loader_class(yaml: Any) -> type:
    """A safe loader (libyaml when present) that refuses duplicate keys."""
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    # The base class is chosen at run time (PyYAML may lack libyaml): mypy cannot
    # check a class built on a variable, so it is told to take it as it is.
    class _StrictLoader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue  # ``<<: *base``: merged below; a key of its own overrides
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, str | int | float | bool | None):
                    continue  # unhashable keys get PyYAML's own error below
                if key in seen:
                    mark = key_node.start_mark
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return _StrictLoader
