"""Tera's pages: the search over what a member may read, a patient's treatment summary
and the briefing before an appointment. Every retrieval goes through a `visible_to`
queryset (the note barrier, in the SQL); Assistants get 404 on every Tera URL, and a
Free practice gets Tera's page, which says what Tera does and how to turn it on."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.views.decorators.http import require_http_methods, require_safe

from patients.models import Patient
from practice.http import PracticeRequest, client_ip
from practice.models import Role
from practice.permissions import role_required
from practice.services import audit_record
from sessions.models import Appointment
from sessions.views.common import no_store
from tera import embeddings, insights, services
from tera.models import Chunk

tera_only = role_required(Role.OWNER, Role.THERAPIST, hide=True)
MAX_QUERY = 200
RESULTS = 20

View = Callable[..., HttpResponse]


def pro_only(view: View) -> View:
    """Tera's insights for Owners and Therapists of a Pro practice; a Free practice is
    shown what Tera does instead. (Views of an object look it up first and then ask
    `plan_off`, so another practice's id answers 404 whatever the plan.)"""

    @tera_only
    @wraps(view)
    def wrapped(request: PracticeRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return plan_off(request) or view(request, *args, **kwargs)

    return cast(View, wrapped)


def plan_off(request: PracticeRequest) -> HttpResponse | None:
    return None if insights.plan_allows(request.practice) else redirect("tera:index")


@require_safe
@tera_only
def index(request: PracticeRequest) -> HttpResponse:
    return render(request, "tera/index.html", {"pro": insights.plan_allows(request.practice)})


@require_safe
@pro_only
def search(request: PracticeRequest) -> HttpResponse:
    """Semantic search ("sleep problems after work stress") over the session notes,
    transcripts and AI notes the member may read, nearest first, linking to the sessions.
    Audited without the query (it may itself be clinical)."""
    query = " ".join(request.GET.get("q", "").split())[:MAX_QUERY]
    results: list[Chunk] = []
    if query:
        vector = embeddings.embed([query])[0]
        results = (
            Chunk.objects.visible_to(request.membership)
            .select_related("patient", "session")
            .nearest(vector, RESULTS)
        )
        audit_record(
            practice=request.practice,
            actor=request.user,
            action="tera.search",
            ip=client_ip(request),
            data={"results": len(results)},
        )
    return no_store(render(request, "tera/search.html", {"query": query, "results": results}))


@require_http_methods(["GET", "POST"])
@tera_only
def summary(request: PracticeRequest, pk: int) -> HttpResponse:
    """GET: the patient's treatment summary (the block the Insights tab polls while it is
    being written). POST: write it anew from the notes as they are now."""
    patient = get_object_or_404(Patient.objects.visible_to(request.membership), pk=pk)
    if off := plan_off(request):
        return off
    if request.method == "POST":
        services.summary_request(
            request.membership,
            patient,
            language=translation.get_language() or request.practice.language,
            ip=client_ip(request),
        )
        if not request.htmx:
            return redirect("patients:insights", pk=patient.pk)
    context = {"patient": patient, **insights.summary_context(request.membership, patient)}
    return no_store(render(request, "tera/summary.html", context))


@require_http_methods(["GET", "POST"])
@tera_only
def briefing(request: PracticeRequest, pk: int) -> HttpResponse:
    """GET: the briefing block of an upcoming appointment (polled while it is prepared).
    POST: prepare it now rather than wait for the next round of the beat job."""
    appointment = get_object_or_404(
        Appointment.objects.for_practice(request.practice).select_related("patient"), pk=pk
    )
    if off := plan_off(request):
        return off
    context = insights.briefing_context(request.membership, appointment)
    if not context:
        raise Http404
    if request.method == "POST":
        services.briefing_request(request.membership, appointment, ip=client_ip(request))
        context = insights.briefing_context(request.membership, appointment)
        if not request.htmx:
            return redirect("patients:detail", pk=appointment.patient_id)
    insights.audit_briefing_read(request.membership, context, ip=client_ip(request))
    return no_store(render(request, "tera/briefing.html", context))
