from __future__ import annotations

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


class InsightQuerySet(PracticeQuerySet["Insight"]):
    def visible_to(self, membership: Membership) -> Self:
        """Summaries and briefings under the same rule as the notes they come from,
        re-checked at every read."""
        from sessions.querysets import clinical_scope

        return clinical_scope(self, membership, patient="patient")
