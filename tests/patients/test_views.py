"""Patient pages: adding, editing, the profile and its tabs, archive, restore, consent;
for every role, and for people who must get 404."""

from __future__ import annotations

import zoneinfo
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from patients import services
from patients.models import ConsentEvent, Patient
from practice.models import AuditEvent, Plan, User
from tests.factories import PatientFactory, practice_today

ROUTES = ["detail", "sessions", "payments", "edit", "archive", "restore", "consent"]
HTMX = {"HX-Request": "true"}


def url(name: str, patient: Patient) -> str:
    return reverse(f"patients:{name}", kwargs={"pk": patient.pk})


def state(patient: Patient) -> tuple:
    patient = Patient.objects.get(pk=patient.pk)
    return (
        patient.full_name,
        patient.phone,
        patient.archived_at,
        patient.audio_consent_at,
        sorted(u.pk for u in patient.therapists),
    )


VALID = {
    "full_name": "  Clara   Luz ",
    "preferred_name": "Clarinha",
    "pronouns": "ela/dela",
    "birth_date": "1988-04-23",
    "email": "Clara.Luz@Example.com",
    "phone": "(11) 98765-4321",
    "emergency_contact_name": "Rui Luz",
    "emergency_contact_phone": "11 3456-7890",
    "address": "Rua das Flores, 12\nSão Paulo",
    "tags": "Reiki, reiki , Manhãs",
    "admin_notes": "Prefers mornings.",
}


# --- Nobody outside reaches a patient ---------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_outsider_gets_404_on_every_patient_url(client_for, outsider, clinic, therapist, route):
    patient = PatientFactory(practice=clinic, therapist=therapist)
    before = state(patient)
    client = client_for(outsider)
    for headers in ({}, HTMX):
        assert client.get(url(route, patient), headers=headers).status_code == 404
        response = client.post(url(route, patient), {**VALID, "given": "yes"}, headers=headers)
        assert response.status_code == 404
    assert state(patient) == before


@pytest.mark.parametrize("route", ROUTES)
def test_therapist_gets_404_for_another_therapists_patient(
    client_for, clinic, therapist, other_therapist, route
):
    patient = PatientFactory(practice=clinic, therapist=other_therapist)
    before = state(patient)
    client = client_for(therapist)
    for headers in ({}, HTMX):
        assert client.get(url(route, patient), headers=headers).status_code == 404
        response = client.post(url(route, patient), {**VALID, "given": "yes"}, headers=headers)
        assert response.status_code == 404
    assert state(patient) == before


def test_another_therapists_patient_looks_exactly_like_a_missing_one(
    client_for, clinic, therapist, other_therapist
):
    patient = PatientFactory(practice=clinic, therapist=other_therapist)
    client = client_for(therapist)
    theirs = client.get(url("detail", patient))
    missing = client.get(reverse("patients:detail", kwargs={"pk": 987654321}))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.templates[0].name == missing.templates[0].name


def test_signed_out_visitors_are_sent_to_sign_in(client, clinic):
    patient = PatientFactory(practice=clinic)
    response = client.get(url("detail", patient))
    assert response.status_code == 302 and "/accounts/login/" in response.url


# --- The profile and its tabs -----------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner", "assistant", "therapist"])
def test_profile_shows_contact_admin_data_therapists_and_consent(
    client_for, request, persona, clinic, owner, therapist
):
    patient = PatientFactory(
        practice=clinic,
        therapist=therapist,
        full_name="Clara Luz",
        preferred_name="Clarinha",
        phone="+55 11 98765-4321",
        tags=["Reiki"],
        admin_notes="Prefers mornings.",
        birth_date=date(1988, 4, 23),
    )
    services.patient_consent_set(practice=clinic, actor=owner, patient=patient, given=True)

    response = client_for(request.getfixturevalue(persona)).get(url("detail", patient))

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Clara Luz", "Clarinha", "+55 11 98765-4321", "Reiki", "Prefers mornings."):
        assert text in html
    assert therapist.display_name in html
    assert "Consent given" in html and owner.display_name in html
    assert 'role="tablist"' in html
    assert 'id="tab-overview"' in html and 'aria-selected="true"' in html


