"""Recording what happened in a session: the record, its notes, edits, signature and
amendments, and the audit of every read and export of a note.

Who may do what (checked here as well as by the views' querysets):

- record a session: an Owner, or the appointment's own therapist, who must still treat
  the patient;
- edit an unsigned note: the session's therapist or an Owner;
- sign: only the session's therapist, once; after that the note never changes and later
  words are amendments (by the session's therapist or an Owner);
- read: whoever `SessionNote.objects.visible_to` lets through, and every read is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Patient
from payments.services import Charge, payment_create
from practice.models import Membership, Practice, User
from practice.services import audit_record
from sessions.models import (
    OPEN_STATUSES,
    Appointment,
    AppointmentStatus,
    Session,
    SessionAmendment,
    SessionNote,
    SessionNoteRevision,
)
from sessions.services.appointments import Booking, appointment_book
from tera.indexing import queue_index
from tera.models import SourceKind
from therapies.formbuilder import validate_values
from therapies.models import TherapyType


@dataclass(frozen=True)
class Record:
    """What the session form asks for, besides the payment. `custom_values` are already
    validated against `therapy_type`'s schema (therapies.formbuilder.CustomFieldsForm)."""

    therapy_type: TherapyType
    minutes: int
    text: str
    custom_values: dict[str, Any]


