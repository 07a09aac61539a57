"""Patient pages. Every patient is fetched through `Patient.objects.visible_to()`, before
the method is looked at, so another practice's patient, another therapist's patient and a
missing id all answer the same 404 to GET and POST alike."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.vary import vary_on_headers

from patients import services
from patients.forms import PatientEraseForm, PatientFilterForm, PatientForm, TherapistsForm
from patients.models import ConsentEvent, Patient
from patients.selectors import patient_record, text_lines, with_labels
from payments.selectors import patient_payments
from practice.http import PracticeRequest, client_ip, wants_fragment
from practice.models import Membership, User
from practice.pdf import pdf_response
from practice.permissions import owner_objects, practice_required
from practice.selectors import treating_users
from practice.services import audit_record
from sessions.selectors import patient_sessions
from tera.insights import audit_briefing_read, next_briefing, patient_insights

PAGE_SIZE = 25


def _patient(request: PracticeRequest, pk: int) -> Patient:
    return get_object_or_404(
        Patient.objects.visible_to(request.membership).select_related(
            "archived_by", "audio_consent_by", "erased_by"
        ),
        pk=pk,
    )


def _may_assign_therapists(membership: Membership) -> bool:
    # Therapists see only their own patients, so they may not hand them on.
    return not membership.is_therapist


# --- The list -------------------------------------------------------------------------


@practice_required
@vary_on_headers("HX-Request")
def index(request: PracticeRequest) -> HttpResponse:
    visible = Patient.objects.visible_to(request.membership)
    fragment = wants_fragment(request)
    # The filter menus are outside the swapped rows: an htmx swap doesn't need them.
    therapist_menu: list[User] | None = None  # Therapists see only their own patients
    if not request.membership.is_therapist:
        therapist_menu = [] if fragment else list(treating_users(request.practice))
    form = PatientFilterForm(
        request.GET,
        therapists=therapist_menu,
        tags=[] if fragment else visible.tag_names(),
    )
    query = form.value("q")
    therapist = form.value("therapist", None)
    tag = form.value("tag")
    status = form.value("status", "active")

    patients = visible.archived() if status == "archived" else visible.active()
    if query:
        patients = patients.search(query)
    if therapist:
        patients = patients.assigned_to(therapist)
    if tag:
        patients = patients.with_tag(tag)
    patients = patients.newest_first() if form.value("sort") == "newest" else patients.by_name()

    page = Paginator(patients.with_therapists(), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "query": query,
        "filtered": bool(query or therapist or tag or status == "archived"),
        "archived": status == "archived",
        # Only asked when the page is empty: "no patients yet" or "none match"?
        "has_patients": page.paginator.count > 0 or visible.exists(),
    }
    template = "patients/index.html#patient-rows" if fragment else "patients/index.html"
    return render(request, template, context)


# --- Adding and editing ---------------------------------------------------------------


def _forms_valid(form: PatientForm, therapists_form: TherapistsForm | None) -> bool:
    # Validate both, so every mistake shows at once.
    valid = form.is_valid()
    return (therapists_form is None or therapists_form.is_valid()) and valid


def _add_service_error(
    error: ValidationError, form: PatientForm, therapists_form: TherapistsForm | None
) -> None:
    if therapists_form is not None:
        therapists_form.add_error("therapists", error)
    else:
        form.add_error(None, error)


@practice_required
def create(request: PracticeRequest) -> HttpResponse:
    """Owners and Assistants choose the therapists; a Therapist's new patient is theirs."""
    data = request.POST if request.method == "POST" else None
    form = PatientForm(data, practice=request.practice)
    therapists_form = (
        TherapistsForm(data, practice=request.practice, patient=None)
        if _may_assign_therapists(request.membership)
        else None
    )
    if request.method == "POST" and _forms_valid(form, therapists_form):
        therapists = (
            list(therapists_form.cleaned_data["therapists"])
            if therapists_form is not None
            else [request.user]
        )
        try:
            patient = services.patient_create(
                practice=request.practice,
                actor=request.user,
                fields=form.patient_fields(),
                therapists=therapists,
            )
        except ValidationError as error:
            _add_service_error(error, form, therapists_form)
        else:
            messages.success(request, _("%(name)s was added.") % {"name": patient.full_name})
            return redirect("patients:detail", pk=patient.pk)
    return render(
        request,
        "patients/form.html",
        {"form": form, "therapists_form": therapists_form, "patient": None},
        status=422 if request.method == "POST" else 200,
    )


