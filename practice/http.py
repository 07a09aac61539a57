from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from practice.models import Membership, Practice, User


class PracticeRequest(HttpRequest):
    """A request after PracticeMiddleware: views behind @practice_required may rely on it."""

    user: User
    practice: Practice
    membership: Membership
    memberships: list[Membership]
    htmx: HtmxDetails


class MaybePracticeRequest(HttpRequest):
    """A request that may come from a visitor or from a user without a practice."""

    practice: Practice | None
    membership: Membership | None
    htmx: HtmxDetails


def wants_fragment(request: PracticeRequest | MaybePracticeRequest) -> bool:
    """An htmx swap wants only the fragment; a history restore (the back button after the
    snapshot was dropped, as on pages with hx-history="false") wants the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def client_ip(request: HttpRequest) -> str | None:
    """The address the request came from, for the audit log.

    Behind our own TLS proxy (BEHIND_TLS_PROXY) REMOTE_ADDR is the proxy: the client is
    the last address the proxy appended to X-Forwarded-For. Addresses further left are
    whatever the client claimed, so they are never read."""
    address = request.META.get("REMOTE_ADDR", "")
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            address = forwarded.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def spreadsheet_safe(value: str) -> str:
    """A CSV cell that a spreadsheet shows as typed: a name entered as "=HYPERLINK(...)"
    must not become a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def sign_in_email(raw: str) -> str:
    """The account an email typed at sign-in names: "Ana@X " and "ana@x" are one."""
    return raw.strip().lower()


def login_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    """The account a sign-in attempt is for, as django-axes counts failures: read as the
    sign-in form reads it."""
    raw = (credentials or {}).get("username") or request.POST.get("username", "")
    return sign_in_email(str(raw))


def login_client_ip(request: HttpRequest) -> str:
    """The client's address for django-axes, read as the audit log reads it."""
    return client_ip(request) or ""
