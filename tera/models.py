from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _
from pgvector.django import HnswIndex, VectorField

from practice.models import PracticeOwned
from tera.embeddings import DIMENSIONS
from tera.querysets import ChunkQuerySet


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
    text = models.TextField()
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