@pytest.mark.parametrize(
    ("route", "text"), [("sessions", "No sessions yet"), ("payments", "No payments yet")]
)
def test_each_tab_has_its_own_address_and_a_full_page_without_htmx(
    client_for, owner, clinic, route, text
):
    patient = PatientFactory(practice=clinic)
    html = client_for(owner).get(url(route, patient)).content.decode()
    assert "<html" in html and text in html
    tab = html.split(f'id="tab-{route}"')[1].split(">")[0]
    assert f'href="{url(route, patient)}"' in tab and 'aria-selected="true"' in tab
    assert html.count('aria-selected="true"') == 1


def test_tab_over_htmx_returns_the_panel_and_the_tab_list_out_of_band(client_for, owner, clinic):
    patient = PatientFactory(practice=clinic)
    response = client_for(owner).get(url("payments", patient), headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith(
        '<section class="tab-panel" role="tabpanel" id="patient-tab-panel"'
    )
    assert "<html" not in html and "No payments yet" in html
    assert 'hx-swap-oob="true"' in html
    selected = html.split('id="tab-payments"')[1].split(">")[0]
    assert 'aria-selected="true"' in selected
    assert "HX-Request" in response["Vary"]


def test_profile_query_count(
    client_for, owner, clinic, therapist, other_therapist, django_assert_max_num_queries
):
    patient = PatientFactory(practice=clinic, therapist=therapist)
    services.patient_assign_therapists(
        practice=clinic, actor=owner, patient=patient, therapists=[therapist, other_therapist]
    )
    for given in (True, False, True):
        services.patient_consent_set(practice=clinic, actor=owner, patient=patient, given=given)
    client = client_for(owner)
    client.get(url("detail", patient))
    # session, user, memberships; patient, therapists, consent history
    with django_assert_max_num_queries(6):
        client.get(url("detail", patient))
    # On Pro, the briefing of the next appointment: the appointment, the barrier, the
    # briefing.
    clinic.plan = Plan.PRO
    clinic.save(update_fields=["plan"])
    with django_assert_max_num_queries(9):
        client.get(url("detail", patient))


# --- Adding -----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner", "assistant"])
def test_owner_and_assistant_add_a_patient_and_choose_therapists(
    client_for, request, persona, clinic, owner, therapist, other_therapist
):
    actor = request.getfixturevalue(persona)
    client = client_for(actor)
    form = client.get(reverse("patients:create")).content.decode()
    assert 'name="therapists"' in form
    assert other_therapist.display_name in form and owner.display_name in form

    response = client.post(
        reverse("patients:create"), {**VALID, "therapists": [therapist.pk, other_therapist.pk]}
    )

    patient = Patient.objects.get(practice=clinic)
    assert response.status_code == 302 and response.url == url("detail", patient)
    assert patient.full_name == "Clara Luz"
    assert patient.email == "clara.luz@example.com"
    assert patient.phone == "+55 11 98765-4321"
    assert patient.emergency_contact_phone == "+55 11 3456-7890"
    assert patient.tags == ["Reiki", "Manhãs"]
    assert patient.birth_date == date(1988, 4, 23)
    assert {u.pk for u in patient.therapists} == {therapist.pk, other_therapist.pk}
    assert User.objects.get(pk=therapist.pk).has_perm("patients.treat_patient", patient)
    assert AuditEvent.objects.filter(action="patient.create", actor=actor).exists()


def test_assistant_is_not_offered_as_a_therapist(client_for, assistant, clinic, therapist):
    html = client_for(assistant).get(reverse("patients:create")).content.decode()
    assert f'name="therapists" value="{therapist.pk}"' in html
    assert f'name="therapists" value="{assistant.pk}"' not in html
    response = client_for(assistant).post(
        reverse("patients:create"), {**VALID, "therapists": [assistant.pk]}
    )
    assert response.status_code == 422
    assert not Patient.objects.exists()


def test_a_therapist_must_be_chosen(client_for, assistant, clinic, therapist):
    response = client_for(assistant).post(reverse("patients:create"), VALID)
    assert response.status_code == 422
    assert "Choose at least one therapist." in response.content.decode()
    assert not Patient.objects.exists()


def test_therapists_new_patient_is_assigned_to_them(client_for, therapist, other_therapist, clinic):
    client = client_for(therapist)
    assert 'name="therapists"' not in client.get(reverse("patients:create")).content.decode()

    # A therapist field smuggled into the post is ignored.
    client.post(reverse("patients:create"), {**VALID, "therapists": [other_therapist.pk]})

    patient = Patient.objects.get()
    assert [u.pk for u in patient.therapists] == [therapist.pk]
    assert client.get(url("detail", patient)).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("birth_date", "the day after tomorrow", "can’t be in the future"),
        ("birth_date", "1850-01-01", "more than 130 years ago"),
        ("birth_date", "23/04/1988x", "Enter a valid date of birth"),
        ("phone", "12345", "Enter a valid phone number, for example +55"),
        ("emergency_contact_phone", "call me", "Enter a valid phone number"),
        ("email", "clara@", "Enter a valid email address"),
        ("full_name", "   ", "Enter the patient’s full name."),
        ("tags", ",".join(f"t{n}" for n in range(13)), "at most 12 tags"),
    ],
)
def test_bad_input_shows_a_clear_message_and_changes_nothing(
    client_for, assistant, clinic, therapist, field, value, message
):
    if value == "the day after tomorrow":
        value = (practice_today() + timedelta(days=2)).isoformat()
    patient = PatientFactory(practice=clinic, therapist=therapist, full_name="Ana Antes")
    before = state(patient)
    client = client_for(assistant)

    created = client.post(
        reverse("patients:create"), {**VALID, field: value, "therapists": [therapist.pk]}
    )
    edited = client.post(
        url("edit", patient), {**VALID, field: value, "therapists": [therapist.pk]}
    )

    for response in (created, edited):
        html = response.content.decode()
        assert response.status_code == 422
        assert message in html
        assert f'id="id_{field}_error"' in html
        assert 'aria-invalid="true"' in html
    assert Patient.objects.count() == 1
    assert state(patient) == before
    assert not AuditEvent.objects.filter(action__startswith="patient.").exists()


