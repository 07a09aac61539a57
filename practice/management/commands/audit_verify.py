"""Check every practice's audit chain: `manage.py audit_verify [--practice ID]`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from practice.audit import verify_chain
from practice.models import Practice


class Command(BaseCommand):
    help = (
        "Recompute the hash chain of the audit log and report any row changed, removed or "
        "out of order. Prints each practice's last hash: keep it elsewhere, so that a "
        "chain rebuilt from scratch shows too. Exits with an error when a chain is broken."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--practice", type=int, help="only this practice's id")

    def handle(self, *args: Any, **options: Any) -> None:
        reports = verify_chain(options["practice"])
        names = dict(Practice.objects.values_list("pk", "slug"))
        broken = 0
        for report in reports:
            name = names.get(report.practice_id, "?")
            if report.problems:
                broken += 1
                self.stdout.write(
                    self.style.ERROR(
                        f"practice {report.practice_id} ({name}): {report.rows} rows, BROKEN"
                    )
                )
                for problem in report.problems:
                    self.stdout.write(f"  {problem}")
            else:
                self.stdout.write(
                    f"practice {report.practice_id} ({name}): {report.rows} rows, intact, "
                    f"last hash {report.head}"
                )
        if not reports:
            self.stdout.write("No audit rows yet.")
        if broken:
            raise CommandError(f"{broken} audit chain(s) broken.")
        self.stdout.write(self.style.SUCCESS("Every audit chain is intact."))
