"""Browser tests: Playwright's sync API driving Debian's chromium against `live_server`.

Playwright's bundled browsers are never downloaded; CI installs the `chromium` package.
A missing browser fails the tests loudly instead of skipping them.
"""

from __future__ import annotations

import os
from base64 import b32decode
from collections.abc import Iterator
from pathlib import Path

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.factories import PASSWORD, authenticator_code

# Playwright's sync API keeps an event loop running in the test thread, which makes Django
# refuse ORM calls from that thread unless told it is safe (it is: one thread, no awaits).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
DESKTOP = {"width": 1280, "height": 800}

expect.set_options(timeout=10_000)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Browser tests need Debian's chromium at {CHROMIUM} "
            "(apt-get install chromium); Playwright's own browser download is not used.",
            pytrace=False,
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_page(browser: Browser, live_server):
    """new_page(viewport=...) opens a page in a fresh context (own cookies) on live_server."""
    contexts = []

    def open_page(viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(
            base_url=live_server.url, viewport=viewport or DESKTOP, locale="en-US"
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page) -> Page:
    return new_page()


def settled(page: Page) -> None:
    """Wait until htmx has finished swapping and settling: the triggers of content it has
    just swapped in are bound only when it settles, so a change made a moment earlier
    (a select picked, a search typed) would go unheard."""
    page.wait_for_function(
        "() => !document.querySelector("
        "'.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as tests/e2e/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    # The topbar is position: sticky; captured while scrolled, it would be drawn mid-page.
    page.evaluate("window.scrollTo(0, 0)")
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form the way a person does, and through the second
    factor when asked (`second_factor`)."""
    if "/accounts/login/" not in page.url:
        page.goto("/accounts/login/")
    page.locator("input[name=username]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("main form button[type=submit]").click()
    second_factor(page, email)


def second_factor(page: Page, email: str) -> None:
    """On the two-factor pages, do what the person would with their authenticator app:
    the first time, set it up from the key the page shows; later, type its code."""
    page.wait_for_load_state()
    if "/accounts/two-factor/setup/" in page.url:
        key = page.locator(".totp-secret").inner_text().replace(" ", "")
        device = TOTPDevice(key=b32decode(key + "=" * (-len(key) % 8)).hex())
    elif "/accounts/two-factor/" in page.url:
        device = TOTPDevice.objects.get(user__email__iexact=email, confirmed=True)
    else:
        return
    page.locator("input[name=code]").fill(authenticator_code(device))
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    page.wait_for_load_state()