def test_two_patients_may_share_a_name_and_have_no_email(client_for, owner, clinic):
    client = client_for(owner)
    data = {"full_name": "Maria Silva", "therapists": [owner.pk]}
    for _ in range(2):
        assert client.post(reverse("patients:create"), data).status_code == 302
    assert Patient.objects.filter(full_name="Maria Silva", email="").count() == 2


def test_phone_region_follows_the_practice_time_zone(client_for, owner, clinic):
    clinic.time_zone = "Europe/Lisbon"
    clinic.save()
    client_for(owner).post(
        reverse("patients:create"),
        {"full_name": "Inês", "phone": "912 345 678", "therapists": [owner.pk]},
    )
    assert Patient.objects.get().phone == "+351 912 345 678"


# --- Editing ----------------------------------------------------------------------------


def test_assistant_edits_any_patient_and_reassigns_therapists(
    client_for, assistant, clinic, therapist, other_therapist
):
    patient = PatientFactory(practice=clinic, therapist=therapist)
    client = client_for(assistant)
    form = client.get(url("edit", patient)).content.decode()
    assert f'value="{therapist.pk}"' in form and "checked" in form

    response = client.post(url("edit", patient), {**VALID, "therapists": [other_therapist.pk]})

    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.full_name == "Clara Luz"
    assert [u.pk for u in Patient.objects.get(pk=patient.pk).therapists] == [other_therapist.pk]
    assert not User.objects.get(pk=therapist.pk).has_perm("patients.treat_patient", patient)
    update = AuditEvent.objects.get(action="patient.update")
    assert "full_name" in update.data["fields"] and "Clara" not in str(update.data)


def test_therapist_edits_their_patient_but_cannot_reassign(
    client_for, therapist, other_therapist, clinic
):
    patient = PatientFactory(practice=clinic, therapist=therapist)
    client = client_for(therapist)
    assert 'name="therapists"' not in client.get(url("edit", patient)).content.decode()

    response = client.post(url("edit", patient), {**VALID, "therapists": [other_therapist.pk]})

    assert response.status_code == 302
    patient = Patient.objects.get(pk=patient.pk)
    assert patient.full_name == "Clara Luz"
    assert [u.pk for u in patient.therapists] == [therapist.pk]
    assert not AuditEvent.objects.filter(action="patient.assign_therapists").exists()


