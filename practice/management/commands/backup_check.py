"""Test a backup: `manage.py backup_check DUMPFILE` (a `pg_dump -Fc` archive).

Restores it into a scratch database on the live server (a unique name, always dropped
afterwards), then prints the rows of every Django model table in the live database and in
the backup. Exits non-zero when the archive can't be restored or a count differs. Run it
right after taking the dump: rows written since then show as differences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from practice.backups import BackupCheckError, backup_check


def _shown(count: int | None) -> str:
    return "missing" if count is None else str(count)


class Command(BaseCommand):
    help = (
        "Restore a pg_dump -Fc archive into a scratch database and compare each model "
        "table's row count with the live database (DATABASE_URL)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dumpfile", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        dumpfile: Path = options["dumpfile"]
        try:
            counts = backup_check(dumpfile)
        except BackupCheckError as error:
            raise CommandError(f"Backup check failed: {error}") from None
        width = max(len("table"), *(len(row.table) for row in counts))
        self.stdout.write(f"{'table':<{width}}  {'live':>9}  {'backup':>9}")
        for row in counts:
            mark = "" if row.matches else "  MISMATCH"
            self.stdout.write(
                f"{row.table:<{width}}  {_shown(row.live):>9}  {_shown(row.backup):>9}{mark}"
            )
        wrong = [row.table for row in counts if not row.matches]
        if wrong:
            raise CommandError(
                f"Backup check failed: {len(wrong)} table(s) differ from the live database: "
                + ", ".join(wrong)
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup OK: {len(counts)} tables restored with the same row counts."
            )
        )
