"""Services and querysets of patients: assignment and its guardian permissions, who sees
whom, search, archive and consent. All on the real database."""

from __future__ import annotations

import importlib
from datetime import date

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from guardian.core import ObjectPermissionChecker
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm, get_objects_for_user

from patients import services
from patients.models import ConsentEvent, Patient, PatientUserObjectPermission
from practice.models import AuditEvent, Membership, User
from tests.factories import PatientFactory


def membership(user: User) -> Membership:
    return Membership.objects.select_related("practice").get(user=user)


def fresh(user: User) -> User:
    # Django and guardian cache permissions on the user object; read them anew.
    return User.objects.get(pk=user.pk)


# --- Assignment and guardian ------------------------------------------------------------


def test_assigning_grants_and_revokes_treat_patient(clinic, owner, therapist, other_therapist):
    patient = PatientFactory(practice=clinic)

    added, removed = services.patient_assign_therapists(
        practice=clinic, actor=owner, patient=patient, therapists=[therapist, other_therapist]
    )
    assert (sorted(added), removed) == (sorted([therapist.pk, other_therapist.pk]), [])
    assert fresh(therapist).has_perm("patients.treat_patient", patient)
    assert ObjectPermissionChecker(fresh(other_therapist)).has_perm("treat_patient", patient)

    added, removed = services.patient_assign_therapists(
        practice=clinic, actor=owner, patient=patient, therapists=[other_therapist]
    )
    assert (added, removed) == ([], [therapist.pk])
    assert not fresh(therapist).has_perm("patients.treat_patient", patient)
    assert fresh(other_therapist).has_perm("patients.treat_patient", patient)

    events = AuditEvent.objects.filter(action="patient.assign_therapists").order_by("created_at")
    assert [e.data for e in events] == [
        {"added": sorted([therapist.pk, other_therapist.pk]), "removed": []},
        {"added": [], "removed": [therapist.pk]},
    ]
    assert all(e.target_id == str(patient.pk) and e.actor == owner for e in events)


def test_assigning_the_same_therapists_again_changes_and_records_nothing(clinic, owner, therapist):
    patient = PatientFactory(practice=clinic, therapist=therapist)
    assert services.patient_assign_therapists(
        practice=clinic, actor=owner, patient=patient, therapists=[therapist]
    ) == ([], [])
    assert not AuditEvent.objects.filter(action="patient.assign_therapists").exists()


def test_permissions_live_in_the_direct_foreign_key_table(clinic, therapist):
    patient = PatientFactory(practice=clinic)
    assign_perm("patients.treat_patient", therapist, patient)  # as the factory and seed do

    assert PatientUserObjectPermission.objects.filter(
        content_object=patient, user=therapist
    ).exists()
    assert not UserObjectPermission.objects.exists()
    assert list(get_objects_for_user(therapist, "patients.treat_patient", klass=Patient)) == [
        patient
    ]


@pytest.mark.parametrize("persona", ["assistant", "outsider"])
def test_only_treating_members_of_the_practice_can_be_assigned(
    request, clinic, owner, therapist, persona
):
    patient = PatientFactory(practice=clinic, therapist=therapist)
    with pytest.raises(ValidationError):
        services.patient_assign_therapists(
            practice=clinic,
            actor=owner,
            patient=patient,
            therapists=[therapist, request.getfixturevalue(persona)],
        )
    assert [u.pk for u in Patient.objects.get(pk=patient.pk).therapists] == [therapist.pk]


def test_an_owner_may_treat_and_a_patient_needs_someone(clinic, owner):
    patient = PatientFactory(practice=clinic)
    services.patient_assign_therapists(
        practice=clinic, actor=owner, patient=patient, therapists=[owner]
    )
    assert fresh(owner).has_perm("patients.treat_patient", patient)
    with pytest.raises(ValidationError, match="at least one"):
        services.patient_assign_therapists(
            practice=clinic, actor=owner, patient=patient, therapists=[]
        )


