"""Reads about one patient that span apps: everything the practice holds about them, for
the patient's right of access (LGPD art. 18, HIPAA's right of access).

The record is plain data (dicts, lists, dates, Decimals), so the same structure is written
as JSON and drawn as a PDF. Clinical rows are read through the note barrier of the member
who asks; the views let only Owners ask, and Owners read the whole practice's notes."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from patients.models import ConsentEvent, Patient
from payments.models import Payment, PaymentMethod, PaymentStatus
from practice.models import Membership, User
from sessions.models import (
    Appointment,
    AppointmentStatus,
    ClinicalNote,
    Recording,
    RecordingStatus,
    Session,
    SessionNote,
)
from tera.models import Insight, InsightKind
from therapies.formbuilder import describe_values

EXPORT_FORMAT = "holos.patient-record"
EXPORT_VERSION = 1


def _person(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": user.display_name, "email": user.email}


def _profile(patient: Patient) -> dict[str, Any]:
    return {
        "id": patient.pk,
        "full_name": patient.full_name,
        "preferred_name": patient.preferred_name,
        "pronouns": patient.pronouns,
        "birth_date": patient.birth_date,
        "email": patient.email,
        "phone": patient.phone,
        "email_reminders": patient.email_reminders,
        "address": patient.address,
        "emergency_contact_name": patient.emergency_contact_name,
        "emergency_contact_phone": patient.emergency_contact_phone,
        "tags": list(patient.tags),
        "admin_notes": patient.admin_notes,
        "created_at": patient.created_at,
        "archived_at": patient.archived_at,
        "erased_at": patient.erased_at,
    }


def _consent(patient: Patient) -> dict[str, Any]:
    events = ConsentEvent.objects.of_patient(patient).select_related("recorded_by")
    return {
        "audio_recording": {
            "given_at": patient.audio_consent_at,
            "recorded_by": _person(patient.audio_consent_by),
        },
        "history": [
            {
                "consent": event.consent,
                "given": event.given,
                "at": event.at,
                "recorded_by": _person(event.recorded_by),
            }
            for event in events
        ],
    }


def _appointments(patient: Patient) -> list[dict[str, Any]]:
    appointments = (
        Appointment.objects.for_practice(patient.practice)
        .filter(patient=patient)
        .select_related("therapist", "therapy_type")
        .order_by("starts_at", "pk")
    )
    return [
        {
            "id": appointment.pk,
            "starts_at": appointment.starts_at,
            "ends_at": appointment.ends_at,
            "status": appointment.status,
            "therapist": _person(appointment.therapist),
            "therapy": appointment.therapy_type.name if appointment.therapy_type else None,
            "room": appointment.room,
            "meeting_url": appointment.meeting_url,
            "front_desk_note": appointment.front_desk_note,
            "cancel_reason": appointment.cancel_reason,
            "cancelled_at": appointment.cancelled_at,
        }
        for appointment in appointments
    ]


def _note(note: SessionNote | None, session: Session) -> dict[str, Any] | None:
    if note is None:
        return None
    therapy = session.therapy_type
    return {
        "text": note.text,
        "custom_values": note.custom_values,
        "custom_fields": [
            {"key": value.key, "label": value.label, "text": value.text}
            for value in describe_values(
                therapy.custom_fields, therapy.removed_fields, note.custom_values
            )
        ],
        "signed_at": note.signed_at,
        "signed_by": _person(note.signed_by),
        "amendments": [
            {"id": a.pk, "at": a.at, "author": _person(a.author), "text": a.text}
            for a in note.amendments.all()
        ],
        "revisions": [
            {"id": r.pk, "at": r.at, "author": _person(r.author), "changes": r.changes}
            for r in note.revisions.all()
        ],
    }


def _sessions(membership: Membership, patient: Patient) -> list[dict[str, Any]]:
    sessions = (
        Session.objects.for_practice(patient.practice)
        .filter(patient=patient)
        .select_related("therapist", "therapy_type")
        .order_by("starts_at", "pk")
    )
    notes = {
        note.session_id: note
        for note in SessionNote.objects.visible_to(membership)
        .filter(session__patient=patient)
        .select_related("signed_by")
        .prefetch_related("amendments__author", "revisions__author")
    }
    return [
        {
            "id": session.pk,
            "appointment_id": session.appointment_id,
            "starts_at": session.starts_at,
            "minutes": session.minutes,
            "therapist": _person(session.therapist),
            "therapy": session.therapy_type.name,
            "note": _note(notes.get(session.pk), session),
        }
        for session in sessions
    ]


def _recordings(membership: Membership, patient: Patient) -> list[dict[str, Any]]:
    recordings = (
        Recording.objects.visible_to(membership)
        .filter(patient=patient)
        .order_by("created_at", "pk")
        .prefetch_related("speakers", "segments__speaker", "segments__revisions__author")
        .prefetch_related("live_texts")
    )
    return [
        {
            "id": recording.pk,
            "appointment_id": recording.appointment_id,
            "status": recording.status,
            "source": recording.source,
            "language": recording.detected_language or recording.language,
            "created_at": recording.created_at,
            "audio_seconds": recording.audio_seconds,
            "audio_deleted_at": recording.audio_deleted_at,
            "speakers": [
                {"number": s.number, "role": s.role, "name": s.name, "label": str(s)}
                for s in recording.speakers.all()
            ],
            "segments": [
                {
                    "position": segment.position,
                    "start": segment.start,
                    "end": segment.end,
                    "speaker": str(segment.speaker) if segment.speaker else None,
                    "text": segment.text,
                    "edited": segment.edited,
                    "revisions": [
                        {
                            "at": revision.at,
                            "author": _person(revision.author),
                            "text_before": revision.text_before,
                            "text_after": revision.text_after,
                            "speaker_before": revision.speaker_before,
                            "speaker_after": revision.speaker_after,
                        }
                        for revision in segment.revisions.all()
                    ],
                }
                for segment in recording.segments.all()
            ],
            # What the live pass heard while recording, before the final transcript.
            "live_text": [live.text for live in recording.live_texts.all()],
        }
        for recording in recordings
    ]


def _clinical_notes(membership: Membership, patient: Patient) -> list[dict[str, Any]]:
    notes = (
        ClinicalNote.objects.visible_to(membership)
        .filter(patient=patient)
        .select_related("therapist")
        .prefetch_related("versions__author", "proposals")
        .order_by("created_at", "pk")
    )
    return [
        {
            "id": note.pk,
            "appointment_id": note.appointment_id,
            "recording_id": note.recording_id,
            "title": note.title,
            "therapist": _person(note.therapist),
            "language": note.language,
            "status": note.status,
            "quick_notes": note.quick_notes,
            "created_at": note.created_at,
            "versions": [
                {
                    "number": version.number,
                    "kind": version.kind,
                    "instruction": version.instruction,
                    "created_at": version.created_at,
                    "author": _person(version.author),
                    "model": version.model,
                    "content": version.content,
                    "suggestions": version.suggestions,
                }
                for version in sorted(note.versions.all(), key=lambda v: v.number)
            ],
            "proposals": [
                {
                    "instruction": proposal.instruction,
                    "status": proposal.status,
                    "created_at": proposal.created_at,
                    "sections": proposal.sections,
                }
                for proposal in note.proposals.all()
            ],
        }
        for note in notes
    ]


def _payments(patient: Patient) -> list[dict[str, Any]]:
    payments = (
        Payment.objects.for_practice(patient.practice)
        .filter(session__patient=patient)
        .select_related("session")
        .order_by("session__starts_at", "pk")
    )
    return [
        {
            "id": payment.pk,
            "session_id": payment.session_id,
            "receipt_number": payment.receipt_number,
            "amount": payment.amount,
            "currency": payment.currency,
            "status": payment.status,
            "method": payment.method,
            "due_date": payment.due_date,
            "paid_on": payment.paid_on,
        }
        for payment in payments
    ]


def _insights(membership: Membership, patient: Patient) -> list[dict[str, Any]]:
    insights = Insight.objects.visible_to(membership).filter(patient=patient).order_by("pk")
    return [
        {
            "id": insight.pk,
            "kind": insight.kind,
            "appointment_id": insight.appointment_id,
            "status": insight.status,
            "prepared_at": insight.prepared_at,
            "content": insight.content,
        }
        for insight in insights
    ]


# Codes in the record, and the choices that name them in documents.
LABELLED: dict[str, dict[str, type[models.TextChoices]]] = {
    "appointments": {"status": AppointmentStatus},
    "recordings": {"status": RecordingStatus},
    "payments": {"status": PaymentStatus, "method": PaymentMethod},
    "insights": {"kind": InsightKind},
}


def with_labels(record: dict[str, Any]) -> dict[str, Any]:
    """The record with each code's name beside it (`status_label`...), for the PDF; the
    JSON keeps the codes alone."""
    shown = dict(record)
    for key, fields in LABELLED.items():
        shown[key] = [
            {
                **item,
                **{
                    f"{field}_label": dict(choices.choices).get(item[field], item[field])
                    for field, choices in fields.items()
                },
            }
            for item in record[key]
        ]
    return shown


def text_lines(value: Any, path: str = "") -> list[str]:
    """Every piece of text in a JSON value, as "path: text" lines, for documents that show
    content whose shape varies (Tera's insights)."""
    if isinstance(value, dict):
        return [
            line
            for key, item in value.items()
            for line in text_lines(item, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(value, list):
        return [line for item in value for line in text_lines(item, path)]
    if value is None or value == "":
        return []
    return [f"{path}: {value}" if path else str(value)]


def patient_record(membership: Membership, patient: Patient) -> dict[str, Any]:
    """Everything the practice holds about `patient` that `membership` may read: the
    profile and consent, who treats them, appointments, sessions with their notes
    (custom fields, amendments, earlier wordings), transcripts, AI-drafted notes with
    every version, payments and Tera's insights. Not audited here: the caller records
    the export."""
    if patient.practice_id != membership.practice_id:
        raise ValueError("The patient belongs to another practice.")
    practice = membership.practice
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": timezone.now(),
        "practice": {"id": practice.pk, "name": practice.name},
        "patient": _profile(patient),
        "consent": _consent(patient),
        "therapists": [_person(user) for user in patient.therapists],
        "appointments": _appointments(patient),
        "sessions": _sessions(membership, patient),
        "recordings": _recordings(membership, patient),
        "clinical_notes": _clinical_notes(membership, patient),
        "payments": _payments(patient),
        "insights": _insights(membership, patient),
    }
