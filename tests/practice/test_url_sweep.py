"""Walk every URL pattern of the project.

Every pattern with a parameter must have a sample value here (or a written reason why it
is not a practice's object), so no new route can skip the tenancy check. A member of
practice A then asks for each of practice B's objects, by GET and POST, with and without
the HX-Request header, and must get 404 — the same answer as for a missing id — with
nothing changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from patients.models import Patient, PatientUserObjectPermission
from payments.models import Payment
from practice.models import Invitation, Membership, Role
from sessions.models import (
    Appointment,
    AudioChunk,
    ClinicalNote,
    ClinicalNoteVersion,
    NoteProposal,
    NoteTemplate,
    Recording,
    Session,
    SessionAmendment,
    SessionNote,
    Speaker,
    TranscriptSegment,
)
from tests.conftest import PracticeObjects, login
from tests.factories import MembershipFactory, UserFactory
from therapies.models import TherapyType

Sample = Callable[[PracticeObjects], dict[str, Any]]

SAMPLES: dict[str, Sample] = {
    "accounts:invitation": lambda o: {"token": o.invitation.token},
    "practice:switch": lambda o: {"pk": o.practice.pk},
    "practice:member_role": lambda o: {"pk": o.membership.pk},
    "practice:member_active": lambda o: {"pk": o.membership.pk},
    "practice:invitation_revoke": lambda o: {"pk": o.invitation.pk},
    "patients:detail": lambda o: {"pk": o.patient.pk},
    "patients:sessions": lambda o: {"pk": o.patient.pk},
    "patients:payments": lambda o: {"pk": o.patient.pk},
    "patients:insights": lambda o: {"pk": o.patient.pk},
    "tera:summary": lambda o: {"pk": o.patient.pk},
    "tera:briefing": lambda o: {"pk": o.appointment.pk},
    "patients:edit": lambda o: {"pk": o.patient.pk},
    "patients:archive": lambda o: {"pk": o.patient.pk},
    "patients:restore": lambda o: {"pk": o.patient.pk},
    "patients:consent": lambda o: {"pk": o.patient.pk},
    "patients:export_json": lambda o: {"pk": o.patient.pk},
    "patients:export_pdf": lambda o: {"pk": o.patient.pk},
    "patients:erase": lambda o: {"pk": o.patient.pk},
    "sessions:appointment_edit": lambda o: {"pk": o.appointment.pk},
    "sessions:appointment_cancel": lambda o: {"pk": o.appointment.pk},
    "sessions:appointment_status": lambda o: {"pk": o.appointment.pk},
    "sessions:appointment_move": lambda o: {"pk": o.appointment.pk},
    "sessions:record": lambda o: {"pk": o.appointment.pk},
    "sessions:detail": lambda o: {"pk": o.session.pk},
    "sessions:edit": lambda o: {"pk": o.session.pk},
    "sessions:sign": lambda o: {"pk": o.session.pk},
    "sessions:amend": lambda o: {"pk": o.session.pk},
    "sessions:export": lambda o: {"pk": o.session.pk},
    "sessions:recordings": lambda o: {"pk": o.appointment.pk},
    "sessions:recording_start": lambda o: {"pk": o.appointment.pk},
    "sessions:recording_upload": lambda o: {"pk": o.appointment.pk},
    "sessions:recording": lambda o: {"pk": o.recording.pk},
    "sessions:recording_chunk": lambda o: {"pk": o.recording.pk, "seq": 0},
    "sessions:recording_stop": lambda o: {"pk": o.recording.pk},
    "sessions:recording_cancel": lambda o: {"pk": o.recording.pk},
    "sessions:recording_retry": lambda o: {"pk": o.recording.pk},
    "sessions:recording_speakers": lambda o: {"pk": o.recording.pk},
    "sessions:segment_edit": lambda o: {"pk": o.recording.pk, "segment": o.segment.pk},
    "sessions:notes": lambda o: {"pk": o.appointment.pk},
    "sessions:note": lambda o: {"pk": o.clinical_note.pk},
    "sessions:note_regenerate": lambda o: {"pk": o.clinical_note.pk},
    "sessions:note_assist": lambda o: {"pk": o.clinical_note.pk},
    "sessions:note_proposal": lambda o: {"pk": o.clinical_note.pk, "proposal": o.proposal.pk},
    "sessions:note_section": lambda o: {"pk": o.clinical_note.pk, "key": "subjective"},
    "sessions:note_suggestion": lambda o: {"pk": o.clinical_note.pk, "key": "chakras"},
    "sessions:note_export_pdf": lambda o: {"pk": o.clinical_note.pk},
    "sessions:note_export_docx": lambda o: {"pk": o.clinical_note.pk},
    "sessions:note_export_text": lambda o: {"pk": o.clinical_note.pk},
    "sessions:note_template_edit": lambda o: {"pk": o.note_template.pk},
    "sessions:note_template_archive": lambda o: {"pk": o.note_template.pk},
    "payments:detail": lambda o: {"pk": o.payment.pk},
    "payments:mark_paid": lambda o: {"pk": o.payment.pk},
    "payments:receipt": lambda o: {"pk": o.payment.pk},
    "therapies:edit": lambda o: {"pk": o.therapy_type.pk},
    "therapies:field_add": lambda o: {"pk": o.therapy_type.pk},
    "therapies:field_preview": lambda o: {"pk": o.therapy_type.pk},
    "therapies:fields_reorder": lambda o: {"pk": o.therapy_type.pk},
    "therapies:field_edit": lambda o: {"pk": o.therapy_type.pk, "key": "chakras"},
    "therapies:field_move": lambda o: {"pk": o.therapy_type.pk, "key": "chakras"},
    "therapies:field_remove": lambda o: {"pk": o.therapy_type.pk, "key": "chakras"},
}

# Patterns with parameters that name no practice's object, and why.
NOT_PRACTICE_OBJECTS = {
    "accounts:password_reset_confirm": "a per-user bearer token from an e-mail, checked by "
    "Django's token generator (tests/practice/test_accounts.py)",
    "sessions:calendar_feed_ics": "a bearer token for phone calendars "
    "(tests/sessions/test_feed.py)",
}
# Namespaces outside the sweep, and why.
EXCLUDED_NAMESPACES = {
    "admin": "staff-only Django admin; tests/practice/test_admin.py checks members are refused",
}


def walk(
    patterns: list[URLPattern | URLResolver] | None = None, namespace: str = "", params=()
) -> Iterator[tuple[str, tuple[str, ...]]]:
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        converters = tuple(pattern.pattern.converters) or tuple(pattern.pattern.regex.groupindex)
        if isinstance(pattern, URLResolver):
            if pattern.namespace in EXCLUDED_NAMESPACES:
                continue
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk(pattern.url_patterns, ns, params + converters)
        else:
            assert pattern.name, f"unnamed URL pattern {pattern.pattern} cannot be swept"
            yield f"{namespace}{pattern.name}", params + converters


def swept_routes() -> dict[str, tuple[str, ...]]:
    return dict(walk())


def test_every_route_with_a_parameter_has_a_sample_value():
    with_params = {name for name, params in swept_routes().items() if params}
    missing = with_params - SAMPLES.keys() - NOT_PRACTICE_OBJECTS.keys()
    assert not missing, f"add these routes to SAMPLES in {__file__}: {sorted(missing)}"
    stale = (SAMPLES.keys() | NOT_PRACTICE_OBJECTS.keys()) - with_params
    assert not stale, f"these samples name routes that no longer exist: {sorted(stale)}"


ROUTES_WITH_OBJECTS = sorted(SAMPLES)


def sign_in_as_member(client, practice, role: Role) -> None:
    member = UserFactory()
    MembershipFactory(practice=practice, user=member, role=role)
    login(client, member)


@pytest.mark.parametrize("role", [Role.OWNER, Role.THERAPIST, Role.ASSISTANT])
@pytest.mark.parametrize("route", ROUTES_WITH_OBJECTS)
def test_member_of_practice_a_gets_404_for_practice_b_objects(
    route, role, client, clinic, other_practice_objects: PracticeObjects
):
    sign_in_as_member(client, clinic, role)
    url = reverse(route, kwargs=SAMPLES[route](other_practice_objects))
    before = _state(other_practice_objects)

    for method in ("get", "post"):
        for htmx in (False, True):
            headers = {"HX-Request": "true"} if htmx else {}
            response = getattr(client, method)(url, {"role": Role.OWNER}, headers=headers)
            assert response.status_code == 404, (method, htmx, response.status_code)
            assert response.get("HX-Redirect") is None

    assert _state(other_practice_objects) == before
    assert client.session.get("practice_id") == clinic.pk


def _state(o: PracticeObjects) -> tuple:
    return (
        tuple(
            Membership.objects.filter(practice=o.practice).values_list("pk", "role", "is_active")
        ),
        tuple(Invitation.objects.filter(practice=o.practice).values_list("pk", "accepted_at")),
        tuple(
            TherapyType.objects.filter(practice=o.practice).values_list(
                "pk", "name", "custom_fields", "removed_fields"
            )
        ),
        tuple(
            Patient.objects.filter(practice=o.practice).values_list(
                "pk", "full_name", "phone", "archived_at", "audio_consent_at", "updated_at"
            )
        ),
        tuple(
            Appointment.objects.filter(practice=o.practice).values_list(
                "pk", "status", "starts_at", "ends_at", "therapist_id", "updated_at"
            )
        ),
        tuple(
            PatientUserObjectPermission.objects.filter(
                content_object__practice=o.practice
            ).values_list("content_object_id", "user_id")
        ),
        tuple(
            Session.objects.filter(practice=o.practice).values_list("pk", "minutes", "updated_at")
        ),
        tuple(
            SessionNote.objects.filter(practice=o.practice).values_list(
                "pk", "text", "custom_values", "signed_at", "updated_at"
            )
        ),
        SessionAmendment.objects.filter(practice=o.practice).count(),
        tuple(
            Payment.objects.filter(practice=o.practice).values_list(
                "pk", "status", "amount", "method", "paid_on", "due_date", "updated_at"
            )
        ),
        tuple(
            Recording.objects.filter(practice=o.practice).values_list(
                "pk", "status", "audio_seconds", "attempts", "audio_key"
            )
        ),
        tuple(
            TranscriptSegment.objects.filter(practice=o.practice).values_list(
                "pk", "text", "speaker_id", "edited"
            )
        ),
        tuple(Speaker.objects.filter(practice=o.practice).values_list("pk", "role", "name")),
        AudioChunk.objects.filter(practice=o.practice).count(),
        tuple(
            ClinicalNote.objects.filter(practice=o.practice).values_list(
                "pk", "status", "updated_at"
            )
        ),
        tuple(
            ClinicalNoteVersion.objects.filter(practice=o.practice).values_list(
                "pk", "content", "suggestions"
            )
        ),
        tuple(NoteProposal.objects.filter(practice=o.practice).values_list("pk", "status")),
        tuple(
            NoteTemplate.objects.filter(practice=o.practice).values_list(
                "pk", "name", "sections", "is_active", "updated_at"
            )
        ),
    )


def test_a_missing_id_answers_like_another_practices_id(client_for, owner, other_practice_objects):
    client = client_for(owner)
    foreign = client.get(
        reverse("practice:member_active", kwargs={"pk": other_practice_objects.membership.pk})
    )
    missing = client.get(reverse("practice:member_active", kwargs={"pk": 987654321}))
    assert foreign.status_code == missing.status_code == 404
    assert _without_csrf(foreign.content) == _without_csrf(missing.content)


def _without_csrf(content: bytes) -> bytes:
    # The masked CSRF token differs on every response; nothing else may.
    return re.sub(rb"[A-Za-z0-9]{64}", b"<token>", content)


@pytest.mark.parametrize("role", [Role.OWNER, Role.THERAPIST, Role.ASSISTANT])
def test_no_route_without_parameters_fails_for_any_role(role, client, clinic):
    sign_in_as_member(client, clinic, role)
    for name, params in swept_routes().items():
        if params or name == "accounts:logout":
            continue
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(reverse(name), headers=headers)
            assert response.status_code in (200, 302, 403, 404, 405), (name, response.status_code)
