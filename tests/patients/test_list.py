"""The patient list: who sees which rows, search, filters, order, pages, htmx fragment."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from patients import services
from patients.models import Patient
from tests.factories import PatientFactory

URL = reverse("patients:index")


def rows(response) -> list[str]:
    """The patient names in the list, in order."""
    html = response.content.decode()
    return re.findall(r'<td class="patient-name">\s*<a href="[^"]+">([^<]+)</a>', html)


# --- Roles ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner", "assistant"])
def test_owner_and_assistant_list_the_whole_practice(
    client_for, request, persona, clinic, therapist, other_therapist, other_practice_objects
):
    PatientFactory(practice=clinic, full_name="Ana Mine", therapist=therapist)
    PatientFactory(practice=clinic, full_name="Bia Theirs", therapist=other_therapist)

    response = client_for(request.getfixturevalue(persona)).get(URL)

    assert response.status_code == 200
    assert rows(response) == ["Ana Mine", "Bia Theirs"]
    assert other_practice_objects.patient.full_name not in response.content.decode()
    assert 'name="therapist"' in response.content.decode()


def test_therapist_lists_only_their_own_patients(client_for, clinic, therapist, other_therapist):
    PatientFactory(practice=clinic, full_name="Ana Mine", therapist=therapist)
    PatientFactory(practice=clinic, full_name="Bia Theirs", therapist=other_therapist)

    response = client_for(therapist).get(URL)

    assert rows(response) == ["Ana Mine"]
    assert "Bia Theirs" not in response.content.decode()
    # Nothing to filter by therapist when you only see your own.
    assert 'name="therapist"' not in response.content.decode()


def test_therapist_cannot_search_their_way_to_another_therapists_patient(
    client_for, clinic, therapist, other_therapist
):
    PatientFactory(practice=clinic, full_name="Bia Theirs", therapist=other_therapist)
    client = client_for(therapist)
    for params in ({"q": "Bia"}, {"therapist": other_therapist.pk}, {"status": "archived"}):
        assert rows(client.get(URL, params)) == []


def test_outsider_sees_none_of_the_practices_patients(client_for, outsider, clinic):
    PatientFactory(practice=clinic, full_name="Ana Clinic")
    response = client_for(outsider).get(URL, {"q": "Ana"})
    assert response.status_code == 200
    assert "Ana Clinic" not in response.content.decode()


# --- Search and filters -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Joao", ["João da Silva", "JOAO PEREIRA"]),
        ("joão", ["João da Silva", "JOAO PEREIRA"]),
        ("JOÃO", ["João da Silva", "JOAO PEREIRA"]),
        ("silva", ["João da Silva"]),
        ("98765 4321", ["Pedro Alves"]),
        ("(11) 98765-4321", ["Pedro Alves"]),
        ("nena", ["Maria Inês"]),
    ],
)
def test_search_by_name_preferred_name_and_phone_ignoring_accents(
    client_for, owner, clinic, query, expected
):
    PatientFactory(practice=clinic, full_name="João da Silva")
    PatientFactory(practice=clinic, full_name="JOAO PEREIRA")
    PatientFactory(practice=clinic, full_name="Maria Inês", preferred_name="Nena")
    PatientFactory(practice=clinic, full_name="Pedro Alves", phone="+55 11 98765-4321")

    assert rows(client_for(owner).get(URL, {"q": query})) == expected


def test_no_match_says_so_and_offers_to_clear_the_search(client_for, owner, clinic):
    PatientFactory(practice=clinic, full_name="Ana")
    response = client_for(owner).get(URL, {"q": "Zuleica", "sort": "newest"})
    html = response.content.decode()
    assert "No patients match “Zuleica”" in html
    assert 'href="?sort=newest"' in html  # the search is cleared, the order kept


def test_empty_practice_invites_to_add_the_first_patient(client_for, owner, clinic):
    html = client_for(owner).get(URL).content.decode()
    assert "No patients yet" in html
    assert f'href="{reverse("patients:create")}"' in html


def test_tag_filter(client_for, owner, clinic):
    PatientFactory(practice=clinic, full_name="Ana", tags=["Reiki", "Manhãs"])
    PatientFactory(practice=clinic, full_name="Bia", tags=["Access Bars"])
    client = client_for(owner)

    assert rows(client.get(URL, {"tag": "Reiki"})) == ["Ana"]
    html = client.get(URL).content.decode()
    for tag in ("Reiki", "Manhãs", "Access Bars"):
        assert f'<option value="{tag}">{tag}</option>' in html


def test_therapist_filter(client_for, assistant, clinic, therapist, other_therapist):
    PatientFactory(practice=clinic, full_name="Ana", therapist=therapist)
    PatientFactory(practice=clinic, full_name="Bia", therapist=other_therapist)
    client = client_for(assistant)

    assert rows(client.get(URL, {"therapist": therapist.pk})) == ["Ana"]
    assert rows(client.get(URL, {"therapist": other_therapist.pk})) == ["Bia"]


def test_invalid_filter_values_are_ignored_not_errors(client_for, owner, clinic):
    PatientFactory(practice=clinic, full_name="Ana", tags=["Reiki"])
    client = client_for(owner)
    params = {"therapist": "x", "status": "gone", "sort": "up", "page": "abc"}
    response = client.get(URL, params)
    assert response.status_code == 200
    assert rows(response) == ["Ana"]

    # An unknown tag (an old bookmark) simply matches no one.
    html = client.get(URL, {"tag": "Gone"}).content.decode()
    assert "No patients match these filters" in html


def test_archived_patients_are_hidden_unless_asked_for(client_for, owner, clinic):
    PatientFactory(practice=clinic, full_name="Ana Active")
    gone = PatientFactory(practice=clinic, full_name="Bia Archived")
    services.patient_archive(practice=clinic, actor=owner, patient=gone)
    client = client_for(owner)

    assert rows(client.get(URL)) == ["Ana Active"]
    assert rows(client.get(URL, {"status": "archived"})) == ["Bia Archived"]


def test_sort_by_name_or_newest(client_for, owner, clinic):
    now = timezone.now()
    for days, name in ((3, "Álvaro"), (1, "Carla"), (2, "bruno")):
        patient = PatientFactory(practice=clinic, full_name=name)
        Patient.objects.filter(pk=patient.pk).update(created_at=now - timedelta(days=days))
    client = client_for(owner)
    assert rows(client.get(URL)) == ["Álvaro", "bruno", "Carla"]
    assert rows(client.get(URL, {"sort": "newest"})) == ["Carla", "bruno", "Álvaro"]


# --- Pages ------------------------------------------------------------------------------


def test_thirty_patients_make_two_pages_and_links_keep_the_filters(client_for, owner, clinic):
    for n in range(30):
        PatientFactory(practice=clinic, full_name=f"Paciente {n:02d}", tags=["Reiki"])
    client = client_for(owner)

    first = client.get(URL, {"tag": "Reiki"})
    assert rows(first) == [f"Paciente {n:02d}" for n in range(25)]
    html = first.content.decode()
    assert 'href="?tag=Reiki&amp;page=2"' in html
    assert 'aria-current="page">1</span>' in html

    second = client.get(URL, {"tag": "Reiki", "page": 2})
    assert rows(second) == [f"Paciente {n:02d}" for n in range(25, 30)]
    assert 'href="?tag=Reiki&amp;page=1"' in second.content.decode()


# --- htmx and query counts --------------------------------------------------------------


def test_htmx_request_returns_only_the_rows_fragment(client_for, owner, clinic):
    PatientFactory(practice=clinic, full_name="João")
    response = client_for(owner).get(URL, {"q": "joao"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="patient-rows">')
    assert "<html" not in html and 'role="search"' not in html
    assert rows(response) == ["João"]
    assert "HX-Request" in response["Vary"]


def test_history_restore_gets_the_whole_page(client_for, owner, clinic):
    response = client_for(owner).get(
        URL, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.content.decode()


def _thirty_patients_with_therapists(clinic, therapist, other_therapist) -> None:
    for n in range(30):
        patient = PatientFactory(
            practice=clinic, full_name=f"Paciente {n:02d}", tags=["Reiki", f"t{n % 4}"]
        )
        services.patient_assign_therapists(
            practice=clinic,
            actor=therapist,
            patient=patient,
            therapists=[therapist, other_therapist] if n % 2 else [therapist],
        )


def test_list_query_count_does_not_grow_with_patients(
    client_for, owner, clinic, therapist, other_therapist, django_assert_max_num_queries
):
    _thirty_patients_with_therapists(clinic, therapist, other_therapist)
    client = client_for(owner)
    client.get(URL)  # the first request after sign-in also saves the session
    # session, user, memberships; therapist menu, tag menu; count, page, therapists
    with django_assert_max_num_queries(8):
        response = client.get(URL)
    assert len(rows(response)) == 25
    assert other_therapist.display_name in response.content.decode()


def test_rows_fragment_query_count(
    client_for, therapist, clinic, other_therapist, django_assert_max_num_queries
):
    _thirty_patients_with_therapists(clinic, therapist, other_therapist)
    client = client_for(therapist)
    client.get(URL)
    # session, user, memberships; count, page, therapists
    with django_assert_max_num_queries(6):
        response = client.get(URL, {"q": "paciente", "page": 2}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert len(rows(response)) == 5
