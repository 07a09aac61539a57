"""Session records: recording a session (from its appointment, or as a walk-in), reading
it, editing, signing, amending and exporting its note.

Two scopes, both from the querysets: `Session.objects.visible_to()` decides who may know
a session happened (another therapist's patient, another practice's id and a missing id
all answer 404); `SessionNote.objects.visible_to()`, through `services.session_note_open`,
decides who reads what was written, and audits each read. An Assistant sees the
session's date, therapist, duration and payment and never the note. Pages that show a
note send `Cache-Control: no-store` and are kept out of htmx's history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from patients.models import Patient
from payments.forms import ChargeForm, MarkPaidForm
from payments.models import PaymentStatus
from practice.http import PracticeRequest, client_ip, wants_fragment
from practice.models import Role
from practice.pdf import pdf_response
from practice.permissions import practice_required, role_required
from sessions import services
from sessions.forms import AmendForm, RecordForm, WalkInForm
from sessions.models import (
    Appointment,
    AppointmentStatus,
    ClinicalNote,
    ClinicalNoteVersion,
    Recording,
    Session,
    SessionNote,
)
from sessions.services.clinical_notes import confirmed_values, may_draft
from sessions.services.recordings import may_record
from therapies.formbuilder import CustomFieldsForm, describe_values, merge_values, value_text
from therapies.models import TherapyType

treating_only = role_required(Role.OWNER, Role.THERAPIST)


def _session(request: PracticeRequest, pk: int) -> Session:
    return get_object_or_404(
        Session.objects.visible_to(request.membership).select_related(
            "patient", "therapist", "therapy_type", "appointment", "payment", "recorded_by"
        ),
        pk=pk,
    )


def _note(request: PracticeRequest, session: Session) -> SessionNote:
    """The note, for a write: through the barrier, without auditing a read."""
    note = SessionNote.objects.visible_to(request.membership).filter(session=session).first()
    if note is None:
        raise Http404
    return note


# --- Recording ------------------------------------------------------------------------


def _chosen_therapy(request: PracticeRequest, default: TherapyType | None) -> TherapyType | None:
    """The therapy picked in the form (a POST, or an htmx GET when the menu changes)."""
    raw = (request.POST if request.method == "POST" else request.GET).get("therapy_type", "")
    if not raw.isdigit():
        return default
    return TherapyType.objects.for_practice(request.practice).filter(pk=int(raw)).first() or default


def _record_forms(
    request: PracticeRequest,
    *,
    therapy: TherapyType | None,
    initial: dict[str, Any],
    charge_initial: dict[str, Any],
    values: dict[str, Any] | None = None,
) -> tuple[RecordForm, CustomFieldsForm, ChargeForm]:
    data = request.POST if request.method == "POST" else None
    record_form = RecordForm(data, practice=request.practice, kept=therapy, initial=initial)
    custom_form = CustomFieldsForm(therapy.custom_fields if therapy else [], data, values=values)
    charge_form = ChargeForm(data, currency=request.practice.currency, initial=charge_initial)
    return record_form, custom_form, charge_form


def _charge_initial(therapy: TherapyType | None) -> dict[str, Any]:
    today = timezone.localdate()
    return {
        "amount": therapy.price if therapy else None,
        "status": PaymentStatus.PENDING,
        "due_date": today,
        "paid_on": today,
    }


def _fills(practice: Any) -> str:
    """What the form fills in when the therapy changes, until typed over (static/js):
    the payment's amount and the duration, by therapy id, as JSON."""
    types = TherapyType.objects.for_practice(practice).values_list(
        "pk", "price", "default_duration"
    )
    return json.dumps(
        {
            "payment-amount": {str(pk): str(price) for pk, price, _ in types},
            "minutes": {str(pk): str(minutes) for pk, _, minutes in types},
        }
    )


