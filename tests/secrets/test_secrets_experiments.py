"""A process of an experiment references secrets as a deployment does: an unknown one
is refused at submit (naming it), a known one reaches the process and no answer."""

from __future__ import annotations

from pathlib import Path

import trio

from ..api.helpers import cluster

VALUE = "exp-s3cret-value"


async def test_secrets_in_an_experiment_process(tmp_path: Path) -> None:
    out = tmp_path / "seen.txt"
    process = {
        "name": "learner",
        "cmds": ['printf "%s" "$TOKEN" > "$OUT"', "sleep 600"],
        "env": {"TOKEN": {"secret": "exp-tok"}, "OUT": str(out)},
    }
    spec = {"name": "rl", "processes": [process]}
    async with cluster(tmp_path) as c:
        refused = await c.http.post("/experiments", json=spec)
        assert refused.status_code == 422, refused.text
        assert "exp-tok" in refused.text
        await c.http.post("/secrets", json={"name": "exp-tok", "value": VALUE})
        created = await c.http.post("/experiments", json=spec)
        assert created.status_code == 201, created.text
        with trio.fail_after(15):
            while not out.exists() or out.read_text() != VALUE:
                await trio.sleep(0.05)
        answers = created.text + (await c.http.get("/experiments/rl")).text
        answers += (await c.http.get("/experiments/rl/events")).text
        assert VALUE not in answers
