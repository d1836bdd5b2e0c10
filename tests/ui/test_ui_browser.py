"""The web UI in a real Chromium against a real ``symphony up`` (Conductor + node).

Each test is one thing a user does; together they walk every promise of the UI: log in
(fragment or form), refuse a wrong token, see nodes with capacity bars and gauges, create
through the form and watch it run, live logs, stop and start, scale, field errors from
the API, updates pushed without a reload, delete with confirmation, a narrow window.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium, screenshot

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)

TICKER = 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.1; done'


def login(page: Any, server: Server, where: str = "#/nodes") -> None:
    page.goto(server.ui(f"#token={server.token}"))
    expect(page.locator(".live-status")).to_have_text("live")
    if where != "#/nodes":
        page.goto(server.ui(where))


def expect_state(page: Any, server: Server, name: str, state: str) -> None:
    """The page's state pill reaches ``state`` (on failure, say what the API says)."""
    try:
        expect(page.locator("h1 .pill")).to_have_text(state)
    except AssertionError as error:
        said = server.api.get(f"/deployments/{name}").text
        raise AssertionError(f"{error}\nthe API says: {said}") from None


def deploy(server: Server, name: str, **spec: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "node_group": "local",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["sh", "-c", TICKER]},
        **spec,
    }
    response = server.api.post("/deployments", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def remove(server: Server, name: str) -> None:
    server.api.delete(f"/deployments/{name}")


def test_ui_fragment_token_logs_in_and_leaves_the_address_bar(page: Any, server: Server) -> None:
    login(page, server)
    expect(page.locator("h1")).to_have_text("Nodes")
    assert "token" not in page.url
    assert page.evaluate("sessionStorage.getItem('symphony.token')") == server.token


def test_ui_wrong_token_shows_the_login_screen(page: Any, server: Server) -> None:
    page.goto(server.ui("#token=not-the-token"))
    expect(page.locator(".login-error")).to_contain_text("refused the token")
    page.fill("#token", "still-wrong")
    page.click("button[type=submit]")
    expect(page.locator(".login-error")).to_have_text("The Conductor refused this token.")
    page.fill("#token", server.token)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Nodes")
    # Log out: back to the login screen, and the token is forgotten.
    page.click("#logout")
    expect(page.locator("#token")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('symphony.token')") is None


def test_ui_token_refused_later_returns_to_login(page: Any, server: Server) -> None:
    login(page, server, "#/deployments")
    expect(page.locator("#new-deployment")).to_be_visible()
    page.evaluate("sessionStorage.setItem('symphony.token', 'revoked')")
    page.goto(server.ui("#/new"))
    page.fill("#f-command", "true")
    page.click("#submit")
    expect(page.locator(".login-error")).to_contain_text("401")


def test_ui_nodes_page_shows_capacity_and_load(page: Any, server: Server) -> None:
    deploy(server, "node-page-job", capacity_requests={"Analytic1": 3})
    try:
        login(page, server)
        card = page.locator("[data-node=ui-node]")
        expect(card.locator(".card-head .pill")).to_have_text("ready")
        expect(card.locator(".chip")).to_have_text("local")
        expect(card.locator(".heartbeat")).to_contain_text("ago")
        capacity = card.locator(".capacity [aria-label=Analytic1]")
        expect(capacity.locator(".bar-caption")).to_have_text("3 / 10")
        assert capacity.locator(".fill").evaluate("el => el.style.width") == "30%"
        expect(card.locator("[aria-label=CPU] .bar-caption")).to_contain_text("cores")
        expect(card.locator("[aria-label=RAM] .bar-caption")).to_contain_text("GiB")
        assert card.locator(".core-slot").count() >= 1
        expect(card.locator(".node-instances")).to_contain_text("node-page-job")
        expect(card.locator("[data-charts=node] figure")).to_have_count(2)  # see test_ui_charts
        screenshot(page, "ui-nodes")
    finally:
        remove(server, "node-page-job")


def test_ui_reads_the_state_lists_from_the_api(page: Any, server: Server) -> None:
    # A job waiting out its restart backoff is `restarting` and still placed on its node:
    # the nodes page lists it there because GET /states says so (the UI keeps no copy).
    deploy(
        server,
        "crash-loop",
        config={"command": ["sh", "-c", "exit 1"]},
        restart_policy={"type": "on-failure", "backoff_seconds": 120},
    )
    try:
        login(page, server)
        card = page.locator("[data-node=ui-node]")
        expect(card.locator(".node-instances")).to_contain_text("crash-loop")
        expect(card.locator(".node-instances .pill")).to_have_text("restarting")
        states = server.api.get("/states").json()
        assert "restarting" in states["instance"]["placed"]
        page.goto(server.ui("#/deployments"))
        options = page.locator("#filter-state option")
        expect(options).to_have_count(1 + len(states["deployment"]["states"]))
    finally:
        remove(server, "crash-loop")
    # Whatever the Conductor answers is what the filter offers.
    served = {**states, "deployment": {"states": ["running", "some-new-state"]}}
    page.route("**/states", lambda route: route.fulfill(json=served))
    page.reload()
    login(page, server, "#/deployments")
    expect(page.locator("#filter-state option")).to_have_text(
        ["All states", "running", "some-new-state"]
    )


def test_ui_create_through_the_form_run_follow_logs_stop_start_delete(
    page: Any, server: Server
) -> None:
    login(page, server, "#/deployments")
    page.click("#new-deployment")
    page.fill("#f-name", "from-the-form")
    page.fill("#f-node_group", "local")
    page.fill("#f-command", f"sh -c '{TICKER}'")
    page.click("#f-capacity_requests .kv-add")
    page.fill("#f-capacity_requests .kv-key", "Analytic1")
    page.fill("#f-capacity_requests .kv-value", "2")
    page.click("#f-env .kv-add")
    page.fill("#f-env .kv-key", "GREETING")
    page.fill("#f-env .kv-value", "hello")
    page.select_option("#f-restart_type", "always")
    page.click("#submit")

    # The deployment's page: it reaches running, events and log lines arrive live.
    expect(page.locator("h1")).to_contain_text("from-the-form")
    expect_state(page, server, "from-the-form", "running")
    expect(page.locator("#events")).to_contain_text("started")
    expect(page.locator("#log-output")).to_contain_text("tick 5")
    first = page.locator("#log-output").text_content()
    expect(page.locator("#log-output")).not_to_have_text(first or "")  # still growing
    spec = server.api.get("/deployments/from-the-form").json()["spec"]
    assert spec["config"]["env"] == {"GREETING": "hello"}
    assert spec["capacity_requests"] == {"Analytic1": 2}
    assert spec["restart_policy"]["type"] == "always"
    screenshot(page, "ui-deployment")

    # Pause freezes the view; Follow shows what arrived meanwhile.
    page.click("#log-toggle")
    expect(page.locator(".log-status")).to_contain_text("new line")
    frozen = page.locator("#log-output").text_content()
    page.wait_for_timeout(300)
    assert page.locator("#log-output").text_content() == frozen
    page.click("#log-toggle")
    expect(page.locator("#log-output")).not_to_have_text(frozen or "")

    # Stop, then start again.
    page.click("#stop")
    expect_state(page, server, "from-the-form", "stopped")
    expect(page.locator("#events")).to_contain_text("stopped")
    page.click("#start")
    expect_state(page, server, "from-the-form", "running")

    # Scale to 2: a second instance row appears.
    page.fill("#scale-replicas", "2")
    page.click("#scale")
    expect(page.locator("table.instances tbody tr:not(.old)")).to_have_count(2)
    expect(page.locator(".fact-grid")).to_contain_text("2 running / 2 desired")

    # Delete asks first; Cancel keeps it.
    page.click("#delete")
    page.click(".dialog >> text=Cancel")
    expect(page.locator(".dialog")).to_have_count(0)
    page.click("#delete")
    page.click(".dialog .btn.danger")
    expect(page.locator("h1")).to_have_text("Deployments")
    expect(page.locator("[data-deployment=from-the-form]")).to_have_count(0)
    assert server.api.get("/deployments/from-the-form").status_code == 404


def test_ui_invalid_spec_errors_show_next_to_their_fields(page: Any, server: Server) -> None:
    login(page, server, "#/new")
    page.fill("#f-name", "Not A Valid Name")
    page.fill("#f-command", "true")
    page.click("#f-capacity_requests .kv-add")
    page.fill("#f-capacity_requests .kv-key", "Analytic1")
    page.fill("#f-capacity_requests .kv-value", "-1")
    page.click("#submit")
    name_error = page.locator("[data-error-for=name]")
    expect(name_error).to_contain_text("is not a valid name")
    expect(page.locator("[data-field=name]")).to_have_class("field invalid")
    expect(page.locator("[data-error-for=capacity_requests]")).to_contain_text(
        "capacity_requests.Analytic1: must be more than 0 (got -1)"
    )
    expect(page.locator("[data-error-for=command]")).to_be_empty()

    # An unclosed quote is caught before sending, on the command field.
    page.fill("#f-command", "sh -c 'echo")
    page.click("#submit")
    expect(page.locator("[data-error-for=command]")).to_contain_text("unclosed ' quote")

    # The JSON tab: bad JSON is refused in place; the API's errors are listed with paths.
    page.fill("#f-command", "true")
    page.click("#tab-json")
    raw = page.locator("#f-raw")
    assert '"Not A Valid Name"' in raw.input_value()
    raw.fill('{"name": "ok-name", "replicas": -2, "config": {"command": ["true"]}}')
    page.click("#submit")
    expect(page.locator(".raw-errors")).to_contain_text("replicas")
    expect(page.locator("[data-error-for=replicas]")).to_contain_text("must be at least 0 (got -2)")
    raw.fill("{not json")
    page.click("#tab-form")
    expect(page.locator(".form-error")).to_contain_text("The JSON is not valid")
    assert server.api.get("/deployments/ok-name").status_code == 404


def test_ui_edit_spec_sends_only_the_change(page: Any, server: Server) -> None:
    deploy(server, "to-edit", config={"command": ["sleep", "600"], "env": {"A": "1", "B": "2"}})
    try:
        login(page, server, "#/d/to-edit")
        page.click("#edit")
        expect(page.locator("#f-command")).to_have_value("sleep 600")
        page.locator("#f-env .kv-row").nth(1).locator(".kv-remove").click()
        page.fill("#f-command", "sleep 700")
        page.click("#submit")
        expect(page.locator("#edit")).to_be_visible()  # back on the deployment's page
        spec = server.api.get("/deployments/to-edit").json()["spec"]
        assert spec["config"]["command"] == ["sleep", "700"]
        assert spec["config"]["env"] == {"A": "1"}
        expect(page.locator("#events")).to_contain_text("updated")
    finally:
        remove(server, "to-edit")


def test_ui_deployments_page_filters_and_updates_live(page: Any, server: Server) -> None:
    deploy(server, "web-frontend")
    deploy(server, "too-big", capacity_requests={"Analytic1": 50})
    deploy(server, "batch-report", desired_state="stopped")
    try:
        login(page, server, "#/deployments")
        rows = page.locator("table.deployments tbody tr")
        expect(rows).to_have_count(3)
        big = page.locator("[data-deployment=too-big]")
        expect(big.locator(".pill")).to_have_text("pending")
        expect(big.locator(".reason")).to_contain_text("Analytic1 >= 50")
        web = page.locator("[data-deployment=web-frontend]")
        expect(web.locator(".pill")).to_have_text("running")
        expect(web).to_contain_text("ui-node")
        expect(web).to_contain_text("1/1")
        screenshot(page, "ui-deployments")

        page.fill("#filter-name", "web")
        expect(rows).to_have_count(1)
        page.fill("#filter-name", "")
        page.select_option("#filter-state", "pending")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-deployment", "too-big")
        page.select_option("#filter-state", "")

        # Pushed by the Conductor, no reload: a new one appears, a deleted one goes.
        deploy(server, "created-elsewhere")
        expect(page.locator("[data-deployment=created-elsewhere]")).to_have_count(1)
        remove(server, "created-elsewhere")
        expect(page.locator("[data-deployment=created-elsewhere]")).to_have_count(0)
        # An exit code shows once the job ends by itself.
        server.api.patch(
            "/deployments/web-frontend",
            json={
                "config": {"command": ["sh", "-c", "exit 3"]},
                "restart_policy": {"type": "never"},
            },
        )
        expect(web.locator("td[data-label='Last exit']")).to_have_text("3")
    finally:
        for name in ("web-frontend", "too-big", "batch-report", "created-elsewhere"):
            remove(server, name)


def test_ui_deployments_table_shows_a_page_of_rows_at_a_time(page: Any, server: Server) -> None:
    """130 deployments: 100 rows, then the next 30; a new filter starts at its first page."""
    names = [f"bulk-{n:03}" for n in range(130)]
    specs = [
        {"name": n, "desired_state": "stopped", "config": {"command": ["true"]}} for n in names
    ]
    created = server.api.post("/deployments:batch", json={"deployments": specs})
    assert created.status_code == 201, created.text
    try:
        login(page, server, "#/deployments")
        page.fill("#filter-name", "bulk-")
        rows = page.locator("table.deployments tbody tr")
        expect(rows).to_have_count(100)
        expect(page.locator("#page-range")).to_have_text("1\u2013100 of 130")
        expect(page.locator("#page-prev")).to_be_disabled()
        expect(rows.first).to_have_attribute("data-deployment", "bulk-000")
        page.click("#page-next")
        expect(rows).to_have_count(30)
        expect(rows.first).to_have_attribute("data-deployment", "bulk-100")
        expect(page.locator("#page-range")).to_have_text("101\u2013130 of 130")
        expect(page.locator("#page-next")).to_be_disabled()
        # A change pushed by the Conductor keeps the page; a deletion that empties it
        # moves back to the last page there is.
        for name in names[100:]:
            remove(server, name)
        expect(rows).to_have_count(100)
        expect(rows.first).to_have_attribute("data-deployment", "bulk-000")
        expect(page.locator("#page-range")).to_have_count(0)  # one page: no pager
        page.fill("#filter-name", "bulk-09")
        expect(rows).to_have_count(10)
    finally:
        for name in names:
            remove(server, name)


@pytest.mark.parametrize("where", ["#/nodes", "#/deployments", "#/new"])
def test_ui_narrow_window_has_no_sideways_scroll(page: Any, server: Server, where: str) -> None:
    deploy(server, f"narrow-{where.strip('#/')}")
    try:
        page.set_viewport_size({"width": 390, "height": 800})
        login(page, server, where)
        expect(page.locator("h1")).to_be_visible()
        page.wait_for_timeout(200)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{where} is {width}px wide in a 390px window"
    finally:
        remove(server, f"narrow-{where.strip('#/')}")


def test_ui_helpers_split_join_and_patch(page: Any, server: Server) -> None:
    """The page's own helpers, run in the browser: shell words and merge patches."""
    page.goto(server.ui())
    result = page.evaluate(
        """async () => {
          const shell = await import('/ui/js/shell.js');
          const form = await import('/ui/js/form.js');
          return {
            split: shell.splitCommand(`python3 -c 'print("a b")' "x\\\\"y" z\\\\ w`),
            join: shell.joinCommand(["sh", "-c", "echo it's", ""]),
            round: shell.splitCommand(shell.joinCommand(["a b", "it's", "$HOME"])),
            patch: form.mergePatch(
              {a: 1, env: {X: "1", Y: "2"}, list: [1]},
              {a: 1, env: {X: "1"}, list: [1, 2], b: true}),
            fields: ["config.env.FOO", "capacity_requests.A", "restart_policy.type", "kind"]
              .map(form.fieldFor),
          };
        }"""
    )
    assert result["split"] == ["python3", "-c", 'print("a b")', 'x"y', "z w"]
    assert result["join"] == "sh -c 'echo it'\\''s' ''"
    assert result["round"] == ["a b", "it's", "$HOME"]
    assert result["patch"] == {"env": {"Y": None}, "list": [1, 2], "b": True}
    assert result["fields"] == ["env", "capacity_requests", "restart_type", None]


def test_ui_drain_and_undrain_a_node(page: Any, server: Server) -> None:
    """Drain from the node's card (after a confirmation), see it marked, see why the
    replica could not move (the only node), undrain."""
    deploy(server, "drain-me")
    try:
        login(page, server)
        card = page.locator("[data-node=ui-node]")
        expect(card.locator(".node-instances")).to_contain_text("drain-me")
        card.locator("button.drain").click()
        expect(page.locator(".dialog")).to_contain_text("Drain ui-node?")
        expect(page.locator(".dialog")).to_contain_text("move to other nodes")
        page.locator(".dialog button", has_text="Drain").click()
        expect(card.locator(".card-head .pill.s-draining")).to_have_text("draining")
        expect(card.locator(".card-head .pill.s-ready")).to_have_text("ready")
        expect(card.locator("button.drain")).to_have_text("Undrain")
        expect(page.locator(".subtitle")).to_contain_text("1 draining")
        assert server.api.get("/nodes").json()["nodes"][0]["draining"] is True
        screenshot(page, "ui-node-draining")

        # Nowhere else to go: the replica keeps running, and its replacement says why.
        page.goto(server.ui("#/d/drain-me"))
        expect(page.locator("td.reason", has_text="none taking new work")).to_have_text(
            "1 node in group local, none taking new work: 1 draining"
        )

        page.goto(server.ui("#/nodes"))
        expect(card.locator("button.drain")).to_have_text("Undrain")
        card.locator("button.drain").click()  # undrain asks nothing
        expect(page.locator(".toast", has_text="undrained")).to_be_visible()
        expect(card.locator(".card-head .pill.s-draining")).to_have_count(0)
        expect(card.locator(".card-head .pill")).to_have_text("ready")
        expect(card.locator("button.drain")).to_have_text("Drain")
        expect(card).not_to_have_class("draining")
        assert server.api.get("/nodes").json()["nodes"][0]["draining"] is False
    finally:
        server.api.post("/nodes/ui-node/undrain")  # never leave the shared node drained
        remove(server, "drain-me")


def test_ui_scheduled_deployment_shows_its_schedule_and_runs(page: Any, server: Server) -> None:
    """A scheduled deployment's page has a runs panel (schedule, next time); the run
    table's helpers render runs with one exit code per replica."""
    schedule = {"cron": "0 3 * * *", "timezone": "Europe/Berlin", "concurrency": "allow"}
    deploy(server, "nightly", schedule=schedule, restart_policy={"type": "never"})
    try:
        login(page, server, "#/d/nightly")
        panel = page.locator("#runs")
        expect(panel).to_contain_text("0 3 * * * (Europe/Berlin), concurrency allow")
        expect(panel).to_contain_text("next run")
        expect(panel).to_contain_text("no runs yet")
        expect(page.locator("main")).to_contain_text("no instances between runs")
        result = page.evaluate(
            """async () => {
              const runs = await import('/ui/js/runs.js');
              const table = runs.runTable([
                {number: 2, state: "running", catch_up: false, scheduled_at: 1, started_at: 1,
                 finished_at: null, instances: [{exit_code: null}, {exit_code: 0}]},
                {number: 1, state: "failed", catch_up: true, scheduled_at: 0, started_at: 0,
                 finished_at: 5, instances: [{exit_code: 3}, {exit_code: 0}]},
              ]);
              return {
                rows: [...table.querySelectorAll("tbody tr")].map((tr) => tr.innerText),
                scheduled: runs.isScheduled({schedule: null, restart_schedule: {cron: "x"}}),
                plain: runs.isScheduled({schedule: null, restart_schedule: null}),
              };
            }"""
        )
        assert "#2" in result["rows"][0] and "\u2013 0" in result["rows"][0]
        assert "catch-up" in result["rows"][1] and "3 0" in result["rows"][1]
        assert result["scheduled"] and not result["plain"]
    finally:
        remove(server, "nightly")
