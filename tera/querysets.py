from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

from practice.querysets import PracticeQuerySet

if TYPE_CHECKING:
    from practice.models import Membership
    from tera.models import Chunk, Insight  # noqa: F401


class ChunkQuerySet(PracticeQuerySet["Chunk"]):
    def visible_to(self, membership: Membership) -> Self:
        """The note barrier, inside the SQL of every retrieval: Owners search the whole
        practice, Therapists their own patients, Assistants nothing."""
        from sessions.querysets import clinical_scope

        return clinical_scope(self, membership, patient="patient")

    def nearest(self, vector: Sequence[float], limit: int) -> list[Chunk]:
        """The `limit` chunks nearest `vector` in meaning (cosine distance, as
        `distance`), nearest first. The HNSW index is searched wider than pgvector's
        default (`hnsw.ef_search` = TERA_EF_SEARCH, for this transaction only): at 100k
        chunks the default 40 finds 0.91 of the true ten nearest, 100 finds 0.97
        (tests/bench/tera_search.py)."""
        from django.conf import settings
        from django.db import connections, transaction
        from pgvector.django import CosineDistance

        with transaction.atomic(using=self.db), connections[self.db].cursor() as cursor:
            cursor.execute(
                "SELECT set_config('hnsw.ef_search', %s, true)", [str(settings.TERA_EF_SEARCH)]
            )
            return list(
                self.annotate(distance=CosineDistance("embedding", vector)).order_by("distance")[
                    :limit
                ]
            )


class InsightQuerySet(PracticeQuerySet["Insight"]):
    def visible_to(self, membership: Membership) -> Self:
        """Summaries and briefings under the same rule as the notes they come from,
        re-checked at every read."""
        from sessions.querysets import clinical_scope

        return clinical_scope(self, membership, patient="patient")
