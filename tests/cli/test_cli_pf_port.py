"""``symphony pf SERVICE 2024`` when an experiment is named ``2024``: the number in
EXP's place is the local port, so the experiment would be silently passed over; the
command asks for ``-e`` instead, before anything listens."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from symphony.cli import main

from ..api.helpers import cluster


async def test_pf_asks_for_e_when_its_one_number_is_also_an_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with cluster(tmp_path, node=False) as c:
        monkeypatch.setenv("SYMPHONY_URL", c.info.http_url)
        monkeypatch.setenv("SYMPHONY_TOKEN", c.info.api_token)
        numbered = {"name": "2024", "processes": [{"name": "a", "cmds": ["sleep 60"]}]}
        assert (await c.http.post("/experiments", json=numbered)).status_code == 201

        def pf(*words: str) -> tuple[int | str | None, str]:
            with pytest.raises(SystemExit) as stopped:
                main(["pf", "svc", *words])
            return stopped.value.code, capsys.readouterr().err

        code, err = await trio.to_thread.run_sync(pf, "2024")
        assert code == 2 and "-e 2024" in err, err
        # Said either way, it is not a usage error (the service is then looked for).
        for words in (("-e", "2024"), ("2024", "-e", "2024"), ("-e", "2024", "9000")):
            status = await trio.to_thread.run_sync(main, ["pf", "svc", *words])
            assert status == 1
            assert "no process of experiment 2024 exposes or binds 'svc'" in (
                capsys.readouterr().err
            )
