"""Reading the audit log: what each action code means, and the Owners' filters.

Rows are written by `practice.services.audit_record`; nothing here writes or changes
one. A code missing from ACTION_GROUPS still shows (as itself), but cannot be chosen in
the filter: tests/practice/test_audit.py fails when the code writes an unlabelled one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from practice.models import AuditEvent, Practice, User

# Reads and writes of what was said or written in a session.
CLINICAL_PREFIXES = ("session_note.", "transcript.", "clinical_note.", "tera.")

# Grouped as the action menu shows them. Codes are "<object>.<verb>", written once in a
# service and never renamed: old rows keep them.
ACTION_GROUPS: tuple[tuple[Promise, dict[str, Promise]], ...] = (
    (
        _("Session notes"),
        {
            "session_note.read": _("Read a session note"),
            "session_note.edit": _("Edited a session note"),
            "session_note.sign": _("Signed a session note"),
            "session_note.amend": _("Amended a signed session note"),
            "session_note.export": _("Exported a session note"),
            "session_note.filter": _("Searched a patient’s notes by a custom field"),
        },
    ),
    (
        _("Recordings and transcripts"),
        {
            "recording.start": _("Started recording a session’s audio"),
            "recording.stop": _("Stopped recording a session’s audio"),
            "recording.upload": _("Uploaded a session’s audio"),
            "recording.cancel": _("Cancelled a recording and deleted its audio"),
            "recording.retry": _("Retried a failed transcription"),
            "transcript.read": _("Read a transcript"),
            "transcript.edit": _("Corrected a transcript"),
            "transcript.speakers": _("Named a transcript’s speakers"),
            "transcript.expire": _("Deleted transcripts past the practice’s retention period"),
        },
    ),
    (
        _("Clinical notes"),
        {
            "clinical_note.generate": _("Asked the AI to draft a clinical note"),
            "clinical_note.drafted": _("The AI drafted a clinical note version"),
            "clinical_note.regenerate": _("Regenerated a clinical note"),
            "clinical_note.read": _("Read a clinical note"),
            "clinical_note.assist": _("Asked the assistant to change a clinical note"),
            "clinical_note.accept": _("Accepted the assistant’s changes to a clinical note"),
            "clinical_note.reject": _("Rejected the assistant’s changes to a clinical note"),
            "clinical_note.edit": _("Edited a clinical note"),
            "clinical_note.field_accept": _("Confirmed a custom-field value the AI suggested"),
            "clinical_note.field_decline": _("Declined a custom-field value the AI suggested"),
            "clinical_note.export_pdf": _("Exported a clinical note as PDF"),
            "clinical_note.export_docx": _("Exported a clinical note as DOCX"),
            "clinical_note.export_text": _("Copied a clinical note as text"),
        },
    ),
    (
        _("Tera"),
        {
            "tera.search": _("Searched the notes with Tera"),
            "tera.summary": _("Asked Tera for a treatment summary"),
            "tera.insights": _("Read Tera’s insights about a patient"),
            "tera.briefing": _("Read a pre-session briefing"),
            "tera.briefing_prepare": _("Asked Tera to prepare a briefing now"),
        },
    ),
    (
        _("Sessions"),
        {
            "session.record": _("Recorded a session"),
        },
    ),
    (
        _("Appointments"),
        {
            "appointment.book": _("Booked an appointment"),
            "appointment.book_series": _("Booked repeating appointments"),
            "appointment.update": _("Changed an appointment"),
            "appointment.update_following": _("Changed an appointment and the following ones"),
            "appointment.cancel": _("Cancelled an appointment"),
            "appointment.cancel_following": _("Cancelled an appointment and the following ones"),
            "appointment.confirm": _("Confirmed an appointment"),
            "appointment.no_show": _("Marked an appointment as no-show"),
            "appointment.reminder": _("Sent an appointment reminder"),
            "calendar_feed.create": _("Created a phone calendar link"),
            "calendar_feed.revoke": _("Revoked a phone calendar link"),
        },
    ),
    (
        _("Patients"),
        {
            "patient.create": _("Added a patient"),
            "patient.update": _("Edited a patient"),
            "patient.assign_therapists": _("Changed a patient’s therapists"),
            "patient.archive": _("Archived a patient"),
            "patient.restore": _("Restored a patient"),
            "patient.consent_give": _("Recorded consent to audio recording"),
            "patient.consent_withdraw": _("Recorded withdrawal of consent to audio recording"),
            "patient.export": _("Exported everything about a patient (data rights)"),
            "patient.erase": _("Erased a patient’s records (data rights)"),
        },
    ),
    (
        _("Payments"),
        {
            "payment.create": _("Recorded a payment"),
            "payment.update": _("Changed a payment"),
            "payment.overdue": _("Marked a payment as overdue"),
            "payment.export": _("Exported payments"),
            "payment.receipt": _("Issued a receipt"),
        },
    ),
    (
        _("Therapies"),
        {
            "therapy_type.create": _("Added a therapy"),
            "therapy_type.update": _("Edited a therapy"),
            "therapy_type.field_add": _("Added a custom field"),
            "therapy_type.field_update": _("Edited a custom field"),
            "therapy_type.field_remove": _("Removed a custom field"),
            "therapy_type.fields_reorder": _("Reordered custom fields"),
        },
    ),
    (
        _("Note templates"),
        {
            "note_template.create": _("Added a note template"),
            "note_template.update": _("Edited a note template"),
            "note_template.archive": _("Archived a note template"),
            "note_template.restore": _("Restored a note template"),
        },
    ),
    (
        _("Sign-in"),
        {
            "sign_in.login": _("Signed in with their password"),
            "sign_in.fail": _("A sign-in to this account failed"),
            "sign_in.logout": _("Signed out"),
            "sign_in.lockout": _("Sign-in locked after too many failed attempts"),
            "two_factor.setup": _("Set up two-factor authentication"),
            "two_factor.replace": _("Replaced their authenticator app"),
            "two_factor.verify": _("Entered their two-factor code"),
            "two_factor.fail": _("Entered a wrong two-factor code"),
            "two_factor.reset": _("Two-factor authentication was reset by an administrator"),
        },
    ),
    (
        _("Practice and members"),
        {
            "practice.create": _("Created the practice"),
            "practice.update": _("Changed the practice settings"),
            "practice.plan": _("Changed the practice’s plan"),
            "practice.retention": _("Changed how long transcripts are kept"),
            "audit.export": _("Exported the audit log"),
            "membership.create": _("Added a member"),
            "membership.role_change": _("Changed a member’s role"),
            "membership.activate": _("Reactivated a member"),
            "membership.deactivate": _("Deactivated a member"),
            "invitation.create": _("Invited someone to join"),
            "invitation.revoke": _("Revoked an invitation"),
            "invitation.accept": _("Accepted an invitation"),
        },
    ),
)

ACTIONS: dict[str, Promise] = {
    code: text for _group, labels in ACTION_GROUPS for code, text in labels.items()
}


def label(action: str) -> str:
    """The human label of an action code; an unknown code is shown as it is."""
    return str(ACTIONS.get(action, action))


def _action_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    return [
        (str(group), [(code, str(text)) for code, text in labels.items()])
        for group, labels in ACTION_GROUPS
    ]


DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _midnight(day: date) -> datetime:
    """The start of `day` in the time zone the middleware activated (the practice's)."""
    return datetime.combine(day, time(), tzinfo=timezone.get_current_timezone())


class AuditFilter(django_filters.FilterSet):
    """The audit log's filters. Days are the practice's (the middleware activates its time
    zone); the patient is found by name among the practice's patients."""

    action = django_filters.ChoiceFilter(
        label=_("Action"), choices=_action_choices, empty_label=_("All actions")
    )
    member = django_filters.ModelChoiceFilter(
        label=_("Member"), field_name="actor", queryset=None, empty_label=_("All members")
    )
    patient = django_filters.CharFilter(label=_("Patient"), method="filter_patient")
    start = django_filters.DateFilter(label=_("From"), method="filter_start", widget=DATE_INPUT)
    end = django_filters.DateFilter(label=_("To"), method="filter_end", widget=DATE_INPUT)
    clinical = django_filters.BooleanFilter(
        label=_("Session notes and transcripts only"),
        method="filter_clinical",
        widget=forms.CheckboxInput,
    )

    class Meta:
        model = AuditEvent
        fields = ("action", "member", "patient", "start", "end", "clinical")

    def __init__(self, *args: Any, practice: Practice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.practice = practice
        member = self.filters["member"]
        # Everyone who ever belonged, deactivated members included: their rows stay.
        member.queryset = User.objects.filter(memberships__practice=practice).order_by(
            "first_name", "last_name", "email"
        )
        member.field.label_from_instance = lambda user: user.display_name
        # The form is built above (with the member menu's queryset): adjust it only now.
        self.form.label_suffix = ""  # labels read like the other filter bars, without ":"
        search = self.form.fields["patient"].widget
        search.input_type = "search"
        search.attrs.update({"placeholder": _("Patient’s name"), "autocomplete": "off"})

    def filter_patient(
        self, queryset: QuerySet[AuditEvent], name: str, value: str
    ) -> QuerySet[AuditEvent]:
        patients = Patient.objects.for_practice(self.practice).search(value)
        return queryset.filter(patient_id__in=patients.values("pk"))

    def filter_start(
        self, queryset: QuerySet[AuditEvent], name: str, value: date
    ) -> QuerySet[AuditEvent]:
        return queryset.filter(created_at__gte=_midnight(value))

    def filter_end(
        self, queryset: QuerySet[AuditEvent], name: str, value: date
    ) -> QuerySet[AuditEvent]:
        return queryset.filter(created_at__lt=_midnight(value + timedelta(days=1)))

    def filter_clinical(
        self, queryset: QuerySet[AuditEvent], name: str, value: bool | None
    ) -> QuerySet[AuditEvent]:
        # An unticked box means "everything", not "everything but notes".
        if not value:
            return queryset
        clinical = Q()
        for prefix in CLINICAL_PREFIXES:
            clinical |= Q(action__startswith=prefix)
        return queryset.filter(clinical)


@dataclass(frozen=True)
class AuditRow:
    """One line of the log as the page shows it."""

    event: AuditEvent
    label: str
    patient_name: str | None  # None: no patient, or a patient that no longer exists

    @property
    def is_clinical(self) -> bool:
        return self.event.action.startswith(CLINICAL_PREFIXES)


def audit_rows(practice: Practice, events: Iterable[AuditEvent]) -> list[AuditRow]:
    """Label a page of events and name their patients, in one query for the whole page.

    Patients are plain ids on audit rows (a row outlives what it names), so they are
    looked up in the practice's scope, never by id alone."""
    events = list(events)
    ids = {event.patient_id for event in events if event.patient_id is not None}
    names: dict[int, str] = {}
    if ids:
        names = dict(
            Patient.objects.for_practice(practice).filter(pk__in=ids).values_list("pk", "full_name")
        )
    return [
        AuditRow(
            event=event,
            label=label(event.action),
            patient_name=names.get(event.patient_id) if event.patient_id is not None else None,
        )
        for event in events
    ]


# --- The hash chain ------------------------------------------------------------------------

GENESIS = "0" * 64


@dataclass(frozen=True)
class ChainReport:
    """One practice's chain as `verify_chain` found it: its length, its last hash (worth
    writing down elsewhere: a chain rebuilt from scratch by someone holding the database
    would end in another), and what is wrong with it."""

    practice_id: int
    rows: int
    head: str
    problems: list[str]


def verify_chain(practice_id: int | None = None) -> list[ChainReport]:
    """Recompute every practice's audit chain (or one's) in the database, with the very
    function the insert trigger uses, and say where it breaks: a row whose content no
    longer matches its hash (changed), a number missing (removed), or a row that does not
    follow the one before (reordered or forged)."""
    from django.db import connection

    sql = (
        "SELECT practice_id, id, seq, prev_hash, chain_hash, practice_auditevent_digest(e)"
        " FROM practice_auditevent e"
    )
    params: list[int] = []
    if practice_id is not None:
        sql += " WHERE practice_id = %s"
        params.append(practice_id)
    sql += " ORDER BY practice_id, seq"
    reports: dict[int, ChainReport] = {}
    last_seq, last_hash = 0, GENESIS
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for practice, pk, seq, prev_hash, chain_hash, digest in cursor:
            if practice not in reports:
                reports[practice] = ChainReport(practice, 0, GENESIS, [])
                last_seq, last_hash = 0, GENESIS
            problems = reports[practice].problems
            if seq != last_seq + 1:
                problems.append(f"rows {last_seq + 1}–{seq - 1} are missing (before row id {pk})")
            if prev_hash != last_hash:
                problems.append(f"row {seq} (id {pk}) does not follow row {seq - 1}")
            if chain_hash != digest:
                problems.append(f"row {seq} (id {pk}) was changed after it was written")
            last_seq, last_hash = seq, chain_hash
            reports[practice] = ChainReport(
                practice, reports[practice].rows + 1, chain_hash, problems
            )
    return list(reports.values())
