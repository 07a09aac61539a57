"""Transcript retention: a practice's transcripts are deleted N days after their
recording (`Practice.transcript_retention`, by plan or the Owner's choice), while the
session's notes, clinical notes and their versions stay.

Deleted with a transcript: its segments and their correction history, the speakers it
named, any live text and audio left (its wrapped key destroyed), and Tera's vectors of it
(`sessions.services.recordings.transcripts_delete`, as a patient's erasure does). The
recording itself stays, with `transcript_expired_at` saying when, so its page can tell why
it is empty. A daily beat job (`sessions.tasks.transcripts_expire`) runs it for every
practice; one audit row per practice and run says how much went, counts only."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from practice.models import Practice
from practice.services import audit_record
from sessions.models import Recording, RecordingStatus
from sessions.services.recordings import transcripts_delete


def expired_recordings(practice: Practice, now: datetime | None = None) -> list[int]:
    """The practice's finished recordings older than its retention whose transcript is
    still there (none when it keeps transcripts for good)."""
    days = practice.transcript_retention
    if days is None:
        return []
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return list(
        Recording.objects.for_practice(practice)
        .filter(
            status=RecordingStatus.DONE, created_at__lt=cutoff, transcript_expired_at__isnull=True
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@transaction.atomic
def transcripts_expire(*, practice: Practice, now: datetime | None = None) -> dict[str, int]:
    """Delete the transcripts of `practice` older than its retention; returns the counts
    (also written to the audit log). Idempotent: an expired transcript is not counted twice."""
    now = now or timezone.now()
    days = practice.transcript_retention
    ids = expired_recordings(practice, now)
    if days is None or not ids:
        return {}
    recordings = list(
        Recording.objects.for_practice(practice).select_for_update().filter(pk__in=ids)
    )
    counts = {"recordings": len(recordings), **transcripts_delete(recordings)}
    Recording.objects.filter(pk__in=ids).update(
        transcript_expired_at=now, transcript_retention_days=days
    )
    audit_record(
        practice=practice,
        actor=None,
        action="transcript.expire",
        data={"retention_days": days, **counts},
    )
    return counts


def transcripts_expire_all(now: datetime | None = None) -> dict[int, int]:
    """Every practice's run, each in its own transaction: {practice id: transcripts
    deleted}, for the practices that had any."""
    done: dict[int, int] = {}
    for practice in Practice.objects.order_by("pk"):
        counts = transcripts_expire(practice=practice, now=now)
        if counts:
            done[practice.pk] = counts["recordings"]
    return done
