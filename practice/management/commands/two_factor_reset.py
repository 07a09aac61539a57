"""Remove a user's authenticator app (a lost phone): `manage.py two_factor_reset EMAIL`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.models import User


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
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        User.objects.filter(pk=user.pk).update(sessions_valid_after=timezone.now())
        self.stdout.write(
            f"Removed {removed} authenticator app(s) of {user.email}; their sessions ended."
        )
