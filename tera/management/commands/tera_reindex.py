"""Build Tera's index from scratch: every session note, transcript and AI-drafted note
(or one practice's), with a progress bar. Safe to run again: each source's chunks are
replaced, never added twice."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tera.indexing import all_sources, index_source

BAR = 30


class Command(BaseCommand):
    help = "Re-index every clinical text for Tera's search and insights."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--practice", type=int, help="only this practice's id")

    def handle(self, *args: Any, practice: int | None = None, **options: Any) -> None:
        sources = list(all_sources(practice))
        total, chunks, started = len(sources), 0, time.monotonic()
        for done, (kind, pk) in enumerate(sources, start=1):
            chunks += index_source(kind, pk)
            filled = BAR * done // total
            self.stdout.write(
                f"\r[{'#' * filled}{'.' * (BAR - filled)}] {done}/{total} sources, {chunks} chunks",
                ending="",
            )
            self.stdout.flush()
        seconds = time.monotonic() - started
        self.stdout.write(
            ("\n" if total else "")
            + self.style.SUCCESS(
                f"Indexed {total} sources into {chunks} chunks in {seconds:.1f} s."
            )
        )
