"""The audit of signing in: passwords accepted and refused, signing out, lockouts and the
second factor (set up, replaced, passed, a wrong code, reset by an administrator).

Audit rows belong to a practice (each practice's chain is its own), and an account is not:
so each event is written once for every practice where the user is an active member,
usually one. A user with no active membership leaves no row; neither does a failed
sign-in for an email that is no one's account: django-axes keeps every attempt, with its
address, in its own table (axes_accessattempt), and a practice has nothing to do with it.

Rows carry ids and the client's address, never what was typed (a password, a code, or an
email that matched no one)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from practice.http import client_ip, sign_in_email
from practice.models import Membership, User
from practice.services import audit_record

SIGNED_IN = "sign_in.login"
SIGN_IN_FAILED = "sign_in.fail"
SIGNED_OUT = "sign_in.logout"
LOCKED_OUT = "sign_in.lockout"
TWO_FACTOR_SET_UP = "two_factor.setup"
TWO_FACTOR_REPLACED = "two_factor.replace"
TWO_FACTOR_VERIFIED = "two_factor.verify"
TWO_FACTOR_FAILED = "two_factor.fail"
TWO_FACTOR_RESET = "two_factor.reset"


@transaction.atomic
def sign_in_record(
    *,
    user: User,
    action: str,
    request: HttpRequest | None = None,
    by_administrator: bool = False,
    data: dict[str, Any] | None = None,
) -> int:
    """Write one sign-in event about `user`'s account to each practice where they are an
    active member; returns how many rows. The actor is the account's owner, except for
    what an administrator did at the server's console (no actor: "Holos")."""
    ip = client_ip(request) if request is not None else None
    written = 0
    for membership in Membership.objects.of_user(user):
        audit_record(
            practice=membership.practice,
            actor=None if by_administrator else user,
            action=action,
            target=user,
            data=data,
            ip=ip,
        )
        written += 1
    return written


def account_for(username: object) -> User | None:
    """The account a sign-in attempt named, read as the sign-in form reads it."""
    email = sign_in_email(str(username or ""))
    if not email:
        return None
    return User.objects.filter(email__iexact=email).first()


# --- Receivers (connected in practice.apps) ------------------------------------------------

UID_IN = "practice.audit_in"  # the dispatch_uid of on_logged_in


def on_logged_in(sender: object, request: HttpRequest | None, user: User, **kwargs: object) -> None:
    sign_in_record(user=user, action=SIGNED_IN, request=request)


def on_logged_out(
    sender: object, request: HttpRequest | None, user: User | None, **kwargs: object
) -> None:
    if user is not None:  # signing out of a session that was not signed in
        sign_in_record(user=user, action=SIGNED_OUT, request=request)


def on_login_failed(
    sender: object,
    credentials: dict[str, Any],
    request: HttpRequest | None = None,
    **kwargs: object,
) -> None:
    # An email that is no one's account is written nowhere: no practice is concerned,
    # and django-axes already keeps the attempt (axes_accessattempt).
    user = account_for(credentials.get("username"))
    if user is None:
        return
    # During a lockout django-axes refuses the attempt before the password is checked.
    locked = bool(getattr(request, "axes_locked_out", False))
    sign_in_record(user=user, action=SIGN_IN_FAILED, request=request, data={"locked_out": locked})


def on_locked_out(
    sender: object,
    request: HttpRequest | None,
    username: str | None = None,
    ip_address: str | None = None,
    **kwargs: object,
) -> None:
    user = account_for(username)
    if user is None:
        return  # no one's account: only django-axes keeps it
    sign_in_record(user=user, action=LOCKED_OUT, request=request)
