"""``/ui``: the static files are public, typed, fenced by a CSP, and nothing else leaks."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import trio

from symphony.conductor.api.routes_ui import STATIC

from ..link.cluster import start_conductor


async def test_ui_files_are_served_without_a_token(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        async with httpx.AsyncClient(base_url=info.http_url, timeout=10) as http:
            page = await http.get("/ui")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            csp = page.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "script-src 'self'" in csp
            assert page.headers["x-content-type-options"] == "nosniff"
            # Every file the page names is served, with a type a browser accepts.
            names = re.findall(r'(?:src|href)="/ui/([^"]+)"', page.text)
            assert sorted(names) == ["js/app.js", "style.css"]
            for name in names:
                response = await http.get(f"/ui/{name}")
                assert response.status_code == 200, name
                assert response.content == (STATIC / name).read_bytes()
            script = await http.get("/ui/js/app.js")
            assert "javascript" in script.headers["content-type"]
            assert (await http.get("/ui/style.css")).headers["content-type"].startswith("text/css")
            # The API itself still wants the token.
            assert (await http.get("/deployments")).status_code == 401
        nursery.cancel_scope.cancel()


def test_ui_every_module_the_app_imports_exists() -> None:
    """A missing or misspelt import would only show as a blank page in a browser."""
    modules = sorted((STATIC / "js").glob("*.js"))
    for module in modules:
        for target in re.findall(r'from "\./([^"]+)"', module.read_text()):
            assert (STATIC / "js" / target).is_file(), f"{module.name} imports {target}"
    # Nothing is fetched from elsewhere: no absolute URLs in scripts, styles or the page.
    for path in [*modules, STATIC / "style.css", STATIC / "index.html"]:
        assert not re.search(r"https?://", path.read_text().replace("http://www.w3.org", "")), path


async def test_ui_unknown_and_escaping_paths_are_json_404s(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        async with httpx.AsyncClient(base_url=info.http_url, timeout=10) as http:
            for path in (
                "/ui/nope.js",
                "/ui/js/",
                "/ui/..%2f..%2fapi%2fapp.py",
                "/ui/js/..%2f..%2f..%2fapi%2fauth.py",
                "/ui/%2e%2e/%2e%2e/api/auth.py",
                "/ui/%00",
                # Longer than a file name may be: the file system's error is no 500.
                "/ui/" + "x" * 300,
                "/ui/js/" + "x" * 5000,
                "/ui/" + "a/" * 2100 + "app.js",
            ):
                response = await http.get(httpx.URL(info.http_url + path))
                assert response.status_code == 404, (path, response.status_code)
                assert response.json()["error"] == "not found", path
            # A bare "/ui/" sends the browser to the one address of the page.
            response = await http.get("/ui/")
            assert response.status_code in (301, 302, 307, 308)
            assert response.headers["location"].endswith("/ui")
            # Only GET: the UI takes no writes.
            assert (await http.post("/ui", content=b"x")).status_code == 405
        nursery.cancel_scope.cancel()
