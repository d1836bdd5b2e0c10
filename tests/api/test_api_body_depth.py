"""A body's nesting is checked whether or not it is walked: a body with fewer brackets
than the limit cannot nest deeper, and is not walked."""

from __future__ import annotations

import pytest

from symphony.conductor.api.body import MAX_DEPTH, decode_body
from symphony.conductor.api.errors import HttpError

JSON = {"Content-Type": "application/json"}


class Headers:
    def get(self, key: str, default: str | None = None) -> str | None:
        return JSON.get(key, default)


def nested(levels: int, inner: bytes = b"") -> bytes:
    return b'{"a":' * (levels - 1) + b"[" + inner + b"]" + b"}" * (levels - 1)


@pytest.mark.parametrize("levels", [1, MAX_DEPTH - 1, MAX_DEPTH])
def test_api_body_at_most_max_depth_is_taken(levels: int) -> None:
    assert decode_body(nested(levels), Headers()) is not None


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, MAX_DEPTH + 5])
def test_api_body_deeper_than_max_depth_is_refused(levels: int) -> None:
    with pytest.raises(HttpError, match="malformed request") as caught:
        decode_body(nested(levels), Headers())
    assert "nests" in str(caught.value.detail)


def test_api_body_with_many_brackets_but_shallow_is_taken() -> None:
    wide = b"[" + b",".join([b"[]", b"{}", b'"[[[{{{"'] * 40) + b"]"
    assert len(decode_body(wide, Headers())) == 120


def test_api_body_brackets_in_strings_do_not_hide_depth() -> None:
    deep = nested(MAX_DEPTH + 1, inner=b'"]]]]}}}}"')
    with pytest.raises(HttpError):
        decode_body(deep, Headers())