def _record_response(
    request: PracticeRequest, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    template = "sessions/session_form.html"
    if wants_fragment(request) and request.method == "GET":
        template += "#custom-fields"  # the therapy menu changed
    response = render(request, template, context, status=status)
    add_never_cache_headers(response)
    return response


def _record(
    request: PracticeRequest,
    record_form: RecordForm,
    custom_form: CustomFieldsForm,
    charge_form: ChargeForm,
) -> tuple[services.Record, Any] | None:
    """The record and charge asked for, or None with the errors on the forms."""
    valid = [form.is_valid() for form in (record_form, custom_form, charge_form)]
    if not all(valid):
        return None
    data = record_form.cleaned_data
    return (
        services.Record(
            therapy_type=data["therapy_type"],
            minutes=data["minutes"],
            text=data["text"],
            custom_values=custom_form.cleaned_values(),
        ),
        charge_form.charge(),
    )


def _saved(request: PracticeRequest, session: Session) -> HttpResponse:
    messages.success(
        request,
        _("Session with %(patient)s recorded.") % {"patient": session.patient.full_name},
    )
    return redirect("sessions:detail", pk=session.pk)


@practice_required
@sensitive_post_parameters()  # error e-mails must not carry notes
def record(request: PracticeRequest, pk: int) -> HttpResponse:
    """Record the session of an appointment that has started; a completed one opens its
    session instead. Assistants may open the appointment but never write a note (403),
    after the same 404 as everyone for an appointment they cannot reach."""
    appointment = get_object_or_404(
        Appointment.objects.manageable_by(request.membership).select_related(
            "patient", "therapist", "therapy_type"
        ),
        pk=pk,
    )
    if not request.membership.treats_patients:
        raise PermissionDenied
    if appointment.status == AppointmentStatus.COMPLETED:
        done = Session.objects.visible_to(request.membership).filter(appointment=appointment)
        return redirect("sessions:detail", pk=get_object_or_404(done).pk)
    problem = None
    if not appointment.is_open:
        problem = _("This appointment is %(status)s: there is no session to record.") % {
            "status": appointment.get_status_display().lower()
        }
    elif appointment.starts_at > timezone.now():
        problem = _("A session can be recorded once its appointment has started.")
    if problem:
        messages.error(request, problem)
        return redirect("sessions:appointment_edit", pk=appointment.pk)

    therapy = _chosen_therapy(request, appointment.therapy_type)
    record_form, custom_form, charge_form = _record_forms(
        request,
        therapy=therapy,
        initial={"therapy_type": therapy.pk if therapy else None, "minutes": appointment.minutes},
        charge_initial=_charge_initial(therapy),
        # Custom-field values the therapist confirmed on the AI's notes start filled in.
        values=confirmed_values(appointment, request.membership),
    )
    context = {
        "appointment": appointment,
        "therapy": therapy,
        "patient": appointment.patient,
        "record_form": record_form,
        "custom_form": custom_form,
        "charge_form": charge_form,
        "fills": _fills(request.practice),
        "action": reverse("sessions:record", args=[appointment.pk]),
    }
    if request.method == "POST":
        asked = _record(request, record_form, custom_form, charge_form)
        if asked is not None:
            try:
                session = services.session_record(
                    practice=request.practice,
                    actor=request.user,
                    appointment=appointment,
                    record=asked[0],
                    charge=asked[1],
                    ip=client_ip(request),
                )
            except ValidationError as error:
                record_form.add_error(None, error)
            else:
                return _saved(request, session)
        return _record_response(request, context, status=422)
    return _record_response(request, context)


@treating_only
@sensitive_post_parameters()  # error e-mails must not carry notes
def walk_in(request: PracticeRequest) -> HttpResponse:
    """A session recorded without an appointment; its appointment is created with it."""
    patient_id = request.GET.get("patient", "")
    therapy = _chosen_therapy(request, None)
    walk_in_form = WalkInForm(
        request.POST if request.method == "POST" else None,
        membership=request.membership,
        initial={
            "starts_at": timezone.localtime().replace(second=0, microsecond=0),
            **({"patient": int(patient_id)} if patient_id.isdigit() else {}),
        },
    )
    record_form, custom_form, charge_form = _record_forms(
        request,
        therapy=therapy,
        initial={"therapy_type": therapy.pk if therapy else None, "minutes": 60},
        charge_initial=_charge_initial(therapy),
    )
    patient = (
        Patient.objects.visible_to(request.membership).filter(pk=int(patient_id)).first()
        if patient_id.isdigit()
        else None
    )
    context = {
        "patient": patient,  # opened from their Sessions tab: the way back leads there
        "therapy": therapy,
        "walk_in_form": walk_in_form,
        "record_form": record_form,
        "custom_form": custom_form,
        "charge_form": charge_form,
        "fills": _fills(request.practice),
        "action": reverse("sessions:walk_in") + (f"?patient={patient.pk}" if patient else ""),
    }
    if request.method == "POST":
        who_valid = walk_in_form.is_valid()
        asked = _record(request, record_form, custom_form, charge_form)
        if who_valid and asked is not None:
            try:
                session = services.session_record_walk_in(
                    practice=request.practice,
                    actor=request.user,
                    booking=walk_in_form.booking(asked[0].minutes),
                    record=asked[0],
                    charge=asked[1],
                    ip=client_ip(request),
                )
            except ValidationError as error:
                walk_in_form.add_error(None, error)
            else:
                return _saved(request, session)
        return _record_response(request, context, status=422)
    return _record_response(request, context)


# --- Reading --------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str
    long: bool  # the note's text: shown in full, not inline


def _history(note: SessionNote, therapy: TherapyType) -> list[tuple[Any, list[Change]]]:
    """Each revision with its changes in words, newest first."""
    fields = {f"custom:{f['key']}": f for f in [*therapy.removed_fields, *therapy.custom_fields]}
    history = []
    for revision in note.revisions.select_related("author"):
        changes = []
        for name, change in revision.changes.items():
            if name == "text":
                label, kind = _("Session notes"), None
            elif name == "minutes":
                label, kind = _("Duration (minutes)"), None
            else:
                field = fields.get(name)
                label = field["label"] if field else name.removeprefix("custom:")
                kind = field["kind"] if field else None
            before, after = change.get("before"), change.get("after")
            changes.append(
                Change(
                    label=label,
                    before="" if before is None else value_text(kind, before),
                    after="" if after is None else value_text(kind, after),
                    long=name == "text",
                )
            )
        history.append((revision, changes))
    return history


def _note_context(note: SessionNote | None, session: Session) -> dict[str, Any]:
    if note is None:
        return {"note": None}
    therapy = session.therapy_type
    return {
        "note": note,
        "values": describe_values(
            therapy.custom_fields, therapy.removed_fields, note.custom_values
        ),
        "amendments": list(note.amendments.select_related("author")),
        "history": _history(note, therapy),
    }


@practice_required
@never_cache
def detail(request: PracticeRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    note = services.session_note_open(
        membership=request.membership, session=session, action="read", ip=client_ip(request)
    )
    payment = getattr(session, "payment", None)
    clinical_notes = ClinicalNote.objects.visible_to(request.membership).filter(
        appointment_id=session.appointment_id
    )
    context = {
        "session": session,
        "patient": session.patient,
        "payment": payment,
        "mark_paid_form": MarkPaidForm(initial={"paid_on": timezone.localdate()})
        if payment is not None and not payment.is_paid
        else None,
        "may_edit": services.may_edit(request.membership, session),
        "may_sign": services.may_sign(request.membership, session),
        "amend_form": AmendForm(),
        # The barrier's own scope: empty for Assistants.
        "recordings": Recording.objects.visible_to(request.membership).filter(
            appointment_id=session.appointment_id
        ),
        "may_record": may_record(request.membership, session.appointment),
        # AI-drafted notes (the same barrier), and each of their versions for the history.
        "clinical_notes": clinical_notes,
        # Versions are read through their notes, which are scoped above.
        "note_versions": ClinicalNoteVersion.objects.filter(note__in=clinical_notes)
        .select_related("note", "author")
        .order_by("-created_at", "-pk"),
        "may_draft": may_draft(request.membership, session.appointment),
        **_note_context(note, session),
    }
    return render(request, "sessions/session_detail.html", context)


@practice_required
def export(request: PracticeRequest, pk: int) -> HttpResponse:
    """The session record as a PDF, on the practice's letterhead. Audited as an export."""
    session = _session(request, pk)
    note = services.session_note_open(
        membership=request.membership, session=session, action="export", ip=client_ip(request)
    )
    if note is None:
        raise Http404
    day = timezone.localtime(session.starts_at).date().isoformat()
    return pdf_response(
        "sessions/session_record_pdf.html",
        {
            "practice": request.practice,
            "session": session,
            "patient": session.patient,
            "printed_at": timezone.localtime(),
            **_note_context(note, session),
        },
        filename=f"session-{session.pk}-{day}.pdf",
    )


# --- Editing, signing, amending -------------------------------------------------------


@practice_required
@never_cache
@sensitive_post_parameters()  # error e-mails must not carry notes
def edit(request: PracticeRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    if request.method == "POST":
        note = _note(request, session)
    else:
        opened = services.session_note_open(
            membership=request.membership, session=session, action="read", ip=client_ip(request)
        )
        if opened is None:
            raise Http404
        note = opened
    if not services.may_edit(request.membership, session):
        raise PermissionDenied
    if note.is_signed:
        messages.info(request, _("This note is signed: add an amendment instead."))
        return redirect("sessions:detail", pk=session.pk)
    data = request.POST if request.method == "POST" else None
    record_form = RecordForm(
        data,
        practice=request.practice,
        editing=True,
        initial={"minutes": session.minutes, "text": note.text},
    )
    custom_form = CustomFieldsForm(
        session.therapy_type.custom_fields, data, values=note.custom_values
    )
    # Validate both, so every mistake shows at once.
    posted = request.method == "POST"
    valid = posted and [form.is_valid() for form in (record_form, custom_form)]
    if valid and all(valid):
        try:
            changed = services.session_update(
                practice=request.practice,
                actor=request.user,
                session=session,
                minutes=record_form.cleaned_data["minutes"],
                text=record_form.cleaned_data["text"],
                custom_values=merge_values(
                    session.therapy_type.custom_fields,
                    note.custom_values,
                    custom_form.cleaned_values(),
                ),
                ip=client_ip(request),
            )
        except ValidationError as error:
            record_form.add_error(None, error)
        else:
            if changed:
                messages.success(request, _("Changes saved."))
            else:
                messages.info(request, _("Nothing was changed."))
            return redirect("sessions:detail", pk=session.pk)
    return render(
        request,
        "sessions/session_form.html",
        {
            "session": session,
            "patient": session.patient,
            "record_form": record_form,
            "custom_form": custom_form,
            "action": reverse("sessions:edit", args=[session.pk]),
        },
        status=422 if posted else 200,
    )


@practice_required
@never_cache
def sign(request: PracticeRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST signs."""
    session = _session(request, pk)
    note = _note(request, session)
    if not services.may_sign(request.membership, session):
        raise PermissionDenied
    if request.method == "POST":
        try:
            services.session_sign(
                practice=request.practice,
                actor=request.user,
                session=session,
                ip=client_ip(request),
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Note signed. Later changes will be amendments."))
        return redirect("sessions:detail", pk=session.pk)
    return render(request, "sessions/session_sign.html", {"session": session, "note": note})


@practice_required
@sensitive_post_parameters()  # error e-mails must not carry notes
def amend(request: PracticeRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    _note(request, session)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not services.may_edit(request.membership, session):
        raise PermissionDenied
    form = AmendForm(request.POST)
    if form.is_valid():
        try:
            services.session_amend(
                practice=request.practice,
                actor=request.user,
                session=session,
                text=form.cleaned_data["text"],
                ip=client_ip(request),
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Amendment added."))
    else:
        messages.error(request, " ".join(str(e) for e in form.errors.get("text", [])))
    return redirect("sessions:detail", pk=session.pk)
