"""Signing in, the role-shaped navigation, inviting a member and signing up, in a browser.

Demo users see Portuguese or English, so these tests assert on structure (data-nav, ids,
field names, URLs), never on translated words.
"""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from practice.models import Invitation, Membership, Role, User
from tests.e2e.conftest import second_factor, shot, sign_in

DEMO_PASSWORD = "holos-demo"
OWNER_NAV = ["calendar", "patients", "payments", "tera", "settings"]
THERAPIST_NAV = ["calendar", "patients", "payments", "tera"]
ASSISTANT_NAV = ["calendar", "patients", "payments"]
CALENDAR_URL = re.compile(r"/calendar/$")
LOGIN_URL = re.compile(r"/accounts/login/")


@pytest.fixture
def demo(transactional_db) -> None:
    call_command("seed_demo", stdout=io.StringIO())


def nav_keys(page: Page) -> list[str]:
    items = page.locator("nav.mainnav a[data-nav]")
    expect(items.first).to_be_visible()
    return [items.nth(i).get_attribute("data-nav") for i in range(items.count())]


def sign_out(page: Page) -> None:
    page.locator("details.usermenu > summary").click()
    page.locator("details.usermenu form[action$='/accounts/logout/'] button").click()
    expect(page.locator("nav.mainnav")).to_have_count(0)


