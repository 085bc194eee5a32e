"""/docs in a real browser: Swagger UI renders every operation, and try-it-out works,
with and without a bearer token, nothing fetched from anywhere but the app (issue 20).

Headless Chromium (Debian's `chromium`) driven by Playwright, whose own browser
download is never used. Every host but 127.0.0.1 is unreachable to it, and any
request elsewhere, or a console error (a Content-Security-Policy violation shows
there), fails the test. The screenshot is written beside the test's files (tox -e
browser keeps them in .tox/browser/tmp/pytest) and its path printed.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from tests.servers import find_binary

pytestmark = pytest.mark.browser

# Chromium's own background traffic (updates, sync, lookups) is off; every name but
# 127.0.0.1 resolves to nothing.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


@pytest.fixture
def live_url(make_app) -> Iterator[str]:
    """The app on a free loopback port, served by Werkzeug in a thread."""
    server = make_server("127.0.0.1", 0, make_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(10)


def sign_up_for_a_token(base_url: str) -> str:
    """A new user's bearer token, taken the way the page tells people to."""

    def post(path: str, body: dict[str, str]) -> dict[str, object]:
        request = urllib.request.Request(
            f"{base_url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as answer:
            return dict(json.loads(answer.read())["data"])

    account = {"email": "browser@example.com", "password": "orchid mantle 91"}
    post("/v1/users", {**account, "name": "Browser"})
    return str(post("/v1/auth/token", account)["access_token"])


def test_swagger_ui_renders_and_tries_an_operation_offline(live_url, tmp_path):
    chromium = find_binary("chromium", "chromium")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    document = json.loads(urllib.request.urlopen(f"{live_url}/openapi.json").read())
    token = sign_up_for_a_token(live_url)
    operations = sum(len(item) for item in document["paths"].values())
    elsewhere: list[str] = []
    errors: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on(
            "request", lambda r: None if r.url.startswith(live_url) else elsewhere.append(r.url)
        )
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{live_url}/docs")

        page.wait_for_selector(".opblock", timeout=20_000)
        assert page.locator(".opblock").count() == operations
        assert "Authorize" in page.locator(".auth-wrapper").inner_text()

        block = page.locator("#operations-calc-calc_divide_numbers")
        block.locator(".opblock-summary").click()
        block.get_by_role("button", name="Try it out").click()
        block.locator("input[placeholder='a']").fill("10")
        block.locator("input[placeholder='b']").fill("2")
        block.get_by_role("button", name="Execute").click()
        answer = block.locator(".live-responses-table tr.response")
        answer.first.wait_for(timeout=10_000)
        status = answer.locator(".response-col_status").first.inner_text().strip()
        body = answer.locator(".response-col_description pre").first.inner_text()

        # Authorize with a bearer token, then try an operation that needs one.
        page.locator(".auth-wrapper .authorize").click()
        page.locator(".modal-ux input").fill(token)
        page.locator(".modal-ux .auth-btn-wrapper button.authorize").click()
        page.locator(".modal-ux .auth-btn-wrapper button.btn-done").click()
        me = page.locator("#operations-users-users_get_me")
        me.locator(".opblock-summary").click()
        me.get_by_role("button", name="Try it out").click()
        me.get_by_role("button", name="Execute").click()
        mine = me.locator(".live-responses-table tr.response")
        mine.first.wait_for(timeout=10_000)
        my_status = mine.locator(".response-col_status").first.inner_text().strip()
        my_body = mine.locator(".response-col_description pre").first.inner_text()

        screenshot = tmp_path / "docs.png"
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()

    print(f"screenshot: {screenshot}")
    assert status == "200"
    assert json.loads(body) == {"data": {"result": 5.0}}
    assert my_status == "200"
    assert json.loads(my_body)["data"]["email"] == "browser@example.com"
    assert elsewhere == []
    assert errors == []
    assert screenshot.stat().st_size > 10_000
