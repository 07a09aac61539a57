"""Writes to patients. Each runs in one transaction and writes its audit row there, with
ids and field names only: never the values, which are personal data."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, TypedDict

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from patients.models import Consent, ConsentEvent, Patient, PatientUserObjectPermission
from patients.querysets import TREAT_PATIENT
from practice.models import Membership, Practice, Role, User
from practice.services import audit_record

TREAT_PERM = f"patients.{TREAT_PATIENT}"


class PatientFields(TypedDict, total=False):
    """The patient's own data, as a form cleans it."""

    full_name: str
    preferred_name: str
    pronouns: str
    birth_date: date | None
    email: str
    email_reminders: bool
    phone: str
    address: str
    emergency_contact_name: str
    emergency_contact_phone: str
    tags: list[str]
    admin_notes: str


def _check_practice(patient: Patient, practice: Practice) -> None:
    # Views fetch in scope; this guards against a caller that forgot to.
    if patient.practice_id != practice.pk:
        raise ValueError("The patient belongs to another practice.")


@transaction.atomic
def patient_create(
    *,
    practice: Practice,
    actor: User,
    fields: PatientFields,
    therapists: Iterable[User],
) -> Patient:
    """Add a patient to `practice`, treated by `therapists` (at least one)."""
    patient = Patient(practice=practice, **fields)
    patient.save()
    audit_record(
        practice=practice,
        actor=actor,
        action="patient.create",
        target=patient,
        data={"fields": sorted(name for name, value in fields.items() if value)},
    )
    patient_assign_therapists(
        practice=practice, actor=actor, patient=patient, therapists=therapists
    )
    return patient


@transaction.atomic
def patient_update(
    *,
    practice: Practice,
    actor: User,
    patient: Patient,
    fields: PatientFields,
    therapists: Iterable[User] | None = None,
) -> list[str]:
    """Change the patient's data and, unless `therapists` is None, who treats them.
    Returns the names of the fields that changed."""
    _check_practice(patient, practice)
    # Compare with the stored row, not `patient`: a ModelForm has already copied the new
    # values onto the instance it was given. The lock keeps a concurrent edit from
    # slipping between the comparison and the save.
    stored = Patient.objects.select_for_update().get(pk=patient.pk)
    changed = [name for name, value in fields.items() if getattr(stored, name) != value]
    if changed:
        for name in changed:
            setattr(patient, name, fields[name])  # type: ignore[literal-required]
        patient.save(update_fields=[*changed, "updated_at"])
        audit_record(
            practice=practice,
            actor=actor,
            action="patient.update",
            target=patient,
            data={"fields": changed},
        )
    if therapists is not None:
        added, removed = patient_assign_therapists(
            practice=practice, actor=actor, patient=patient, therapists=therapists
        )
        if added or removed:
            changed.append("therapists")
    return changed


@transaction.atomic
def patient_assign_therapists(
    *,
    practice: Practice,
    actor: User,
    patient: Patient,
    therapists: Iterable[User],
) -> tuple[list[int], list[int]]:
    """Make `therapists` exactly the people who treat `patient`: grant them the object
    permission `patients.treat_patient` (django-guardian) and revoke it from anyone else.

    Newly assigned people must be active Owners or Therapists of the practice; someone
    already assigned may stay after leaving. Returns the user ids (added, removed)."""
    _check_practice(patient, practice)
    wanted = {user.pk: user for user in therapists}
    if not wanted:
        raise ValidationError(_("Assign at least one therapist."), code="no_therapist")
    current = set(
        PatientUserObjectPermission.objects.filter(
            content_object=patient, permission__codename=TREAT_PATIENT
        ).values_list("user_id", flat=True)
    )
    added = sorted(wanted.keys() - current)
    removed = sorted(current - wanted.keys())
    eligible = set(
        Membership.objects.for_practice(practice)
        .treating()
        .filter(user_id__in=added)
        .values_list("user_id", flat=True)
    )
    if set(added) - eligible:
        raise ValidationError(
            _("Only active Owners and Therapists of this practice can treat patients."),
            code="not_a_therapist",
        )
    if added:
        assign_perm(TREAT_PERM, [wanted[user_id] for user_id in added], patient)
    if removed:
        remove_perm(TREAT_PERM, User.objects.filter(pk__in=removed), patient)
    if added or removed:
        audit_record(
            practice=practice,
            actor=actor,
            action="patient.assign_therapists",
            target=patient,
            data={"added": added, "removed": removed},
        )
    # Patient.therapists caches; let the next read see the new assignment.
    patient.__dict__.pop("therapists", None)
    return added, removed


