"""Two-factor authentication with an authenticator app (TOTP, django-otp's TOTPDevice).

Owners and Therapists must use it; Assistants may. After the password, a member who
must, or who set it up, enters the app's six-digit code before anything else
(`practice.middleware.TwoFactorMiddleware`); one who must and has no app yet sets one up
first. django-otp checks the code: a code already used is refused (its `last_t`), and
every wrong code doubles the wait before the next try (its throttling).

A verified session carries VERIFIED; nothing else is read per request. Replacing the app
asks for the password again and ends the user's other sessions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import segno
from django.db import transaction
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.models import Membership, Role, User
from practice.sign_in_audit import (
    TWO_FACTOR_FAILED,
    TWO_FACTOR_REPLACED,
    TWO_FACTOR_SET_UP,
    sign_in_record,
)

if TYPE_CHECKING:
    from django.forms import Form
    from django.http import HttpRequest

VERIFIED = "holos_two_factor"  # session key: the persistent id of the device used
REQUIRED_ROLES = frozenset({Role.OWNER, Role.THERAPIST})
DEVICE_NAME = "Authenticator app"


def is_required(memberships: Iterable[Membership]) -> bool:
    return any(m.is_active and m.role in REQUIRED_ROLES for m in memberships)


def is_verified(request: HttpRequest) -> bool:
    return VERIFIED in request.session


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_device(user: User) -> TOTPDevice:
    """The app being set up: a new secret, kept until confirmed by a first good code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def qr_svg(device: TOTPDevice) -> SafeString:
    """The otpauth:// address as an inline SVG QR code (no script, no style)."""
    svg = segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#1c2b25")
    return mark_safe(svg)  # noqa: S308 - segno's markup of our own address  # nosec


def secret_for_typing(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for apps set up by hand."""
    from base64 import b32encode

    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def mark_verified(request: HttpRequest, device: TOTPDevice) -> None:
    """The session has passed the second factor: a new session key, then the mark."""
    request.session.cycle_key()
    request.session[VERIFIED] = device.persistent_id


def confirm(request: HttpRequest, device: TOTPDevice) -> None:
    """A first good code confirms the app being set up. It replaces any earlier one,
    whose other sessions end; this session stays signed in, verified."""
    from practice.middleware import mark_signed_in

    user = request.user
    assert isinstance(user, User)
    with transaction.atomic():
        replaced = TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()[0]
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        if replaced:
            User.objects.filter(pk=user.pk).update(sessions_valid_after=timezone.now())
            user.refresh_from_db(fields=["sessions_valid_after"])
    if replaced:
        mark_signed_in(request)  # this session counts from now: the others end
    mark_verified(request, device)
    sign_in_record(
        user=user,
        action=TWO_FACTOR_REPLACED if replaced else TWO_FACTOR_SET_UP,
        request=request,
        data={"device": device.pk},
    )


def wrong_code_record(request: HttpRequest, form: Form, *, step: str) -> None:
    """Audit a code the form refused (wrong, used already, or sent while throttled); a
    code that is not six digits is a typo, not an attempt."""
    for reason in ("wrong", "throttled"):
        if form.has_error("code", reason):
            user = request.user
            assert isinstance(user, User)
            sign_in_record(
                user=user,
                action=TWO_FACTOR_FAILED,
                request=request,
                data={"step": step, "reason": reason},
            )
            return
