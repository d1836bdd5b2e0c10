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
  which nothing can encode: refused too, naming where;
- nesting has no limit in YAML, but the composer that builds the node graph recurses
  once per level: libyaml's on the C stack (``[`` 50,000 times over kills the process
  with a segmentation fault, nothing to catch), PyYAML's own on Python's
  (``RecursionError``). So the parser's events, which come out of a state machine
  without recursion, are read first and counted: a collection nested more than
  :data:`MAX_DEPTH` deep is refused at its first line, before any node is composed.
  Aliases can nest deeper than the text shows (``b: &b [*a]``, ``c: &c [*b]``...), so
  the composed graph's depth is counted again with its size, where aliases are
  followed;
- a text of more than :data:`MAX_CHARS` characters is refused before it is parsed.

Errors are PyYAML's own ``MarkedYAMLError`` kinds, so a caller reports them as it
reports a syntax error: ``line 3, column 1: duplicate key 'replicas'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from symphony import uniquejson

#: The most characters a document may stand for once its aliases are expanded: the
#: Conductor's API takes request bodies of at most 1 MiB, and a configuration file is
#: far smaller.
MAX_EXPANDED = 1024 * 1024
#: The most characters of the text itself: twice :data:`MAX_EXPANDED`, which leaves room
#: for comments and indentation that stand for nothing once composed.
MAX_CHARS = 2 * MAX_EXPANDED
#: The deepest nesting of lists and mappings: the Conductor's API refuses a body nested
#: deeper (a spec is sent as one), a configuration file's deepest key is 3 levels down
#: (``conductor.http.auth``), an experiment's about 6 (``processes[0].config.env.NAME``);
#: far short of what a composer's recursion (or a JSON encoder's) can bear.
MAX_DEPTH = uniquejson.MAX_DEPTH


def load_yaml(
    text: str,
    *,
    max_expanded: int = MAX_EXPANDED,
    max_depth: int = MAX_DEPTH,
    max_chars: int = MAX_CHARS,
) -> Any:
    """The one document in ``text`` (``None`` if empty), or ``ValueError`` in one line::

    not valid YAML: line 2, column 7: expected ',' or ']', but got '<stream end>'
    line 3, column 1: duplicate key 'replicas'
    line 1, column 33: nested more than 32 levels deep
    """
    if len(text) > max_chars:
        raise ValueError(f"too large: over {max_chars:,} characters")
    import yaml  # ~40 ms: only commands that read a file pay for it

    strict = _loader_class(yaml)
    loader = None
    try:
        loader = strict(text)  # without libyaml, its reader refuses control characters here
        # Events first: the composer must never see a depth that could exhaust its stack.
        aliased = _check_nesting(yaml, strict(text), max_depth)
        node = loader.get_single_node()
        if node is None:
            return None
        # Without an alias, the graph is as deep as the events said: not measured again.
        _check_expansion(yaml, node, max_expanded, max_depth if aliased else None)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        # Content refused (a duplicate key, an unknown tag) is valid YAML all the same.
        syntax = not isinstance(exc, yaml.constructor.ConstructorError)
        raise ValueError(("not valid YAML: " if syntax else "") + _one_line(exc)) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml_text(path: str | Path, *, max_chars: int = MAX_CHARS) -> str:
    """A UTF-8 file's text, as ``Path.read_text`` gives it, but one character past
    ``max_chars`` at most (then :func:`load_yaml` refuses it): a file given by mistake
    (a log, a device) is not read whole. Raises what ``read_text`` raises."""
    with open(path, encoding="utf-8") as file:
        return file.read(max_chars + 1)


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


def _too_deep(yaml: Any, limit: int, mark: Any) -> Exception:
    problem = f"nested more than {limit} levels deep"
    error: Exception = yaml.constructor.ConstructorError(None, None, problem, mark)
    return error


def _check_nesting(yaml: Any, parser: Any, limit: int) -> bool:
    """Refuse text whose lists and mappings nest more than ``limit`` deep, reading the
    parser's events (no node is built): stops at the first collection too deep, so
    50,000 ``[`` cost 33 events. A syntax error is raised as the load would raise it.
    Returns whether the text holds an alias (``*name``)."""
    steps = {
        yaml.SequenceStartEvent: 1,
        yaml.MappingStartEvent: 1,
        yaml.SequenceEndEvent: -1,
        yaml.MappingEndEvent: -1,
    }
    depth, aliased = 0, False
    try:
        while (event := parser.get_event()) is not None:
            kind = type(event)  # a lookup, not isinstance: this loop is the cost
            if (step := steps.get(kind)) is not None:
                depth += step
                if depth > limit:
                    raise _too_deep(yaml, limit, event.start_mark)
            elif kind is yaml.AliasEvent:
                aliased = True
            elif kind is yaml.StreamEndEvent:
                break
    finally:
        parser.dispose()
    return aliased


def _check_expansion(yaml: Any, root: Any, limit: int, max_depth: int | None) -> None:
    """Refuse a node graph that loops, whose expansion passes ``limit`` characters (a
    scalar counts its length, every node one more), or whose aliases nest it more than
    ``max_depth`` deep (``None``: not measured). Depth first without recursion (deep
    nesting must not exhaust Python's stack); each node is measured once, so a document
    of a few hundred aliases costs a few hundred steps, whatever it expands to.
    """
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}  # the levels of lists and mappings from a node down
    open_nodes: set[int] = set()  # the nodes on the path from the root: a loop's witness
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_sized = stack.pop()
        key = id(node)
        if children_sized:
            open_nodes.discard(key)
            own = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
            children = _children(yaml, node)
            sizes[key] = 1 + own + sum(sizes[id(c)] for c in children)
            if max_depth is not None and not isinstance(node, yaml.ScalarNode):
                heights[key] = 1 + max((heights.get(id(c), 0) for c in children), default=0)
                if heights[key] > max_depth:
                    raise _too_deep(yaml, max_depth, node.start_mark)
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
