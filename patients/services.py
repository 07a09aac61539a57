"""Writes to patients. Each runs in one transaction and writes its audit row there, with
ids and field names only: never the values, which are personal data."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TypedDict

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from patients.models import Consent, ConsentEvent, Patient, PatientUserObjectPermission
from patients.querysets import TREAT_PATIENT
from practice.models import Membership, Practice, User
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