@transaction.atomic
def patient_archive(*, practice: Practice, actor: User, patient: Patient) -> Patient:
    """Hide the patient from the default list; nothing is deleted and it can be undone."""
    _check_practice(patient, practice)
    if patient.archived_at is None:
        patient.archived_at = timezone.now()
        patient.archived_by = actor
        patient.save(update_fields=["archived_at", "archived_by", "updated_at"])
        audit_record(practice=practice, actor=actor, action="patient.archive", target=patient)
    return patient


@transaction.atomic
def patient_restore(*, practice: Practice, actor: User, patient: Patient) -> Patient:
    """Bring an archived patient back to the list."""
    _check_practice(patient, practice)
    if patient.archived_at is not None:
        patient.archived_at = None
        patient.archived_by = None
        patient.save(update_fields=["archived_at", "archived_by", "updated_at"])
        audit_record(practice=practice, actor=actor, action="patient.restore", target=patient)
    return patient


@transaction.atomic
def patient_consent_set(
    *, practice: Practice, actor: User, patient: Patient, given: bool
) -> ConsentEvent | None:
    """Record that the patient gave (or withdrew) consent to audio recording, now, as told
    to `actor`. The event is added to the history; the patient keeps the current state.
    Returns None when the consent was already in that state (a repeated click)."""
    _check_practice(patient, practice)
    # Lock the row so two clicks at once add one event, not two.
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    if locked.has_audio_consent == given:
        return None
    now = timezone.now()
    event = ConsentEvent.objects.create(
        practice=practice,
        patient=patient,
        consent=Consent.AUDIO_RECORDING,
        given=given,
        at=now,
        recorded_by=actor,
    )
    patient.audio_consent_at = now if given else None
    patient.audio_consent_by = actor if given else None
    patient.save(update_fields=["audio_consent_at", "audio_consent_by", "updated_at"])
    audit_record(
        practice=practice,
        actor=actor,
        action="patient.consent_give" if given else "patient.consent_withdraw",
        target=patient,
        data={"consent": Consent.AUDIO_RECORDING.value, "event": event.pk},
    )
    return event


# --- The patient's data rights: erasure ------------------------------------------------

# CFP Resolution 001/2009, art. 15: psychological records are kept at least five years.
RECORD_KEEPING_YEARS = 5


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February, in a year without one
        return day.replace(year=day.year + years, day=28)


def patient_erasable_from(patient: Patient) -> date | None:
    """The first day the patient's records may be erased without the Owner's override:
    five years after their last session (in the practice's time zone), or None when they
    have had no session."""
    from sessions.models import Session

    last = Session.objects.filter(practice_id=patient.practice_id, patient=patient).aggregate(
        last=Max("starts_at")
    )["last"]
    if last is None:
        return None
    return _years_later(timezone.localtime(last).date(), RECORD_KEEPING_YEARS)


def patient_erasure_blocked_until(patient: Patient) -> date | None:
    """The day erasure stops being blocked by the record-keeping rule, if it is today."""
    erasable_from = patient_erasable_from(patient)
    if erasable_from is not None and erasable_from > timezone.localdate():
        return erasable_from
    return None


def _require_owner(practice: Practice, actor: User) -> None:
    # The practice is the data controller: only its Owner erases, whoever calls.
    if not Membership.objects.filter(
        practice=practice, user=actor, role=Role.OWNER, is_active=True
    ).exists():
        raise PermissionDenied("Only the practice's Owner erases a patient.")