def test_owner_signs_in_and_sees_all_navigation(demo, page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(LOGIN_URL)

    page.locator("input[name=username]").click()
    page.keyboard.type("owner@holos.demo")
    page.locator("input[name=password]").click()
    page.keyboard.type(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    second_factor(page, "owner@holos.demo")

    expect(page).to_have_url(CALENDAR_URL)
    expect(page.locator("nav.mainnav a[data-nav=calendar]")).to_have_attribute(
        "aria-current", "page"
    )
    assert nav_keys(page) == OWNER_NAV
    for key in OWNER_NAV:
        expect(page.locator(f"nav.mainnav a[data-nav={key}]")).to_be_visible()
    expect(page.locator("details.usermenu")).to_contain_text("Espaço Holos")
    shot(page, "owner-navigation")


def test_therapist_and_assistant_see_only_their_navigation(demo, page: Page) -> None:
    sign_in(page, "ana@holos.demo", DEMO_PASSWORD)
    expect(page).to_have_url(CALENDAR_URL)
    assert nav_keys(page) == THERAPIST_NAV

    sign_out(page)

    sign_in(page, "carla@holos.demo", DEMO_PASSWORD)
    expect(page).to_have_url(CALENDAR_URL)
    assert nav_keys(page) == ASSISTANT_NAV
    expect(page.locator("nav.mainnav a[data-nav=tera]")).to_have_count(0)
    expect(page.locator("nav.mainnav a[data-nav=settings]")).to_have_count(0)
    shot(page, "assistant-navigation")


def test_owner_invites_a_therapist_without_reloading(demo, page: Page) -> None:
    sign_in(page, "owner@holos.demo", DEMO_PASSWORD)
    expect(page).to_have_url(CALENDAR_URL)

    page.locator("nav.mainnav a[data-nav=settings]").click()
    expect(page).to_have_url(re.compile(r"/practice/settings/$"))
    page.locator("nav.subnav a[href$='/practice/members/']").click()
    expect(page).to_have_url(re.compile(r"/practice/members/$"))
    expect(page.locator("table#members tbody tr")).to_have_count(4)

    # A full reload would drop this marker; an htmx swap keeps it.
    page.evaluate("window.__e2eNoReload = true")
    invitations = page.locator("section#invitations")
    invitations.locator("input[name=email]").fill("new.therapist@example.com")
    invitations.locator("select[name=role]").select_option(Role.THERAPIST.value)
    with page.expect_response(
        lambda r: (
            r.url.endswith("/practice/members/invite/")
            and r.request.method == "POST"
            and r.request.headers.get("hx-request") == "true"
        )
    ) as response:
        invitations.locator("button[type=submit]").click()
    assert response.value.status == 200

    pending = page.locator("section#invitations ul.list li")
    expect(pending).to_have_count(1)
    expect(pending.first).to_contain_text("new.therapist@example.com")
    expect(page.locator("section#invitations input[name=email]")).to_have_value("")
    expect(page.locator("section#invitations .message-success")).to_be_visible()
    assert page.evaluate("window.__e2eNoReload") is True
    expect(page).to_have_url(re.compile(r"/practice/members/$"))

    invitation = Invitation.objects.get(email="new.therapist@example.com")
    assert invitation.role == Role.THERAPIST
    assert invitation.practice.slug == "espaco-holos"
    shot(page, "members-invite")


def test_signup_rejects_mismatched_passwords_then_creates_the_practice(
    transactional_db, page: Page
) -> None:
    email = "new.owner@example.com"
    page.goto("/accounts/signup/")
    form = page.locator("form[action$='/accounts/signup/']")

    def fill(password2: str) -> None:
        form.locator("input[name=first_name]").fill("Marta")
        form.locator("input[name=last_name]").fill("Lima")
        form.locator("input[name=email]").fill(email)
        form.locator("input[name=password1]").fill("a-long-and-unusual-9")
        form.locator("input[name=password2]").fill(password2)
        form.locator("input[name=practice_name]").fill("Casa Lótus")
        form.locator("select[name=time_zone]").select_option("Europe/Lisbon")
        form.locator("select[name=language]").select_option("en")

    fill("a-different-password-9")
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    error = page.locator("#id_password2_error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.locator(".field.has-error:has(input[name=password2])")).to_be_visible()
    # Entered values survive the round trip; passwords do not.
    expect(form.locator("input[name=email]")).to_have_value(email)
    expect(form.locator("select[name=time_zone]")).to_have_value("Europe/Lisbon")
    assert not User.objects.filter(email=email).exists()
    shot(page, "signup-error")

    fill("a-long-and-unusual-9")
    form.locator("button[type=submit]").click()
    # An Owner sets up two-factor authentication before anything else.
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/setup/"))
    expect(page.locator(".qr-code svg")).to_be_visible()
    shot(page, "two_factor_setup")
    second_factor(page, email)

    expect(page).to_have_url(CALENDAR_URL)
    expect(page.locator("nav.mainnav a[data-nav=settings]")).to_be_visible()
    assert nav_keys(page) == OWNER_NAV
    expect(page.locator(".messages .message-success")).to_be_visible()
    expect(page.locator("details.usermenu")).to_contain_text("Casa Lótus")

    user = User.objects.get(email=email)
    assert user.language == "en"
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.practice.name == "Casa Lótus"
    assert membership.practice.time_zone == "Europe/Lisbon"
    shot(page, "signup-done")


def test_wrong_password_shows_an_error_and_stays_on_login(demo, page: Page) -> None:
    sign_in(page, "owner@holos.demo", "not-the-password")

    expect(page).to_have_url(LOGIN_URL)
    expect(page.locator("main .form-errors[role=alert]")).to_be_visible()
    expect(page.locator("main .form-errors")).not_to_be_empty()
    expect(page.locator("input[name=username]")).to_have_value("owner@holos.demo")
    expect(page.locator("input[name=password]")).to_have_value("")
    expect(page.locator("nav.mainnav")).to_have_count(0)
    shot(page, "login-error")


def test_owner_calendar_on_a_phone(demo, new_page) -> None:
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, "owner@holos.demo", DEMO_PASSWORD)
    expect(page).to_have_url(CALENDAR_URL)
    assert nav_keys(page) == OWNER_NAV

    # Nothing may push the page wider than the phone's screen.
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    nav = page.locator("nav.mainnav")
    shot(page, "mobile-calendar")
    assert scroll_width <= 390, f"page is {scroll_width}px wide on a 390px screen"

    # The main nav scrolls sideways on a phone; the last item must still be reachable.
    settings = nav.locator("a[data-nav=settings]")
    settings.scroll_into_view_if_needed()
    expect(settings).to_be_in_viewport()
    settings.click()
    expect(page).to_have_url(re.compile(r"/practice/settings/$"))
