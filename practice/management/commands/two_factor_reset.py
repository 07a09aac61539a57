"""Remove a user's authenticator app (a lost phone): `manage.py two_factor_reset EMAIL`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.models import User
from practice.sign_in_audit import TWO_FACTOR_RESET, sign_in_record


class Command(BaseCommand):
    help = (
        "Remove the authenticator app of the user with this email (after checking who they "
        "are) and end their sessions. They set up a new app at their next sign-in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=options["email"].strip()).first()
        if user is None:
            raise CommandError("No user has that email.")
        with transaction.atomic():
            removed, _ = TOTPDevice.objects.filter(user=user).delete()
            User.objects.filter(pk=user.pk).update(sessions_valid_after=timezone.now())
            # In each of the user's practices, by no member: it came from the console.
            sign_in_record(
                user=user, action=TWO_FACTOR_RESET, by_administrator=True, data={"removed": removed}
            )
        self.stdout.write(
            f"Removed {removed} authenticator app(s) of {user.email}; their sessions ended."
        )
