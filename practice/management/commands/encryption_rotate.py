"""Re-encrypt the clinical text under the newest key: `manage.py encryption_rotate`."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from practice import crypto
from practice.fields import encrypted_fields, rewrite_values


class Command(BaseCommand):
    help = (
        "Rotate FIELD_ENCRYPTION_KEYS: put a new key first in the list (keep the old ones "
        "after it), run this, check with --check, then drop the old keys. Every encrypted "
        "value is re-encrypted under the first key, in locked batches, while Holos runs. "
        "A value no configured key opens is left as it is and reported: nothing is lost."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="change nothing; count the values not yet under the first key",
        )
        parser.add_argument("--batch", type=int, default=500, help="rows per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        check = options["check"]
        older = unreadable = total = 0

        def rotate(token: str) -> str | None:
            nonlocal older, unreadable
            if crypto.under_newest_key(token):
                return None
            try:
                rotated = crypto.rotate_text(token)
            except crypto.DecryptionError:
                unreadable += 1
                return None
            older += 1
            return None if check else rotated

        verb = "under an older key" if check else "re-encrypted"
        for model in apps.get_models():
            names = [field.name for field in encrypted_fields(model)]
            if names:
                before = older
                seen, _ = rewrite_values(
                    connection, model._meta, names, rotate, batch=options["batch"]
                )
                total += seen
                self.stdout.write(f"{model._meta.label}: {seen} values, {older - before} {verb}")
        if unreadable:
            raise CommandError(
                f"{unreadable} values open with none of FIELD_ENCRYPTION_KEYS; they were "
                "left unchanged. Put the key they were written with back in the list."
            )
        if check and older:
            raise CommandError(f"{older} of {total} values are still under an older key.")
        self.stdout.write(
            self.style.SUCCESS(f"All {total} encrypted values are under the first key.")
        )
