"""setup_logging: human lines, JSON lines, idempotence, and secrets kept out."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from symphony.logs import redact, setup_logging

SECRET_TOKEN = "symjt1.0123abcd.s3cr3t-value_XYZ"


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("trio-websocket").level)
    yield
    for handler in root.handlers:
        if handler not in saved[0]:
            root.removeHandler(handler)
    root.setLevel(saved[1])
    logging.getLogger("trio-websocket").setLevel(saved[2])


def test_logs_json_lines_parse_with_fields_and_extras() -> None:
    out = io.StringIO()
    setup_logging("debug", json=True, stream=out)
    log = logging.getLogger("symphony.test")
    log.debug("node %s connected", "node-1", extra={"node_id": "node-1", "port": 50051})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert first == {
        "ts": first["ts"],
        "level": "DEBUG",
        "logger": "symphony.test",
        "msg": "node node-1 connected",
        "node_id": "node-1",
        "port": 50051,
    }
    assert second["level"] == "ERROR" and second["msg"] == "it failed"
    assert "ValueError: boom" in second["exc_info"]


def test_logs_json_encodes_unusual_extras_as_text() -> None:
    out = io.StringIO()
    setup_logging("INFO", json=True, stream=out)
    logging.getLogger("x").info("path", extra={"where": object})
    assert json.loads(out.getvalue())["where"] == "<class 'object'>"


def test_logs_human_format_has_time_level_logger_message() -> None:
    out = io.StringIO()
    setup_logging("INFO", json=False, stream=out)
    logging.getLogger("symphony.node").info("started")
    logging.getLogger("symphony.node").debug("not shown at INFO")
    line = out.getvalue()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO    symphony\.node: started\n", line
    )


def test_logs_setup_is_idempotent() -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging("INFO", stream=first)
    setup_logging("WARNING", json=True, stream=second)
    logging.getLogger("x").warning("once")
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1
    ours = [
        h for h in logging.getLogger().handlers if getattr(h, "stream", None) in (first, second)
    ]
    assert len(ours) == 1
    assert logging.getLogger().level == logging.WARNING


def test_logs_chatty_library_stays_at_info_under_debug() -> None:
    setup_logging("DEBUG", stream=io.StringIO())
    assert logging.getLogger("trio-websocket").level == logging.INFO


def test_logs_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("LOUD")


@pytest.mark.parametrize("json_format", [False, True])
def test_logs_secrets_are_redacted_in_messages_and_tracebacks(json_format: bool) -> None:
    out = io.StringIO()
    setup_logging("INFO", json=json_format, stream=out)
    log = logging.getLogger("x")
    log.info("joining with %s", SECRET_TOKEN)
    log.info("header Authorization: Bearer abc.def.ghi", extra={"auth": "Bearer zzz-secret"})
    try:
        raise RuntimeError(f"rejected token {SECRET_TOKEN}")
    except RuntimeError:
        log.exception("join failed")
    text = out.getvalue()
    for secret in ("s3cr3t", "abc.def.ghi", "zzz-secret"):
        assert secret not in text
    assert "symjt1.0123abcd.***" in text  # the id still says which token it was


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /x?token=abc123&y=1", "GET /x?token=***&y=1"),
        ('{"api_token": "abc"}', '{"api_token": "***"}'),
        ("join token 0123abcd expired", "join token 0123abcd expired"),
        ("no secrets here", "no secrets here"),
    ],
)
def test_logs_redact_masks_only_secret_values(text: str, expected: str) -> None:
    assert redact(text) == expected