@practice_required
def edit(request: PracticeRequest, pk: int) -> HttpResponse:
    patient = _patient(request, pk)
    data = request.POST if request.method == "POST" else None
    form = PatientForm(data, instance=patient, practice=request.practice)
    therapists_form = (
        TherapistsForm(data, practice=request.practice, patient=patient)
        if _may_assign_therapists(request.membership)
        else None
    )
    if request.method == "POST" and _forms_valid(form, therapists_form):
        try:
            changed = services.patient_update(
                practice=request.practice,
                actor=request.user,
                patient=patient,
                fields=form.patient_fields(),
                therapists=list(therapists_form.cleaned_data["therapists"])
                if therapists_form is not None
                else None,
            )
        except ValidationError as error:
            _add_service_error(error, form, therapists_form)
        else:
            if changed:
                messages.success(request, _("Changes saved."))
            else:
                messages.info(request, _("Nothing was changed."))
            return redirect("patients:detail", pk=patient.pk)
    return render(
        request,
        "patients/form.html",
        {"form": form, "therapists_form": therapists_form, "patient": patient},
        status=422 if request.method == "POST" else 200,
    )


# --- The profile and its tabs ---------------------------------------------------------


@dataclass(frozen=True)
class Tab:
    key: str
    label: str | Promise
    url_name: str
    clinical: bool = False  # only for members who may read the patient's notes


TABS = (
    Tab("overview", gettext_lazy("Overview"), "patients:detail"),
    Tab("sessions", gettext_lazy("Sessions"), "patients:sessions"),
    Tab("payments", gettext_lazy("Payments"), "patients:payments"),
    Tab("insights", gettext_lazy("Insights"), "patients:insights", clinical=True),
)


def _consent_context(patient: Patient) -> dict[str, object]:
    events = ConsentEvent.objects.of_patient(patient).select_related("recorded_by")
    return {"patient": patient, "consent_events": list(events)}


def _sessions_context(request: PracticeRequest, patient: Patient) -> dict[str, object]:
    """The Sessions tab: newest first unless `?order=oldest`, narrowed to one custom-field
    answer by `?value=` for those who may read notes (an audited read of the notes)."""
    oldest = request.GET.get("order") == "oldest"
    listed = patient_sessions(
        request.membership, patient, oldest_first=oldest, value=request.GET.get("value", "")
    )
    if listed.value:
        audit_record(
            practice=request.practice,
            actor=request.user,
            action="session_note.filter",
            target=patient,
            patient_id=patient.pk,
            ip=client_ip(request),
            data={"field": listed.field_key},
        )
    page = Paginator(listed.sessions, PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "sessions_page": page,
        "oldest_first": oldest,
        "value_groups": listed.groups,
        "value": listed.value,
        "may_record": request.membership.treats_patients,
    }


def _insights_context(request: PracticeRequest, patient: Patient) -> dict[str, object]:
    context = patient_insights(request.membership, patient)
    if "tera_off" not in context:
        audit_record(
            practice=request.practice,
            actor=request.user,
            action="tera.insights",
            target=patient,
            patient_id=patient.pk,
            ip=client_ip(request),
        )
    return context


@practice_required
@vary_on_headers("HX-Request")
@never_cache
def profile(request: PracticeRequest, pk: int, tab: str) -> HttpResponse:
    """One patient, with the tab `tab`; an htmx tab click gets only the tab's panel."""
    patient = _patient(request, pk)
    # Patients a member may see are the ones whose notes they may read, if they treat any.
    clinical = request.membership.treats_patients
    tabs = [t for t in TABS if clinical or not t.clinical]
    if tab not in {t.key for t in tabs}:
        raise Http404
    context: dict[str, object] = {
        "patient": patient,
        "tab": tab,
        "tabs": [(t, reverse(t.url_name, kwargs={"pk": patient.pk})) for t in tabs],
        "age": patient.age_on(timezone.localdate()),
        # The practice is the data controller: its Owner answers the patient's requests.
        "data_rights": request.membership.is_owner,
    }
    if tab == "overview":
        context.update(_consent_context(patient))
        briefing = next_briefing(request.membership, patient)
        audit_briefing_read(request.membership, briefing, ip=client_ip(request))
        context.update(briefing)
    elif tab == "sessions":
        context.update(_sessions_context(request, patient))
    elif tab == "insights":
        context.update(_insights_context(request, patient))
    else:
        context.update(patient_payments(request.membership, patient))
    if wants_fragment(request):
        # The panel, plus the tab list out of band so aria-selected follows the click.
        context["fragment"] = True
        return render(request, "patients/profile.html#patient-tab-panel", context)
    return render(request, "patients/profile.html", context)


