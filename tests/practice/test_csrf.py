"""CSRF on every POST: signed in as the Owner, with the practice's own objects (so the
request would otherwise go through), a POST without the token is refused with Django's
CSRF page and changes nothing; and every form the pages draw carries the token (htmx
requests send it from the body's hx-headers)."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from practice.models import Membership, Role
from tests.conftest import login
from tests.practice.test_attack_suite import POST_DATA, fingerprint
from tests.practice.test_url_sweep import SAMPLES, swept_routes
from tests.sessions.test_barrier import plant

# Routes a POST without a CSRF token may reach, and why: none. Holos has no webhook; the
# phone-calendar feed (calendar_feed_ics) answers GET only and its POST is refused here
# like any other; recording_upload is csrf_exempt only so that its upload handler is set
# before anything reads the body, and checks the token itself with csrf_protect.
CSRF_EXEMPT: dict[str, str] = {}

# Parameters of routes that name no practice object (NOT_PRACTICE_OBJECTS in the sweep).
TOKEN_ROUTES = {
    "accounts:password_reset_confirm": {"uidb64": "MQ", "token": "set-password"},
    "sessions:calendar_feed_ics": {"token": "feed-token"},
}


@pytest.fixture
def own(pro, clinic, owner, therapist):
    return plant(clinic, therapist, owner)


def _urls(objects) -> list[tuple[str, str]]:
    urls = []
    for name, params in swept_routes().items():
        if not params:
            urls.append((name, reverse(name)))
        elif name in SAMPLES:
            urls.append((name, reverse(name, kwargs=SAMPLES[name](objects))))
        else:
            urls.append((name, reverse(name, kwargs=TOKEN_ROUTES[name])))
    return urls


def _csrf_page(client: Client) -> bytes:
    return client.post(reverse("accounts:login"), {"username": "x"}).content


def test_every_post_without_a_token_is_refused_and_changes_nothing(own, owner):
    client = login(Client(enforce_csrf_checks=True), owner)
    refusal = _csrf_page(client)
    assert b"CSRF" in refusal or b"csrf" in refusal
    before = fingerprint()
    wrong = []
    for name, url in _urls(own):
        if name in CSRF_EXEMPT:
            continue
        for headers in ({}, {"HX-Request": "true"}):
            response = client.post(url, POST_DATA, headers=headers)
            if response.status_code != 403 or response.content != refusal:
                wrong.append((name, bool(headers), response.status_code))
    assert not wrong
    assert fingerprint() == before
    # Still signed in: the logout POST was refused too.
    assert client.get(reverse("patients:index")).status_code == 200


def test_the_same_post_with_the_token_goes_through(own, owner):
    """The control: the refusal above is the missing token, and fingerprint() sees a
    change."""
    client = login(Client(enforce_csrf_checks=True), owner)
    client.get(reverse("practice:members"))
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    before = fingerprint()
    url = reverse("practice:member_role", args=[own.membership.pk])
    response = client.post(url, {"role": Role.ASSISTANT, "csrfmiddlewaretoken": token})
    assert response.status_code in (200, 302)
    assert Membership.objects.get(pk=own.membership.pk).role == Role.ASSISTANT
    assert fingerprint() != before


class _Forms(HTMLParser):
    """Collects each POST form (with whether it holds the token) and the body's hx-headers."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.open: list[dict] = []
        self.body_headers: str | None = None
        self.hx_writes = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body_headers = attrs.get("hx-headers")
        if any(attrs.get(a) for a in ("hx-post", "hx-put", "hx-patch", "hx-delete")):
            self.hx_writes += 1
        if tag == "form":
            form = {
                "method": (attrs.get("method") or "get").lower(),
                "action": attrs.get("action"),
                "htmx": bool(attrs.get("hx-post")),
                "token": False,
            }
            self.forms.append(form)
            self.open.append(form)
        if tag == "input" and attrs.get("name") == "csrfmiddlewaretoken" and attrs.get("value"):
            for form in self.open:
                form["token"] = True

    def handle_endtag(self, tag):
        if tag == "form" and self.open:
            self.open.pop()


def test_every_post_form_carries_the_token(own, owner):
    client = login(Client(), owner)
    pages = checked_forms = htmx_pages = 0
    missing = []
    for name, url in _urls(own):
        if name in ("accounts:logout",) or name in TOKEN_ROUTES:
            continue
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, headers=headers)
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            pages += 1
            parser = _Forms()
            parser.feed(response.content.decode())
            for form in parser.forms:
                if form["method"] != "post":
                    continue
                checked_forms += 1
                if not form["token"]:
                    missing.append((name, bool(headers), form["action"]))
            if parser.hx_writes and b"<body" in response.content:
                # Full pages that send htmx writes: the body's hx-headers carry the token.
                assert parser.body_headers, name
                assert len(json.loads(parser.body_headers).get("X-CSRFToken", "")) == 64, name
                htmx_pages += 1
    assert not missing
    assert pages > 40 and checked_forms > 20 and htmx_pages > 10
