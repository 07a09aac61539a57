"""Sign-in lockout in a browser: five wrong passwords pause the account, the page says for
how long and offers a password reset, and a colleague at the same desk still signs in."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from practice.models import User
from tests.e2e.conftest import shot, sign_in


def test_five_wrong_passwords_pause_the_account_but_not_a_colleague(
    transactional_db, owner: User, therapist: User, page: Page
) -> None:
    for _ in range(4):
        sign_in(page, owner.email, "not the password")
        expect(page.get_by_role("alert")).to_contain_text("don’t match")
    sign_in(page, owner.email.upper(), "not the password")
    expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Try again in 15 minutes")
    shot(page, "sign_in_paused")

    page.get_by_role("link", name="Back to sign in").click()
    sign_in(page, owner.email)  # the right password, still paused
    expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()

    page.get_by_role("link", name="Back to sign in").click()
    sign_in(page, therapist.email)
    expect(page.locator("nav.mainnav")).to_be_visible()
