from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from pgvector.django import HnswIndex, VectorField

from practice.fields import EncryptedJSONField, EncryptedTextField
from practice.models import PracticeOwned
from tera.embeddings import DIMENSIONS
from tera.querysets import ChunkQuerySet, InsightQuerySet


class SourceKind(models.TextChoices):
    SESSION_NOTE = "session_note", _("Session notes")
    TRANSCRIPT = "transcript", _("Transcript")
    CLINICAL_NOTE = "clinical_note", _("Clinical note")


class Chunk(PracticeOwned):
    """A piece of a patient's clinical text (a session's notes, a transcript, an AI-drafted
    note) with its embedding, for Tera's search and insights. Written only by
    tera.indexing, which replaces a source's chunks whenever it changes. Clinical: read
    only through `Chunk.objects.visible_to` (the note barrier)."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey(
        "therapy_sessions.Session", on_delete=models.CASCADE, null=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    source_id = models.PositiveBigIntegerField()
    position = models.PositiveIntegerField()
    text = EncryptedTextField()
    embedding = VectorField(dimensions=DIMENSIONS)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ChunkQuerySet.as_manager()

    class Meta:
        ordering = ("kind", "source_id", "position")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["kind", "source_id", "position"], name="one_chunk_per_position"
            )
        ]
        indexes: ClassVar = [
            models.Index(fields=["kind", "source_id"]),
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_id} #{self.position}"


class InsightKind(models.TextChoices):
    SUMMARY = "summary", _("Treatment summary")
    BRIEFING = "briefing", _("Pre-session briefing")


class InsightStatus(models.TextChoices):
    PREPARING = "preparing", _("Preparing")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class Insight(PracticeOwned):
    """What Tera wrote about one patient from their indexed notes: the treatment summary
    (one per patient, rewritten on request) or the briefing before one appointment
    (prepared ahead by a beat job). Written by tera.insights only. Clinical: read only
    through `Insight.objects.visible_to` (the note barrier, checked at every read: a
    briefing is never shown to anyone the barrier would not show its notes to).

    `content` keeps the last good answer while a new one is prepared; `inputs` is a hash
    of the prompt it was written from, so an unchanged briefing is not asked for again."""

    kind = models.CharField(max_length=8, choices=InsightKind.choices)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    appointment = models.ForeignKey(
        "therapy_sessions.Appointment", on_delete=models.CASCADE, null=True, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=InsightStatus.choices, default=InsightStatus.PREPARING
    )
    content = EncryptedJSONField(default=dict, blank=True)
    failure = models.CharField(max_length=300, blank=True)
    inputs = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    stream_tokens = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    prepared_at = models.DateTimeField(null=True, blank=True)
    # Failures in a row, and when the beat job may try again (tera.insights.retry_delay).
    attempts = models.PositiveSmallIntegerField(default=0)
    retry_after = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = InsightQuerySet.as_manager()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(kind="summary"),
                name="one_summary_per_patient",
            ),
            models.UniqueConstraint(
                fields=["appointment"],
                condition=models.Q(kind="briefing"),
                name="one_briefing_per_appointment",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="summary", appointment__isnull=True)
                | models.Q(kind="briefing", appointment__isnull=False),
                name="briefing_has_appointment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} of patient {self.patient_id}"

    @property
    def is_preparing(self) -> bool:
        return self.status == InsightStatus.PREPARING

    @property
    def failure_text(self) -> str:
        """Why the last attempt failed, in the reader's language."""
        from tera.llm import failure_message

        return failure_message(self.failure) if self.failure else ""