@transaction.atomic
def patient_erase(
    *, practice: Practice, actor: User, patient: Patient, override: bool
) -> dict[str, int]:
    """Erase what the practice holds about `patient`, keeping what the law requires.

    Deleted: the session notes' text and custom-field values, their amendments and
    earlier wordings; recordings (the audio's wrapped key and encrypted chunks first,
    through `recording_audio_delete`), live text, speakers, transcript segments and their
    corrections; AI-drafted clinical notes with every version and proposal; Tera's chunks
    (embeddings) and insights; appointments that never became a session.

    Kept: payments (fiscal records) and the bare sessions and appointments they hang on,
    and the patient row itself (sessions and payments point at it), anonymised: "Erased
    patient <id>", with every contact and administrative field emptied. Audit rows stay:
    they hold ids only.

    Within five years of the last session (CFP Resolution 001/2009) erasure raises
    ValidationError unless `override` says the Owner confirmed a lawful reason. Returns
    what was deleted, by kind; the audit row holds the same counts."""
    from sessions.models import (
        Appointment,
        ClinicalNote,
        ClinicalNoteVersion,
        LiveText,
        NoteProposal,
        Recording,
        Session,
        SessionAmendment,
        SessionNote,
        SessionNoteRevision,
    )
    from sessions.services.recordings import transcripts_delete
    from tera.models import Chunk, Insight, SourceKind

    _check_practice(patient, practice)
    _require_owner(practice, actor)
    # Lock the row: a second erasure, or an edit of the patient, waits for this one.
    Patient.objects.select_for_update().get(pk=patient.pk)
    blocked_until = patient_erasure_blocked_until(patient)
    if blocked_until is not None and not override:
        raise ValidationError(
            _(
                "Psychological records must be kept for at least five years after the last "
                "session (CFP Resolution 001/2009). This patient’s records can be erased from "
                "%(date)s, unless you confirm a lawful reason to erase them now."
            )
            % {"date": formats.date_format(blocked_until, "DATE_FORMAT")},
            code="keep_records",
        )

    scope = {"practice": practice}
    sessions = list(Session.objects.filter(patient=patient, **scope).values_list("pk", flat=True))
    recordings = Recording.objects.filter(
        Q(patient=patient) | Q(appointment__patient=patient), **scope
    )
    recording_ids = list(recordings.values_list("pk", flat=True))
    clinical_notes = ClinicalNote.objects.filter(
        Q(patient=patient) | Q(appointment__patient=patient), **scope
    )
    clinical_note_ids = list(clinical_notes.values_list("pk", flat=True))
    notes = SessionNote.objects.filter(session__patient=patient, **scope)
    counts: dict[str, int] = {}

    def delete(key: str, queryset: QuerySet[Any]) -> None:
        counts[key] = counts.get(key, 0) + queryset.delete()[0]

    # Tera first: its chunks are copies of every other kind of text below.
    delete(
        "tera_chunks",
        Chunk.objects.filter(
            Q(patient=patient)
            | Q(kind=SourceKind.SESSION_NOTE, source_id__in=sessions)
            | Q(kind=SourceKind.TRANSCRIPT, source_id__in=recording_ids)
            | Q(kind=SourceKind.CLINICAL_NOTE, source_id__in=clinical_note_ids),
            **scope,
        ),
    )
    delete("tera_insights", Insight.objects.filter(patient=patient, **scope))

    delete("clinical_note_proposals", NoteProposal.objects.filter(note_id__in=clinical_note_ids))
    delete(
        "clinical_note_versions", ClinicalNoteVersion.objects.filter(note_id__in=clinical_note_ids)
    )
    delete("clinical_notes", ClinicalNote.objects.filter(pk__in=clinical_note_ids))

    counts["live_texts"] = LiveText.objects.filter(recording_id__in=recording_ids).count()
    heard = transcripts_delete(
        list(Recording.objects.filter(pk__in=recording_ids).select_for_update())
    )
    counts["audio_chunks"] = heard["audio_chunks"]
    counts["transcript_segment_revisions"] = heard["revisions"]
    counts["transcript_segments"] = heard["segments"]
    counts["speakers"] = heard["speakers"]
    counts["tera_chunks"] += heard["index_chunks"]  # none: they went with the rest above
    delete("recordings", Recording.objects.filter(pk__in=recording_ids))

    delete("session_note_amendments", SessionAmendment.objects.filter(note__in=notes))
    delete("session_note_revisions", SessionNoteRevision.objects.filter(note__in=notes))
    counts["session_notes_emptied"] = notes.update(
        text="", custom_values={}, updated_at=timezone.now()
    )

    appointments = Appointment.objects.filter(patient=patient, **scope)
    delete("appointments", appointments.filter(session__isnull=True))
    appointments.update(front_desk_note="", room="", meeting_url="", cancel_reason="")

    now = timezone.now()
    anonymised: PatientFields = {
        "full_name": _("Erased patient %(number)s") % {"number": patient.pk},
        "preferred_name": "",
        "pronouns": "",
        "birth_date": None,
        "email": "",
        "email_reminders": False,
        "phone": "",
        "address": "",
        "emergency_contact_name": "",
        "emergency_contact_phone": "",
        "tags": [],
        "admin_notes": "",
    }
    for name, value in anonymised.items():
        setattr(patient, name, value)
    patient.erased_at, patient.erased_by = now, actor
    if patient.archived_at is None:
        patient.archived_at, patient.archived_by = now, actor
    patient.save(
        update_fields=[
            *anonymised,
            "erased_at",
            "erased_by",
            "archived_at",
            "archived_by",
            "updated_at",
        ]
    )
    patient.__dict__.pop("therapists", None)

    audit_record(
        practice=practice,
        actor=actor,
        action="patient.erase",
        target=patient,
        patient_id=patient.pk,
        data={
            "deleted": counts,
            "sessions_kept": len(sessions),
            "override": blocked_until is not None,
        },
    )
    return counts
