"""The log viewer of a deployment's page with the output real jobs write: a flood of
lines, terminal colour codes."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium
from .test_ui_browser import deploy, login, remove

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)

#: A shell loop of echo: about 5 MB of lines a second on two busy cores.
FLOOD = 'i=0; while :; do i=$((i+1)); echo "line $i"; done'

LAST_LINE = """() => {
  const text = document.getElementById('log-output')?.textContent || '';
  const m = text.slice(-40).match(/line (\\d+)\\n$/);
  return m ? Number(m[1]) : 0;
}"""

LINES = "document.getElementById('log-output').textContent.split('\\n').length"


def test_ui_logs_of_a_flooding_job_keep_a_bounded_view(page: Any, server: Server) -> None:
    # Once, every chunk of the stream was appended to the page as it came and trimmed
    # only after 200 of them: a job writing 5 MB/s grew the view to millions of lines
    # and the tab stopped answering (one read of the text took 53 s).
    deploy(server, "flood", config={"command": ["sh", "-c", FLOOD]})
    try:
        login(page, server, "#/d/flood")
        page.wait_for_function(f"() => ({LAST_LINE})() > 300000", timeout=60_000)
        lines = page.evaluate(LINES)
        assert lines <= 6001, f"the view holds {lines} lines"
        # The page still answers, and Pause holds the view still.
        page.click("#log-toggle")
        expect(page.locator(".log-status")).to_contain_text("new line")
        frozen = page.evaluate(LAST_LINE)
        page.wait_for_timeout(300)
        assert page.evaluate(LAST_LINE) == frozen
        page.click("#log-toggle")
        page.wait_for_function(f"() => ({LAST_LINE})() > {frozen}")
    finally:
        remove(server, "flood")


#: Colours and bold, a window title, a progress bar rewritten with CR, a CRLF ending.
COLOURS = (
    r"printf '\033[31mred\033[0m \033[1;4mbold\033[0m\n'; printf '\033]0;title\007plain\n';"
    r" printf 'done 10%%\rdone 100%%\n'; printf 'crlf\r\n'; printf 'end\n'; sleep 1000"
)


def test_ui_logs_show_terminal_output_without_its_escape_codes(page: Any, server: Server) -> None:
    # Once, a coloured line showed as "[31mred[0m" (the ESC itself invisible).
    deploy(server, "colours", config={"command": ["sh", "-c", COLOURS]})
    try:
        login(page, server, "#/d/colours")
        expect(page.locator("#log-output")).to_contain_text("end")
        text = page.locator("#log-output").text_content()
        assert text == "red bold\nplain\ndone 100%\ncrlf\nend\n"
    finally:
        remove(server, "colours")