# --- Archive, restore, consent ---------------------------------------------------------


@practice_required
def archive(request: PracticeRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST archives. Patients are never deleted."""
    patient = _patient(request, pk)
    if request.method != "POST":
        return render(request, "patients/archive.html", {"patient": patient})
    services.patient_archive(practice=request.practice, actor=request.user, patient=patient)
    messages.success(
        request,
        _("%(name)s was archived. Archived patients are listed under Status: Archived.")
        % {"name": patient.full_name},
    )
    return redirect("patients:index")


@practice_required
def restore(request: PracticeRequest, pk: int) -> HttpResponse:
    patient = _patient(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if patient.is_erased:
        # An erased patient stays archived: nothing is left to treat them with.
        messages.error(request, _("An erased patient can’t be restored."))
        return redirect("patients:detail", pk=patient.pk)
    services.patient_restore(practice=request.practice, actor=request.user, patient=patient)
    messages.success(request, _("%(name)s is active again.") % {"name": patient.full_name})
    return redirect("patients:detail", pk=patient.pk)


@practice_required
def consent(request: PracticeRequest, pk: int) -> HttpResponse:
    """Record that consent to audio recording was given (given=yes) or withdrawn (no)."""
    patient = _patient(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    answer = request.POST.get("given")
    if answer not in ("yes", "no"):
        return HttpResponseBadRequest(_("Say whether consent was given or withdrawn."))
    given = answer == "yes"
    event = services.patient_consent_set(
        practice=request.practice, actor=request.user, patient=patient, given=given
    )
    if event is None:
        messages.info(request, _("Nothing changed: that was already recorded."))
    elif given:
        messages.success(request, _("Consent to audio recording saved."))
    else:
        messages.success(
            request, _("Consent withdrawn. Sessions with this patient won’t be recorded.")
        )
    if wants_fragment(request):
        context = {**_consent_context(patient), "fragment": True}
        return render(request, "patients/profile.html#patient-consent", context)
    return redirect("patients:detail", pk=patient.pk)


# --- The patient's data rights (Owners only) -------------------------------------------


def _owned_patient(request: PracticeRequest, pk: int) -> Patient:
    return get_object_or_404(
        Patient.objects.for_practice(request.practice).select_related("audio_consent_by"),
        pk=pk,
    )


@owner_objects
def export(request: PracticeRequest, pk: int, fmt: str) -> HttpResponse:
    """Everything held about the patient, as JSON or PDF, for the patient's right of
    access. Audited as an export (ids and the format only)."""
    patient = _owned_patient(request, pk)
    record = patient_record(request.membership, patient)
    audit_record(
        practice=request.practice,
        actor=request.user,
        action="patient.export",
        target=patient,
        patient_id=patient.pk,
        ip=client_ip(request),
        data={"format": fmt},
    )
    filename = f"patient-{patient.pk}-{timezone.localdate().isoformat()}"
    if fmt == "pdf":
        shown = with_labels(record)
        return pdf_response(
            "patients/export_pdf.html",
            {
                "practice": request.practice,
                "record": shown,
                "insights": [(i, text_lines(i["content"])) for i in shown["insights"]],
                "printed_at": timezone.localtime(),
            },
            filename=f"{filename}.pdf",
        )
    response = HttpResponse(
        json.dumps(record, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.json"'
    add_never_cache_headers(response)
    return response


@owner_objects
@never_cache
def erase(request: PracticeRequest, pk: int) -> HttpResponse:
    """GET explains what erasure deletes and keeps and asks for confirmation; POST erases
    once the Owner typed the name and their password (and, within the five years records
    must be kept, ticked a lawful reason)."""
    patient = _owned_patient(request, pk)
    blocked_until = services.patient_erasure_blocked_until(patient)
    data = request.POST if request.method == "POST" and not patient.is_erased else None
    form = PatientEraseForm(data, patient=patient, user=request.user, blocked_until=blocked_until)
    if data is not None and form.is_valid():
        try:
            services.patient_erase(
                practice=request.practice,
                actor=request.user,
                patient=patient,
                override=form.override,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                _("The patient’s records were erased. Payments and the dates of sessions stay."),
            )
            return redirect("patients:detail", pk=patient.pk)
    return render(
        request,
        "patients/erase.html",
        {"patient": patient, "form": form, "blocked_until": blocked_until},
        status=422 if data is not None else 200,
    )
