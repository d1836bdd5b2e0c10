"""What the pages show and where they lead, as an operator finds them: a command with
its arguments told apart, an address typed by hand, a filter kept in the address."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium
from .test_ui_browser import deploy, login, remove

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)


def test_ui_deployment_page_shows_the_command_with_its_arguments_apart(
    page: Any, server: Server
) -> None:
    # Once, the arguments were joined with spaces: ["sh", "-c", "echo a b; sleep 1000"]
    # read "sh -c echo a b; sleep 1000", as if sh ran "echo" alone.
    command = ["sh", "-c", "echo 'a b'; sleep 1000", "ünï ✓"]
    deploy(server, "quoted", config={"command": command})
    try:
        login(page, server, "#/d/quoted")
        shown = "sh -c 'echo '\\''a b'\\''; sleep 1000' 'ünï ✓'"
        expect(page.locator("#command code")).to_have_text(shown)
        expect(page.locator("table.versions td.mono")).to_have_text(shown)
        # What the page shows is what the form would split back into the same list.
        split = page.evaluate(
            "async (text) => (await import('/ui/js/shell.js')).splitCommand(text)", shown
        )
        assert split == command
    finally:
        remove(server, "quoted")


def test_ui_address_typed_by_hand_with_a_stray_percent_says_not_found(
    page: Any, server: Server
) -> None:
    # Once, "#/d/50%off" threw "URI malformed" and left the page blank.
    login(page, server, "#/d/50%off")
    expect(page.locator("main")).to_contain_text("No deployment named 50%off.")


def test_ui_back_from_a_deployment_returns_to_the_same_filter_and_page(
    page: Any, server: Server
) -> None:
    # Once, the filter and the page were not in the address: Back from a deployment
    # showed the first page of everything again.
    names = [f"back-{i:03d}" for i in range(120)]
    RANGE = "101\u2013120 of 120"
    for name in names:
        deploy(server, name, replicas=0)
    try:
        login(page, server, "#/deployments")
        page.fill("#filter-name", "back-")
        page.click("#page-next")
        expect(page.locator("#page-range")).to_have_text(RANGE)
        page.click("text=back-110")
        expect(page.locator("h1")).to_contain_text("back-110")
        page.go_back()
        expect(page.locator("#page-range")).to_have_text(RANGE)
        expect(page.locator("#filter-name")).to_have_value("back-")
        # The address holds them, so it can be shared or reloaded.
        page.reload()
        expect(page.locator("#page-range")).to_have_text(RANGE)
        page.fill("#filter-name", "back-00")
        expect(page.locator("tbody tr")).to_have_count(10)
        assert page.url.endswith("#/deployments?name=back-00")
    finally:
        for name in names:
            remove(server, name)


def test_ui_a_link_opens_the_next_page_at_its_top(page: Any, server: Server) -> None:
    # Once, a deployment opened from the bottom of a long list opened scrolled down to
    # its logs: the window kept the list's scroll position.
    names = [f"top-{i:02d}" for i in range(40)]
    for name in names:
        deploy(server, name, replicas=0)
    try:
        login(page, server, "#/deployments?name=top-")
        expect(page.locator("tbody tr")).to_have_count(40)
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        assert page.evaluate("window.scrollY") > 500
        page.click("text=top-39")
        expect(page.locator("h1")).to_contain_text("top-39")
        expect(page.locator("#log-output")).to_be_attached()
        assert page.evaluate("window.scrollY") == 0
    finally:
        for name in names:
            remove(server, name)


def test_ui_narrow_window_shows_every_section_link(page: Any, server: Server) -> None:
    # Once, on a phone-width window the links scrolled sideways in their own strip and
    # "Experiments" was cut off under the live status, with nothing to show it was there.
    page.set_viewport_size({"width": 390, "height": 800})
    login(page, server)
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('.topbar nav a, .live-status, #logout')]
             .map((el) => { const r = el.getBoundingClientRect();
                            return [el.textContent, r.left, r.right, r.top, r.bottom]; })"""
    )
    links, others = boxes[:3], boxes[3:]
    assert [b[0] for b in links] == ["Nodes", "Deployments", "Experiments"]
    for text, left, right, top, bottom in links:
        assert left >= 0 and right <= 390, f"{text} is at {left}-{right}px"
        for other, o_left, o_right, o_top, o_bottom in others:
            apart = right <= o_left or o_right <= left or bottom <= o_top or o_bottom <= top
            assert apart, f"{text} lies under {other or 'the live status'}"
    page.click(".topbar nav >> text=Experiments")
    expect(page.locator("h1")).to_have_text("Experiments")


def test_ui_a_long_name_leaves_every_column_of_the_table_in_sight(
    page: Any, server: Server
) -> None:
    # Once, one name of 63 characters (the longest allowed) made the table 1,361 px wide
    # in a 1,280 px window: "Updated" and part of "Pending reason" needed a sideways scroll.
    name = "a-very-long-deployment-name-" + "x" * 35
    deploy(server, name, replicas=0)
    try:
        login(page, server, "#/deployments")
        expect(page.locator(f"tr[data-deployment='{name}']")).to_be_visible()
        wide = page.evaluate(
            """() => { const wrap = document.querySelector('.table-wrap');
                       return [wrap.querySelector('table').scrollWidth, wrap.clientWidth]; }"""
        )
        assert wide[0] <= wide[1], f"the table is {wide[0]} px wide in {wide[1]} px"
    finally:
        remove(server, name)


def test_ui_an_action_that_cannot_reach_the_conductor_says_so(page: Any, server: Server) -> None:
    # Once, Stop with the Conductor down showed the browser's words alone: "Failed to
    # fetch". The browser's network here refuses the request, as a stopped Conductor does.
    deploy(server, "unreached", replicas=0)
    try:
        login(page, server, "#/d/unreached")
        page.route("**/deployments/*", lambda route: route.abort("connectionrefused"))
        page.click("#stop")
        expect(page.locator(".toast.error")).to_contain_text("Cannot reach the Conductor")
        page.unroute("**/deployments/*")
    finally:
        remove(server, "unreached")