def test_saving_unchanged_data_records_nothing(client_for, owner, clinic):
    client = client_for(owner)
    client.post(reverse("patients:create"), {**VALID, "therapists": [owner.pk]})
    patient = Patient.objects.get()
    before = AuditEvent.objects.count()  # audit rows cannot be deleted, only counted

    response = client.post(url("edit", patient), {**VALID, "therapists": [owner.pk]}, follow=True)

    assert "Nothing was changed." in response.content.decode()
    assert AuditEvent.objects.count() == before


# --- Archive and restore ----------------------------------------------------------------


def test_archive_asks_first_then_archives_and_restore_brings_back(client_for, owner, clinic):
    patient = PatientFactory(practice=clinic, full_name="Clara Luz")
    client = client_for(owner)

    confirm = client.get(url("archive", patient))
    assert confirm.status_code == 200 and b'method="post"' in confirm.content
    assert not Patient.objects.get(pk=patient.pk).is_archived

    response = client.post(url("archive", patient))
    assert response.status_code == 302 and response.url == reverse("patients:index")
    assert Patient.objects.get(pk=patient.pk).is_archived
    assert url("detail", patient) not in client.get(reverse("patients:index")).content.decode()
    profile = client.get(url("detail", patient)).content.decode()
    assert "Archived on" in profile and url("restore", patient) in profile

    assert client.get(url("restore", patient)).status_code == 405
    client.post(url("restore", patient))
    assert not Patient.objects.get(pk=patient.pk).is_archived
    assert url("detail", patient) in client.get(reverse("patients:index")).content.decode()


def test_there_is_no_way_to_delete_a_patient(client_for, owner, clinic):
    patient = PatientFactory(practice=clinic)
    client = client_for(owner)
    client.post(url("archive", patient))
    assert Patient.objects.filter(pk=patient.pk).exists()


# --- Consent ----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner", "assistant", "therapist"])
def test_consent_given_and_withdrawn_keeps_its_history(
    client_for, request, persona, clinic, therapist
):
    patient = PatientFactory(practice=clinic, therapist=therapist)
    actor = request.getfixturevalue(persona)
    client = client_for(actor)

    client.post(url("consent", patient), {"given": "yes"})
    assert Patient.objects.get(pk=patient.pk).has_audio_consent
    client.post(url("consent", patient), {"given": "no"})
    patient = Patient.objects.get(pk=patient.pk)
    assert not patient.has_audio_consent

    events = list(ConsentEvent.objects.of_patient(patient))
    assert [(e.given, e.recorded_by_id) for e in events] == [(False, actor.pk), (True, actor.pk)]
    html = client.get(url("detail", patient)).content.decode()
    assert "Consent withdrawn" in html and "Consent given" in html


def test_consent_over_htmx_returns_the_consent_card(client_for, owner, clinic):
    patient = PatientFactory(practice=clinic)
    response = client_for(owner).post(url("consent", patient), {"given": "yes"}, headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="patient-consent">')
    assert "<html" not in html
    assert "Consent to audio recording saved." in html
    assert 'name="given" value="no"' in html


def test_consent_needs_a_clear_answer(client_for, owner, clinic):
    patient = PatientFactory(practice=clinic)
    assert client_for(owner).post(url("consent", patient), {"given": "maybe"}).status_code == 400
    assert client_for(owner).get(url("consent", patient)).status_code == 405
    assert not ConsentEvent.objects.exists()


def test_dates_are_shown_in_the_practice_time_zone(client_for, owner, clinic):
    clinic.time_zone = "Pacific/Kiritimati"  # UTC+14: a different day from UTC most hours
    clinic.save()
    patient = PatientFactory(practice=clinic)
    services.patient_consent_set(practice=clinic, actor=owner, patient=patient, given=True)
    event = ConsentEvent.objects.get()
    local = timezone.localtime(event.at, timezone=zoneinfo.ZoneInfo(clinic.time_zone))
    html = client_for(owner).get(url("detail", patient)).content.decode()
    assert f'datetime="{local.isoformat()}"' in html
