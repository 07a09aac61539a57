"""An idle session in a browser: after 30 minutes without activity the next click lands on
the sign-in page, which says why, and signing in again returns to the page asked for."""

from __future__ import annotations

import re
from importlib import import_module

from django.conf import settings
from playwright.sync_api import Page, expect

from practice.middleware import SEEN_AT
from practice.models import User
from tests.e2e.conftest import shot, sign_in


def test_an_idle_session_ends_and_sign_in_returns_to_the_page(
    transactional_db, therapist: User, page: Page
) -> None:
    sign_in(page, therapist.email)
    expect(page.locator("nav.mainnav")).to_be_visible()
    # 31 minutes pass without activity.
    key = next(
        c["value"] for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME
    )
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    session[SEEN_AT] -= settings.SESSION_IDLE_SECONDS + 60
    session.save()

    page.locator("nav.mainnav a[data-nav=patients]").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2Fpatients%2F$"))
    expect(page.get_by_text("You were signed out after a while without activity.")).to_be_visible()
    shot(page, "signed_out_idle")
    sign_in(page, therapist.email)
    expect(page).to_have_url(re.compile(r"/patients/$"))
