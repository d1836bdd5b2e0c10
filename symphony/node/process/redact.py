"""Mask secret values in a job's output before it reaches a log file.

:class:`Redactor` replaces every occurrence of each value (of at least
:data:`MIN_MASKED` bytes: shorter ones would mask ordinary words) with ``***``. It works
on a stream of reads, so a value split across two reads is still caught: the end of
a read that could be the start of a value is held back until the next read decides
(or the stream ends, or :meth:`Redactor.flush` is called after a quiet moment).

Cost: one regular-expression pass per read over the alternation of the values (the
``re`` engine tries them at each position, bounded by their number and length), and
at most ``longest - 1`` bytes held back.

    >>> r = Redactor([b"hf_secret_token"])
    >>> r.feed(b"token=hf_sec") + r.feed(b"ret_token\\n") + r.flush()
    b'token=***\\n'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Values shorter than this are not masked (``"1"`` or ``"true"`` would hide real text).
MIN_MASKED = 6
MASK = b"***"


def mask_text(text: str, values: Iterable[str]) -> str:
    """``text`` with each of ``values`` (of at least MIN_MASKED characters) masked: for
    a short text in one piece (an instance's reason), not a stream."""
    for value in sorted(values, key=len, reverse=True):  # a longer value first
        if len(value) >= MIN_MASKED:
            text = text.replace(value, MASK.decode())
    return text


class Redactor:
    """Masks ``values`` in a byte stream (see the module docstring)."""

    def __init__(self, values: Iterable[bytes]) -> None:
        kept = sorted({v for v in values if len(v) >= MIN_MASKED}, key=len, reverse=True)
        self._values = kept
        # Longest first: a value that contains another is masked whole.
        self._pattern = re.compile(b"|".join(re.escape(v) for v in kept)) if kept else None
        self._held = b""

    @property
    def active(self) -> bool:
        """Whether there is anything to mask."""
        return self._pattern is not None

    @property
    def holding(self) -> bool:
        """Whether bytes are held back, waiting for the next read."""
        return bool(self._held)

    def feed(self, data: bytes) -> bytes:
        """The masked bytes that are safe to write now (some may be held back)."""
        if self._pattern is None:
            return data
        data = self._pattern.sub(MASK, self._held + data)
        keep = self._open_prefix(data)
        self._held = data[len(data) - keep :] if keep else b""
        return data[: len(data) - keep] if keep else data

    def flush(self) -> bytes:
        """Everything held back (at the end of the stream, or after a quiet moment)."""
        held, self._held = self._held, b""
        return held

    def _open_prefix(self, data: bytes) -> int:
        """The length of the longest end of ``data`` that starts some value: for each
        value, its first byte is looked for (at C speed) in the last ``len - 1`` bytes."""
        best = 0
        end = len(data)
        for value in self._values:
            first = value[:1]
            at = data.find(first, max(0, end - len(value) + 1))
            while at != -1 and end - at > best:
                if value.startswith(data[at:]):
                    best = end - at
                    break
                at = data.find(first, at + 1)
        return best