def test_a_deactivated_therapist_stays_assigned_until_removed(clinic, owner, therapist):
    patient = PatientFactory(practice=clinic, therapist=therapist)
    Membership.objects.filter(user=therapist).update(is_active=False)
    services.patient_assign_therapists(
        practice=clinic, actor=owner, patient=patient, therapists=[therapist, owner]
    )
    assert {u.pk for u in Patient.objects.get(pk=patient.pk).therapists} == {
        therapist.pk,
        owner.pk,
    }


def test_services_refuse_another_practices_patient(clinic, owner, other_practice_objects):
    foreign = other_practice_objects.patient
    with pytest.raises(ValueError):
        services.patient_archive(practice=clinic, actor=owner, patient=foreign)
    with pytest.raises(ValueError):
        services.patient_assign_therapists(
            practice=clinic, actor=owner, patient=foreign, therapists=[owner]
        )


# --- Who sees whom ----------------------------------------------------------------------


def test_visible_to_follows_the_role(
    clinic, owner, therapist, other_therapist, assistant, other_practice_objects
):
    mine = PatientFactory(practice=clinic, therapist=therapist)
    theirs = PatientFactory(practice=clinic, therapist=other_therapist)
    shared = PatientFactory(practice=clinic, therapist=therapist)
    assign_perm("patients.treat_patient", other_therapist, shared)

    def visible(user: User) -> set[int]:
        return set(Patient.objects.visible_to(membership(user)).values_list("pk", flat=True))

    everyone = {mine.pk, theirs.pk, shared.pk}
    assert visible(owner) == visible(assistant) == everyone
    assert visible(therapist) == {mine.pk, shared.pk}
    assert visible(other_therapist) == {theirs.pk, shared.pk}
    assert other_practice_objects.patient.pk not in visible(owner)


def test_an_inactive_membership_sees_nothing(clinic, therapist):
    PatientFactory(practice=clinic, therapist=therapist)
    m = membership(therapist)
    m.is_active = False
    assert not Patient.objects.visible_to(m).exists()


# --- Search -----------------------------------------------------------------------------


@pytest.fixture
def named(clinic):
    return {
        "joao": PatientFactory(practice=clinic, full_name="João da Silva", phone=""),
        "JOAO": PatientFactory(practice=clinic, full_name="JOAO PEREIRA", phone=""),
        "ines": PatientFactory(
            practice=clinic, full_name="Maria Inês Conceição", preferred_name="Nena"
        ),
        "phone": PatientFactory(
            practice=clinic, full_name="Pedro Alves", phone="+55 11 98765-4321"
        ),
    }


def found(clinic, query: str, named) -> set[str]:
    pks = set(Patient.objects.for_practice(clinic).search(query).values_list("pk", flat=True))
    return {key for key, patient in named.items() if patient.pk in pks}


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("Joao", {"joao", "JOAO"}),
        ("joão", {"joao", "JOAO"}),
        ("JOÃO silva", {"joao"}),
        ("conceicao", {"ines"}),
        ("INES", {"ines"}),
        ("nena", {"ines"}),
        ("98765-4321", {"phone"}),
        ("(11) 98765", {"phone"}),
        ("5511987654321", {"phone"}),
        ("pedro", {"phone"}),
        ("nobody", set()),
    ],
)
def test_search_ignores_accents_and_case_and_finds_phone_digits(clinic, named, query, keys):
    assert found(clinic, query, named) == keys


def test_search_finds_email(clinic):
    patient = PatientFactory(practice=clinic, email="lua.nova@example.com")
    assert list(Patient.objects.for_practice(clinic).search("LUA.NOVA")) == [patient]


def test_names_sort_ignoring_accents(clinic):
    for name in ("Zeca", "Álvaro", "Bruna", "alice"):
        PatientFactory(practice=clinic, full_name=name)
    names = list(Patient.objects.for_practice(clinic).by_name().values_list("full_name", flat=True))
    assert names == ["alice", "Álvaro", "Bruna", "Zeca"]


def test_tag_names_lists_each_tag_once(clinic):
    PatientFactory(practice=clinic, tags=["Reiki", "Manhãs"])
    PatientFactory(practice=clinic, tags=["Reiki"])
    PatientFactory(practice=clinic, tags=[])
    assert Patient.objects.for_practice(clinic).tag_names() == ["Manhãs", "Reiki"]


