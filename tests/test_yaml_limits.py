"""The one YAML loader's bounds (``symphony.config.load_yaml``): nesting, size, aliases.

libyaml's composer recurses on the C stack once per level of nesting, so 50,000 ``[``
kill the process (a segmentation fault); PyYAML's own composer raises RecursionError.
The loader counts the parser's events first and refuses the text before either sees it.
The commands that read a file are run as real processes in ``test_yaml_limits_cli``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from symphony.config import MAX_CHARS, load_yaml, read_yaml_text


def nested(levels: int, *, block: bool = False) -> str:
    """``levels`` lists (flow style) or mappings (block style), one inside the next."""
    if block:
        return "".join(f"{'  ' * n}k{n}:\n" for n in range(levels - 1)) + "  " * levels + "x: 1\n"
    return "[" * levels + "]" * levels


def test_yaml_nesting_up_to_32_levels_loads() -> None:
    """32: the Conductor's API refuses a body nested deeper, and a spec is sent as one."""
    value = load_yaml(nested(32))
    for _ in range(31):
        value = value[0]
    assert value == []
    assert load_yaml(nested(32, block=True)) is not None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (nested(33), "line 1, column 33"),
        (nested(33, block=True), "line 33, column 67"),
        ("[" * 50_000, "line 1, column 33"),
        ("a: " + "{b: " * 50_000, "line 1, column 128"),
        ("- " * 50_000 + "x", "line 1, column 65"),
    ],
    ids=["flow-33", "block-33", "flow-50000", "mapping-50000", "dash-50000"],
)
def test_yaml_nesting_past_32_levels_is_one_line_naming_where(text: str, where: str) -> None:
    with pytest.raises(ValueError) as exc:
        load_yaml(text)
    assert str(exc.value) == f"{where}: nested more than 32 levels deep"


def test_yaml_nesting_is_refused_without_libyaml_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyYAML's own composer (no libyaml installed) raised RecursionError here."""
    monkeypatch.delattr(yaml, "CSafeLoader")
    with pytest.raises(ValueError, match="line 1, column 33: nested more than 32 levels deep"):
        load_yaml("[" * 50_000)
    assert load_yaml("a: [[1]]\n") == {"a": [[1]]}


def test_yaml_control_character_is_one_line_without_libyaml_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PyYAML's own reader checks the characters as its loader is made: that escaped as
    a ReaderError (shown as a bug) where libyaml's loader said "not valid YAML"."""
    monkeypatch.delattr(yaml, "CSafeLoader")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_yaml("a: \x07b\n")


def test_yaml_aliases_cannot_nest_deeper_than_the_text_shows() -> None:
    """Each anchor one level deeper than the last: 40 short lines, 40 levels once the
    aliases are followed, which whoever walks the data (a JSON encoder) recurses into."""
    lines = ["a0: &a0 [x]"] + [f"a{n}: &a{n} [*a{n - 1}]" for n in range(1, 40)]
    with pytest.raises(ValueError, match=r"^line 33, column 6: nested more than 32 levels deep"):
        load_yaml("\n".join(lines))
    assert load_yaml("\n".join(lines[:30]))["a29"] is not None


def test_yaml_text_past_the_size_bound_is_refused_before_parsing() -> None:
    with pytest.raises(ValueError, match=r"^too large: over 2,097,152 characters$"):
        load_yaml("#" * (MAX_CHARS + 1))
    assert load_yaml("#" * MAX_CHARS) is None
    with pytest.raises(ValueError, match=r"^too large: over 10 characters$"):
        load_yaml("a: 12345678", max_chars=10)


def test_yaml_file_is_read_one_character_past_the_bound_at_most(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("a: 1\n" * 1000)
    assert read_yaml_text(big, max_chars=10) == "a: 1\na: 1\na"
    with pytest.raises(ValueError, match="too large: over 10 characters"):
        load_yaml(read_yaml_text(big, max_chars=10), max_chars=10)


def test_yaml_bounds_keep_what_they_kept() -> None:
    """Aliases, merge keys and duplicate keys behave as before the depth check."""
    text = "base: &b {A: '1'}\nuse: {<<: *b, B: '2'}\nlist: [*b, *b]\n"
    assert load_yaml(text)["use"] == {"A": "1", "B": "2"}
    with pytest.raises(ValueError, match="line 2, column 1: duplicate key 'a'"):
        load_yaml("a: 1\na: 2\n")
    with pytest.raises(ValueError, match=r"^not valid YAML: line 2, column 1: "):
        load_yaml("a: [b\n")
