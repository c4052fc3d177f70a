"""Browser tests: Playwright for Python driving Debian's chromium (`/usr/bin/chromium`, installed by `.ci/run` with
apt-get; Playwright never downloads a browser here).

In CI (env CI set) a missing chromium or playwright fails the test; elsewhere it skips with the reason.

Playwright's sync API runs an asyncio event loop in the test's thread, and Django refuses database calls while an
event loop runs in the calling thread (SynchronousOnlyOperation). The test itself seeds and checks rows, so
`DJANGO_ALLOW_ASYNC_UNSAFE` is set for the duration of each browser test only (the `page` fixture), which also
closes the database connections opened while Playwright ran. The live server answers from its own thread;
`transactional_db` lets it see what the test writes."""

import os
from pathlib import Path

import pytest
from django.db import connections

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - only without the dev dependencies
    expect = sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 15_000  # the machine is small and shared: previews wait 400 ms for typing to pause, then query


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs chromium with apt-get)")
    pytest.skip(f"{reason} (set CI=true to make this a failure)")


@pytest.fixture
def page(live_server, transactional_db, monkeypatch):
    """A chromium page (1280 by 900) on the live server. Set up after the database fixtures, so it is torn down
    (event loop gone) before they flush the tables."""
    if sync_playwright is None:
        _unavailable("playwright is not installed")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        tab = context.new_page()
        errors = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        yield tab
        context.close()
        browser.close()
        # While an event loop runs in a thread, Django keeps that thread's connections in a context variable
        # (asgiref's thread-critical Local), apart from the ones pytest-django opened: close them here, or the
        # test database cannot be dropped at the end ("is being accessed by other users").
        connections.close_all()
    assert errors == [], f"JavaScript errors in the page: {errors}"


@pytest.fixture
def logged_in(page, organization):
    """`page`, logged in through the login form as the owner of `organization`."""
    page.goto("/accounts/login/")
    page.fill("#id_username", "owner@acme.test")
    page.fill("#id_password", "acme-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return page