# --- Create, update, archive, consent --------------------------------------------------


def test_create_and_update_audit_field_names_never_values(clinic, assistant, therapist):
    patient = services.patient_create(
        practice=clinic,
        actor=assistant,
        fields={"full_name": "Clara Luz", "phone": "+55 11 98765-4321", "preferred_name": ""},
        therapists=[therapist],
    )
    changed = services.patient_update(
        practice=clinic,
        actor=assistant,
        patient=patient,
        fields={"full_name": "Clara Luz", "phone": "+55 11 91234-5678", "birth_date": None},
    )
    assert changed == ["phone"]

    create = AuditEvent.objects.get(action="patient.create")
    update = AuditEvent.objects.get(action="patient.update")
    assert create.data == {"fields": ["full_name", "phone"]}
    assert update.data == {"fields": ["phone"]}
    for event in AuditEvent.objects.all():
        assert "Clara" not in str(event.data) and "9876" not in str(event.data)


def test_archive_and_restore(clinic, owner):
    patient = PatientFactory(practice=clinic)
    services.patient_archive(practice=clinic, actor=owner, patient=patient)
    patient.refresh_from_db()
    assert patient.is_archived and patient.archived_by == owner
    assert list(Patient.objects.for_practice(clinic).active()) == []
    assert list(Patient.objects.for_practice(clinic).archived()) == [patient]

    services.patient_restore(practice=clinic, actor=owner, patient=patient)
    patient.refresh_from_db()
    assert (patient.archived_at, patient.archived_by) == (None, None)
    assert [e.action for e in AuditEvent.objects.order_by("created_at")] == [
        "patient.archive",
        "patient.restore",
    ]


def test_consent_is_given_withdrawn_and_given_again_with_history(clinic, owner, assistant):
    patient = PatientFactory(practice=clinic)
    assert not patient.has_audio_consent

    services.patient_consent_set(practice=clinic, actor=owner, patient=patient, given=True)
    patient.refresh_from_db()
    assert patient.has_audio_consent and patient.audio_consent_by == owner

    services.patient_consent_set(practice=clinic, actor=assistant, patient=patient, given=False)
    patient.refresh_from_db()
    assert not patient.has_audio_consent and patient.audio_consent_by is None

    services.patient_consent_set(practice=clinic, actor=assistant, patient=patient, given=True)
    history = list(ConsentEvent.objects.of_patient(patient))
    assert [(e.given, e.recorded_by) for e in history] == [
        (True, assistant),
        (False, assistant),
        (True, owner),
    ]
    assert all(e.practice_id == clinic.pk for e in history)


def test_repeating_the_current_consent_adds_nothing(clinic, owner):
    patient = PatientFactory(practice=clinic)
    assert (
        services.patient_consent_set(practice=clinic, actor=owner, patient=patient, given=False)
        is None
    )
    services.patient_consent_set(practice=clinic, actor=owner, patient=patient, given=True)
    assert (
        services.patient_consent_set(practice=clinic, actor=owner, patient=patient, given=True)
        is None
    )
    assert ConsentEvent.objects.count() == 1


def test_age_counts_birthdays():
    patient = Patient(birth_date=date(1990, 6, 15))
    assert patient.age_on(date(2026, 6, 14)) == 35
    assert patient.age_on(date(2026, 6, 15)) == 36
    assert Patient().age_on(date(2026, 1, 1)) is None


# --- The migration that moves earlier assignments --------------------------------------


def test_migration_moves_generic_assignments_to_the_direct_table(clinic, therapist):
    patient = PatientFactory(practice=clinic)
    UserObjectPermission.objects.create(
        user=therapist,
        permission=Permission.objects.get(codename="treat_patient"),
        content_type=ContentType.objects.get_for_model(Patient),
        object_pk=str(patient.pk),
    )
    migration = importlib.import_module(
        "patients.migrations.0003_move_patient_permissions_to_direct_table"
    )
    migration.to_direct(apps, None)

    assert not UserObjectPermission.objects.exists()
    assert fresh(therapist).has_perm("patients.treat_patient", patient)
