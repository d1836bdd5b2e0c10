"""Logging setup for the ``symphony`` commands: human lines or one JSON object per line.

    setup_logging("INFO", json=False)
    # 2026-11-21 21:45:40.123 INFO    symphony.conductor: node node-1 connected

    setup_logging("DEBUG", json=True)
    # {"ts": "2026-11-21T21:45:40.123Z", "level": "INFO", "logger": "symphony.conductor",
    #  "msg": "node node-1 connected", "node_id": "node-1"}

In JSON, fields passed with ``extra={...}`` become keys of the object, so log shippers
can index them without parsing messages. :func:`setup_logging` may be called again (a
flag overriding a file): it replaces its own handler instead of adding a second one.

Secrets: both formats pass every line through :func:`redact`, which masks join-token
secrets and bearer tokens wherever they appear, including in exception text. It is a
safety net; our code never puts a secret into a log call in the first place.
"""

from __future__ import annotations

import datetime as dt
import json as _json
import logging
import re
import sys
from typing import Any, TextIO

__all__ = ["JsonFormatter", "TextFormatter", "redact", "setup_logging"]

# Join tokens look like symjt1.<id>.<secret>: keep the id (it names the token), hide the
# secret. Bearer tokens, token=... and "token": "..." values are hidden entirely.
_SECRETS = (
    (re.compile(r"(symjt1\.[^.\s]+\.)[^\s\"',;]+"), r"\1***"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1***"),
    (re.compile(r"(?i)(\b(?:api_)?token=)(?!symjt1\.)[^\s&\"',;]+"), r"\1***"),
    (re.compile(r"(?i)(\"(?:api_)?token\"\s*:\s*\")(?!symjt1\.)[^\"]+"), r"\1***"),
)
# Libraries that log every frame at DEBUG: at thousands of messages a second that is
# a cost and a flood, so they stay at INFO unless asked for by name.
_CHATTY = ("trio-websocket",)
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """``text`` with join-token secrets and bearer/API tokens replaced by ``***``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class TextFormatter(logging.Formatter):
    """``2026-11-21 21:45:40.123 INFO    logger: message`` in local time, redacted."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s",
            datefmt="%Y-%m-%d %H:%M:%S",
        )

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC), ``level``, ``logger``, ``msg``, ``exc_info``
    (the traceback text, when there is one) and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created, dt.UTC)
        out: dict[str, Any] = {
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            out["exc_info"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exc_info"] = redact(record.exc_text)
        if record.stack_info:
            out["stack_info"] = redact(self.formatStack(record.stack_info))
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = redact(value) if isinstance(value, str) else value
        # default=str: an extra field we cannot encode (a Path, an exception) still logs.
        return _json.dumps(out, default=str, ensure_ascii=False)


class _Handler(logging.StreamHandler[TextIO]):
    """The handler :func:`setup_logging` installs: the next call replaces it."""


def setup_logging(level: str = "INFO", *, json: bool = False, stream: TextIO | None = None) -> None:
    """Send log records at ``level`` and above to ``stream`` (stderr) in the chosen format.

    Idempotent: a second call replaces the handler the first one installed (and leaves
    handlers installed by anyone else alone).
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _Handler):
            root.removeHandler(old)
            old.close()
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
