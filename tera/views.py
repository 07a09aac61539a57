"""Tera's pages: so far the search over what a member may read. Every retrieval goes
through `Chunk.objects.visible_to` (the note barrier, in the SQL); Assistants get 404."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from pgvector.django import CosineDistance

from practice.http import PracticeRequest, client_ip
from practice.models import Role
from practice.permissions import role_required
from practice.services import audit_record
from tera import embeddings
from tera.models import Chunk

tera_only = role_required(Role.OWNER, Role.THERAPIST, hide=True)
MAX_QUERY = 200
RESULTS = 20


@tera_only
def index(request: PracticeRequest) -> HttpResponse:
    return render(request, "tera/index.html")


@tera_only
def search(request: PracticeRequest) -> HttpResponse:
    """Semantic search ("sleep problems after work stress") over the session notes,
    transcripts and AI notes the member may read, nearest first, linking to the sessions.
    Audited without the query (it may itself be clinical)."""
    query = " ".join(request.GET.get("q", "").split())[:MAX_QUERY]
    results: list[Chunk] = []
    if query:
        vector = embeddings.embed([query])[0]
        results = list(
            Chunk.objects.visible_to(request.membership)
            .annotate(distance=CosineDistance("embedding", vector))
            .select_related("patient", "session")
            .order_by("distance")[:RESULTS]
        )
        audit_record(
            practice=request.practice,
            actor=request.user,
            action="tera.search",
            ip=client_ip(request),
            data={"results": len(results)},
        )
    response = render(request, "tera/search.html", {"query": query, "results": results})
    add_never_cache_headers(response)
    return response
