from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from practice.models import Membership, Role


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str | Promise
    url_name: str
    roles: frozenset[str]
    # Other URL namespaces whose pages belong under this item.
    namespaces: frozenset[str] = frozenset()
    # Pages of another namespace that belong under this item (checked first).
    views: frozenset[str] = frozenset()

    def covers(self, namespace: str) -> bool:
        return self.url_name.startswith(namespace + ":") or namespace in self.namespaces

    @property
    def url(self) -> str:
        return reverse(self.url_name)


ALL = frozenset(Role.values)
NAVIGATION = (
    NavItem("calendar", _("Calendar"), "sessions:calendar", ALL),
    NavItem(
        "patients",
        _("Patients"),
        "patients:index",
        ALL,
        # A session record is read from the patient's Sessions tab.
        views=frozenset({"sessions:detail", "sessions:edit", "sessions:sign", "sessions:walk_in"}),
    ),
    NavItem("payments", _("Payments"), "payments:index", ALL),
    NavItem("tera", _("Tera"), "tera:index", frozenset({Role.OWNER, Role.THERAPIST})),
    NavItem(
        "settings",
        _("Settings"),
        "practice:settings",
        frozenset({Role.OWNER}),
        namespaces=frozenset({"therapies"}),
        views=frozenset(
            {
                "sessions:note_templates",
                "sessions:note_template_new",
                "sessions:note_template_edit",
                "sessions:note_template_archive",
            }
        ),
    ),
)


def navigation_for(membership: Membership | None) -> list[NavItem]:
    if membership is None:
        return []
    return [item for item in NAVIGATION if membership.role in item.roles]


def practice(request: HttpRequest) -> dict[str, Any]:
    membership: Membership | None = getattr(request, "membership", None)
    match = getattr(request, "resolver_match", None)
    namespace = match.namespace if match else ""
    view_name = match.view_name if match else ""
    active = next((item.key for item in NAVIGATION if view_name in item.views), "")
    if not active and namespace:
        active = next((item.key for item in NAVIGATION if item.covers(namespace)), "")
    return {
        "nav_active": active,
        "practice": getattr(request, "practice", None),
        "membership": membership,
        "navigation": navigation_for(membership),
        "user_memberships": getattr(request, "memberships", []),
    }