def _audit(
    practice: Practice,
    session: Session,
    *,
    actor: User,
    action: str,
    ip: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    """One audit row about a session: who, which patient and session, from where."""
    audit_record(
        practice=practice,
        actor=actor,
        action=action,
        target=session,
        patient_id=session.patient_id,
        session_id=session.pk,
        ip=ip,
        data=data,
    )


def require_treats(practice: Practice, actor: User, patient: Patient) -> Membership:
    """The actor's active membership, when they treat patients (Owner or Therapist) and
    may see `patient` (the same `Patient.objects.visible_to` scope every patient page
    uses); PermissionDenied otherwise."""
    membership = Membership.objects.for_practice(practice).active().filter(user=actor).first()
    if (
        membership is not None
        and membership.treats_patients
        and Patient.objects.visible_to(membership).filter(pk=patient.pk).exists()
    ):
        return membership
    raise PermissionDenied


def may_edit(membership: Membership, session: Session) -> bool:
    """Edit an unsigned note, or amend a signed one: its therapist or an Owner."""
    return membership.is_active and (
        membership.is_owner or session.therapist_id == membership.user_id
    )


def may_sign(membership: Membership, session: Session) -> bool:
    """Only the therapist who held the session signs its note."""
    return membership.is_active and session.therapist_id == membership.user_id


def _create(
    *,
    practice: Practice,
    actor: User,
    appointment: Appointment,
    record: Record,
    charge: Charge,
    ip: str | None,
) -> Session:
    if record.therapy_type.practice_id != practice.pk:
        raise ValueError("The therapy belongs to another practice.")
    custom_values = validate_values(record.therapy_type.custom_fields, record.custom_values)
    if custom_values.keys() - {f["key"] for f in record.therapy_type.custom_fields}:
        raise ValidationError(_("These values are not fields of this therapy."), code="fields")
    session = Session.objects.create(
        practice=practice,
        appointment=appointment,
        patient_id=appointment.patient_id,
        therapist_id=appointment.therapist_id,
        therapy_type=record.therapy_type,
        starts_at=appointment.starts_at,
        minutes=record.minutes,
        recorded_by=actor,
    )
    SessionNote.objects.create(
        practice=practice,
        session=session,
        text=record.text,
        custom_values=custom_values,
    )
    payment_create(practice=practice, actor=actor, session_id=session.pk, charge=charge)
    appointment.status = AppointmentStatus.COMPLETED
    appointment.save(update_fields=["status", "updated_at"])
    _audit(
        practice,
        session,
        actor=actor,
        action="session.record",
        ip=ip,
        data={"appointment": appointment.pk},
    )
    # Tera: the note, and the appointment's transcripts and AI notes (now of a session).
    queue_index(SourceKind.SESSION_NOTE, session.pk)
    for recording_id in appointment.recordings.values_list("pk", flat=True):
        queue_index(SourceKind.TRANSCRIPT, recording_id)
    for note_id in appointment.clinical_notes.values_list("pk", flat=True):
        queue_index(SourceKind.CLINICAL_NOTE, note_id)
    return session


@transaction.atomic
def session_record(
    *,
    practice: Practice,
    actor: User,
    appointment: Appointment,
    record: Record,
    charge: Charge,
    ip: str | None = None,
) -> Session:
    """Record the session of an appointment that has started: its notes, custom-field
    values and payment. The appointment becomes Completed. One session per appointment:
    the appointment row is locked, so a second submission finds the first."""
    appointment = (
        Appointment.objects.for_practice(practice)
        .select_for_update()
        .select_related("patient")
        .get(pk=appointment.pk)
    )
    membership = require_treats(practice, actor, appointment.patient)
    if membership.is_therapist and appointment.therapist_id != actor.pk:
        raise PermissionDenied
    if appointment.status == AppointmentStatus.COMPLETED:
        raise ValidationError(_("This session is already recorded."), code="recorded")
    if appointment.status not in OPEN_STATUSES:
        raise ValidationError(
            _("This appointment is %(status)s: there is no session to record.")
            % {"status": appointment.get_status_display().lower()},
            code="closed",
        )
    if appointment.starts_at > timezone.now():
        raise ValidationError(
            _("A session can be recorded once its appointment has started."), code="future"
        )
    return _create(
        practice=practice,
        actor=actor,
        appointment=appointment,
        record=record,
        charge=charge,
        ip=ip,
    )


@transaction.atomic
def session_record_walk_in(
    *,
    practice: Practice,
    actor: User,
    booking: Booking,
    record: Record,
    charge: Charge,
    ip: str | None = None,
) -> Session:
    """A session without an appointment: the appointment is created, already Completed,
    under the same checks as a booking (the therapist treats the patient and was free)."""
    membership = require_treats(practice, actor, booking.patient)
    if membership.is_therapist and booking.therapist.pk != actor.pk:
        raise PermissionDenied
    if booking.starts_at > timezone.now():
        raise ValidationError(
            _("A walk-in session must have started already; book future ones in the calendar."),
            code="future",
        )
    booking = replace(
        booking,
        therapy_type=record.therapy_type,
        ends_at=booking.starts_at + timedelta(minutes=record.minutes),
    )
    # Booked like any appointment (same checks, same audit row), then recorded at once.
    appointment, _warnings = appointment_book(practice=practice, actor=actor, booking=booking)
    return _create(
        practice=practice,
        actor=actor,
        appointment=appointment,
        record=record,
        charge=charge,
        ip=ip,
    )


def _same_answer(before: Any, after: Any) -> bool:
    """Multiple choices are the same answer in any order (older rows may hold another)."""
    if isinstance(before, list) and isinstance(after, list):
        return sorted(map(str, before)) == sorted(map(str, after))
    return bool(before == after)


def _locked_note(practice: Practice, session: Session) -> SessionNote:
    return SessionNote.objects.for_practice(practice).select_for_update().get(session=session)


def _require_unsigned(note: SessionNote) -> None:
    if note.is_signed:
        raise ValidationError(
            _("This note is signed and can no longer be edited; add an amendment instead."),
            code="signed",
        )


@transaction.atomic
def session_update(
    *,
    practice: Practice,
    actor: User,
    session: Session,
    minutes: int,
    text: str,
    custom_values: dict[str, Any],
    ip: str | None = None,
) -> list[str]:
    """Edit an unsigned note (and the session's duration). The values before and after
    each changed field are kept as a revision, so the history shows who changed what and
    when. Returns the changed fields ("minutes", "text", "custom:<key>")."""
    if not may_edit(require_treats(practice, actor, session.patient), session):
        raise PermissionDenied
    note = _locked_note(practice, session)
    _require_unsigned(note)
    custom_values = validate_values(
        session.therapy_type.custom_fields, custom_values, stored=note.custom_values
    )

    changes: dict[str, dict[str, Any]] = {}
    if session.minutes != minutes:
        changes["minutes"] = {"before": session.minutes, "after": minutes}
    if note.text != text:
        changes["text"] = {"before": note.text, "after": text}
    for key in sorted(note.custom_values.keys() | custom_values.keys()):
        before, after = note.custom_values.get(key), custom_values.get(key)
        if not _same_answer(before, after):
            changes[f"custom:{key}"] = {"before": before, "after": after}
    if not changes:
        return []

    if "minutes" in changes:
        session.minutes = minutes
        session.save(update_fields=["minutes", "updated_at"])
    note.text, note.custom_values = text, custom_values
    note.save(update_fields=["text", "custom_values", "updated_at"])
    SessionNoteRevision.objects.create(practice=practice, note=note, author=actor, changes=changes)
    fields = list(changes)
    _audit(
        practice, session, actor=actor, action="session_note.edit", ip=ip, data={"fields": fields}
    )
    queue_index(SourceKind.SESSION_NOTE, session.pk)
    return fields


@transaction.atomic
def session_sign(
    *, practice: Practice, actor: User, session: Session, ip: str | None = None
) -> None:
    """The session's therapist signs the note: from now on it is kept as it is."""
    if not may_sign(require_treats(practice, actor, session.patient), session):
        raise PermissionDenied
    note = _locked_note(practice, session)
    if note.is_signed:
        raise ValidationError(_("This note is already signed."), code="signed")
    note.signed_at, note.signed_by = timezone.now(), actor
    note.save(update_fields=["signed_at", "signed_by", "updated_at"])
    _audit(practice, session, actor=actor, action="session_note.sign", ip=ip)


@transaction.atomic
def session_amend(
    *, practice: Practice, actor: User, session: Session, text: str, ip: str | None = None
) -> SessionAmendment:
    """Append an amendment to a signed note; the note itself stays as signed."""
    if not may_edit(require_treats(practice, actor, session.patient), session):
        raise PermissionDenied
    note = _locked_note(practice, session)
    if not note.is_signed:
        raise ValidationError(
            _("Only a signed note takes amendments; edit the note itself."), code="unsigned"
        )
    text = text.strip()
    if not text:
        raise ValidationError(_("Write the amendment."), code="empty")
    amendment = SessionAmendment.objects.create(
        practice=practice, note=note, author=actor, text=text
    )
    _audit(
        practice,
        session,
        actor=actor,
        action="session_note.amend",
        ip=ip,
        data={"amendment": amendment.pk},
    )
    queue_index(SourceKind.SESSION_NOTE, session.pk)
    return amendment


@transaction.atomic
def session_note_open(
    *, membership: Membership, session: Session, action: str, ip: str | None = None
) -> SessionNote | None:
    """Fetch a session's note through the note barrier, and audit the read (`action` is
    "read" or "export") in the same transaction. None when the member may not read it
    (an Assistant, say): nothing is read, so nothing is audited.

    Takes the membership rather than practice and actor: the barrier is about the role."""
    note = (
        SessionNote.objects.visible_to(membership)
        .select_related("signed_by")
        .filter(session=session)
        .first()
    )
    if note is None:
        return None
    _audit(
        membership.practice, session, actor=membership.user, action=f"session_note.{action}", ip=ip
    )
    return note
