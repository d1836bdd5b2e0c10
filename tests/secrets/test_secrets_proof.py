"""The proof: a job that prints its secret gets the value in its environment, and the
value appears nowhere else: not in any API answer, not in events, not in any file of
the Conductor's or the node's state directory (the database and the logs included)."""

from __future__ import annotations

from pathlib import Path

import trio

from ..api.helpers import cluster

VALUE = "hf_s3cr3t-VALUE-0123456789"
# Printed whole, and split across two writes with a pause (two reads for the logger).
SCRIPT = (
    'printf "%s" "$TOKEN" > "$PROOF"; echo "token=$TOKEN"; echo "to stderr $TOKEN" >&2; '
    'printf "half=%s" "${TOKEN%%-*}"; sleep 0.3; printf -- "-%s\\n" "${TOKEN#*-}"; '
    "exec sleep 600"
)


def _files_with(root: Path, needle: bytes) -> list[str]:
    return [
        str(p)
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and needle in p.read_bytes()
    ]


async def test_secrets_value_reaches_the_job_and_nothing_else(tmp_path: Path) -> None:
    proof = tmp_path / "proof.txt"  # outside both state directories
    async with cluster(tmp_path) as c:
        made = await c.http.post("/secrets", json={"name": "hf-token", "value": VALUE})
        assert made.status_code == 201, made.text
        spec = {
            "name": "printer",
            "config": {
                "command": ["sh", "-c", SCRIPT],
                "env": {"TOKEN": {"secret": "hf-token"}, "PROOF": str(proof)},
            },
        }
        created = await c.http.post("/deployments", json=spec)
        assert created.status_code == 201, created.text
        await c.wait_running("printer")
        with trio.fail_after(10):
            while not proof.exists() or proof.read_text() != VALUE:
                await trio.sleep(0.05)
        logs = ""
        with trio.fail_after(10):
            while not logs.endswith("\n") or "half=" not in logs:  # split over two writes
                logs = (await c.http.get("/deployments/printer/logs")).text
                await trio.sleep(0.05)
        # The first half waited for the second (it could start the value): masked whole.
        assert logs == "token=***\nhalf=***\n"
        errors = (await c.http.get("/deployments/printer/logs?stream=stderr")).text
        assert "to stderr ***" in errors
        answers = [
            created.text,
            made.text,
            (await c.http.get("/deployments")).text,
            (await c.http.get("/deployments/printer")).text,
            (await c.http.get("/deployments/printer/events")).text,
            (await c.http.get("/secrets")).text,
            (await c.http.get("/nodes")).text,
            (await c.http.get("/metrics")).text,
            logs,
            errors,
        ]
        assert all(VALUE not in text for text in answers)
        assert (await c.http.get("/deployments/printer")).json()["spec"]["config"]["env"][
            "TOKEN"
        ] == {"secret": "hf-token"}
        assert _files_with(tmp_path / "conductor", VALUE.encode()) == []
        assert _files_with(tmp_path / "n1", VALUE.encode()) == []
        assert _files_with(tmp_path / "n1", b"0123456789\n") == []  # nor its second half
